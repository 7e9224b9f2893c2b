/**
 * Hot reload (`[proxy] hot_reload = true`): watches the config file, re-loads it with the same
 * flags and environment, and applies backend changes without touching client sessions or
 * untouched backends. An invalid file is rejected with the loader's explanation and the
 * running config stays in force. Clients are told their lists changed.
 */
import { type FSWatcher, watch } from 'node:fs'
import { basename, dirname } from 'node:path'
import { PROTECT_KEYS } from '../config/protect.ts'
import type { Config } from '../config/schema.ts'
import type { Logger } from '../observe/logger.ts'
import type { Gateway } from './gateway.ts'

export interface ReloadSource {
  file: string
  /** Loads and validates the file again; throws (ConfigError) when it is invalid. */
  load(): Config
}

const DEBOUNCE_MS = 200

/**
 * A function that reloads the config, one reload after another (a file change and a SIGHUP at
 * once apply in turn); it resolves when this reload was applied, rejected or failed (logged).
 */
export function reloader(
  gateway: Gateway,
  source: ReloadSource,
  logger: Logger,
): () => Promise<void> {
  let applying: Promise<void> = Promise.resolve()
  try {
    gateway.fileConfig = source.load()
  } catch {
    // Broken since it was read at start: the first reload compares with what was passed.
  }
  return () => {
    // A reload that fails is logged; the chain goes on with the next one.
    applying = applying
      .then(() => reload(gateway, source, logger))
      .catch((error: unknown) =>
        logger.error('config reload failed; the running config stays in force', {
          file: source.file,
          error: error instanceof Error ? error.message : String(error),
        }),
      )
    return applying
  }
}

/** Calls `apply` once the config file has stopped changing for DEBOUNCE_MS. */
export function watchFile(gateway: Gateway, file: string, apply: () => Promise<void>): void {
  let timer: NodeJS.Timeout | undefined
  const name = basename(file)
  // Watch the folder: editors often replace the file, which ends a watch on the file itself.
  const watcher: FSWatcher = watch(dirname(file), (_event, changed) => {
    if (changed !== null && changed !== name) return
    clearTimeout(timer)
    timer = setTimeout(() => void apply(), DEBOUNCE_MS)
  })
  watcher.unref()
  gateway.onClose(() => {
    clearTimeout(timer)
    watcher.close()
  })
}

/** Gateways whose last reload was rejected: the next good file is worth a line too. */
const rejected = new WeakSet<Gateway>()

export async function reload(
  gateway: Gateway,
  source: ReloadSource,
  logger: Logger,
): Promise<void> {
  let next: Config
  try {
    next = source.load()
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    logger.error('config reload rejected; the running config stays in force', {
      file: source.file,
      problems: message,
    })
    rejected.add(gateway)
    return
  }
  if (securityOf(next) !== securityOf(gateway.config)) {
    // Authentication is built once at start; applying backends while ignoring a changed [auth]
    // could leave a tightened policy unenforced, so nothing is applied.
    logger.error('config reload rejected: [auth] or [security] changed; restart Portico to apply', {
      file: source.file,
    })
    return
  }
  const fixed = fixedChanges(gateway.fileConfig, next)
  if (fixed.length > 0) {
    // Applying the backends while a changed [proxy.rate_limit] or [csp] silently stayed as it
    // was would say "reloaded" of a config that is not the one in force: nothing is applied.
    logger.error(
      `config reload rejected: ${fixed.join(', ')} cannot change while Portico runs; restart Portico to apply`,
      { file: source.file },
    )
    rejected.add(gateway)
    return
  }
  const settings = settingChanges(gateway.fileConfig, next)
  if (JSON.stringify(next.shared) !== JSON.stringify(gateway.config.shared)) {
    // One connection per process, built at start; the backends' policies keep using it.
    logger.warn(
      'config reload: [shared] changed; the running shared state stays until Portico restarts',
      {
        file: source.file,
      },
    )
  }
  if (!next.backends?.length) {
    logger.error('config reload rejected: gateway mode needs at least one [[backends]] table', {
      file: source.file,
    })
    rejected.add(gateway)
    return
  }
  let applied: { added: string[]; removed: string[]; changed: string[] }
  try {
    applied = await gateway.apply(next)
  } catch (error) {
    logger.error('config reload rejected; the running config stays in force', {
      file: source.file,
      problems: error instanceof Error ? error.message : String(error),
    })
    rejected.add(gateway)
    return
  }
  gateway.fileConfig = next
  const { added, removed, changed } = applied
  const recovered = rejected.delete(gateway)
  if (added.length + removed.length + changed.length + settings.length === 0) {
    if (recovered) logger.info('config reload accepted; nothing to change', { file: source.file })
    return
  }
  logger.info('config reloaded', {
    added,
    removed,
    changed,
    ...(settings.length > 0 ? { settings } : {}),
  })
  // Clients re-list when told: tell them once the new backends can answer (bounded), so the
  // list has their tools and the backends' own start-up announcements fall in the same burst.
  await gateway.started([...added, ...changed])
  gateway.announceListChanges()
}

/** Why hot reload would refuse `next` while `running` is in force, or undefined. */
export function reloadRefusal(running: Config, next: Config): string | undefined {
  if (securityOf(next) !== securityOf(running)) return '[auth] or [security] changed'
  const fixed = fixedChanges(running, next)
  if (fixed.length > 0) return `${fixed.join(', ')} cannot change while Portico runs`
  if (!next.backends?.length) return 'gateway mode needs at least one [[backends]] table'
  return undefined
}

/**
 * What a reload applies besides `[[backends]]`: the settings the gateway reads on each use
 * or builds into the backends it replaces (gateway.ts `sharedOf`). Everything else is built
 * once at start (the listener, the global chain, the sinks, the tunnel).
 */
const APPLIED = new Set<string>([
  'backends',
  ...PROTECT_KEYS,
  'performance',
  'request_timeout',
  'max_response_body_size',
])
const APPLIED_PROXY = new Set<string>([
  'separator',
  'list_cache_ttl',
  'list_timeout',
  'instructions',
  'tool_discovery',
  'tool_exposure',
  'admin_tools',
])
/** Compared on their own: `[auth]`/`[security]` refuse the reload, `[shared]` is warned of. */
const OWN_RULES = new Set<string>(['auth', 'security', 'shared'])

/** Keys, as `csp` or `proxy.rate_limit`, that differ and that a reload cannot apply. */
export function fixedChanges(running: Config, next: Config): string[] {
  return changedKeys(running, next).filter((key) => {
    const [table, sub] = key.split('.', 2)
    if (table === 'proxy' && sub !== undefined) return !APPLIED_PROXY.has(sub)
    return !APPLIED.has(key) && !OWN_RULES.has(key)
  })
}

/** The applied settings (not backends) that differ: clients re-list when one changes. */
function settingChanges(running: Config, next: Config): string[] {
  const fixed = new Set(fixedChanges(running, next))
  return changedKeys(running, next).filter(
    (key) => key !== 'backends' && !OWN_RULES.has(key) && !fixed.has(key),
  )
}

/** Top-level keys that differ, `[proxy]`'s one by one (`proxy.rate_limit`). */
function changedKeys(running: Config, next: Config): string[] {
  const differ = (a: object, b: object) =>
    [...new Set([...Object.keys(a), ...Object.keys(b)])].filter(
      (key) =>
        JSON.stringify((a as Record<string, unknown>)[key]) !==
        JSON.stringify((b as Record<string, unknown>)[key]),
    )
  return differ(running, next).flatMap((key) =>
    key === 'proxy'
      ? differ(running.proxy ?? {}, next.proxy ?? {}).map((sub) => `proxy.${sub}`)
      : [key],
  )
}

/**
 * The security-relevant part of a config, compared across reloads. The separator too when
 * `[auth]` is set: the policy built at start names the admin tools (`portico__…`) and its
 * globs with it, so another separator would leave those rules matching nothing.
 */
function securityOf(config: Config): string {
  return JSON.stringify([
    config.auth,
    config.security,
    config.auth ? config.proxy.admin_tools : null,
    config.auth ? config.proxy.separator : null,
  ])
}
