/**
 * mcpr 0.4's proxy lifecycle commands (`proxy list | stop | reload | delete`), declared so that
 * its users are told what to do instead of "unknown command". mcpr kept a lock file per proxy
 * under `~/.mcpr/proxies/<name>/` (pid, port, config snapshot) and signalled that pid; Portico
 * keeps none: its process belongs to the supervisor that started it (systemd, Docker,
 * Kubernetes, a terminal), as mcpr's own later versions left it. Each command exits 2 (a usage
 * error: Portico has no such command) with the equivalent. Options and words mcpr took are
 * accepted, so the message is the answer whatever was typed.
 */
import type { Command } from 'commander'
import { UserError } from '../errors.ts'
import { onlyOnce } from '../only-once.ts'

const NO_LOCK_FILES =
  "Portico keeps no lock files (mcpr's ~/.mcpr/proxies/): the supervisor that started it (systemd, Docker, Kubernetes, a terminal) owns the process"

// Read only through Object.entries (no lookup by a typed word), so a plain object; the CLI's
// declarations load nothing more (test/integration/cli-lazy-load.test.ts).
export const LIFECYCLE: Readonly<Record<string, { summary: string; instead: string }>> = {
  list: {
    summary: "mcpr's proxy list: says what to use instead",
    instead: `${NO_LOCK_FILES}. Ask the supervisor for running ones (systemctl status, docker ps), or a proxy itself at GET /healthz; \`portico status\` reports every proxy recorded in the store`,
  },
  stop: {
    summary: "mcpr's proxy stop: says what to use instead",
    instead: `${NO_LOCK_FILES}. Stop it there (systemctl stop, docker stop, Ctrl-C) or send SIGTERM to its pid: it stops accepting, lets calls in flight finish within drain_timeout, then exits`,
  },
  reload: {
    summary: "mcpr's proxy reload: says what to use instead",
    instead: `${NO_LOCK_FILES}. Check the new file (portico check FILE), write it over the file Portico was started with, then send SIGHUP to its pid (systemctl reload, kill -HUP <pid>): Portico reloads it as hot_reload does, in both modes; [csp] is applied as mcpr did; a change only a restart applies (the upstream) is refused and named in the log, so restart for those. With the admin API, PUT /admin/config does the same in one step`,
  },
  delete: {
    summary: "mcpr's proxy delete: says what to use instead",
    instead: `${NO_LOCK_FILES}, so there is no per-proxy folder to delete. Its recorded exchanges stay in the store: \`portico store prune --older-than 7d\` removes old ones`,
  },
}

export function registerProxyLifecycle(proxy: Command): void {
  for (const [name, { summary, instead }] of Object.entries(LIFECYCLE)) {
    proxy
      .command(name)
      .description(summary)
      .argument('[name]', 'the proxy, as mcpr named it')
      .option(
        '-c, --config <file>',
        'the new config file (mcpr: proxy reload NAME -c FILE)',
        onlyOnce('--config'),
      )
      .allowUnknownOption(true)
      .allowExcessArguments(true)
      .action((_name: string | undefined, flags: { config?: string }) => {
        const file = flags.config ?? 'FILE'
        throw new UserError(`proxy ${name}: ${instead.replaceAll('FILE', file)}`, 2)
      })
  }
}
