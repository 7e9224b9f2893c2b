#!/usr/bin/env node
/**
 * The `portico` command: one module per subcommand (commands/) declares it on the program.
 * Errors the user can fix are printed as one clear message (no stack trace) with a non-zero
 * exit: 2 for usage errors (as the README says), 1 for other failures.
 *
 * Every command is declared on each run (commander parses argv against all of them), so the
 * declarations import only commander and small helpers; each command's action imports what it
 * does (`await import('../x.ts')`) when it runs. Importing every command's implementation
 * up front (the config schema, the store, the proxy: 231 modules) made `portico --version`
 * take 0.47 s and 86 MB, and each report pay for the proxy it never starts.
 */
import cluster from 'node:cluster'
import { Command, CommanderError } from 'commander'
import { VERSION } from '../version.ts'
import { registerCheck } from './commands/check.ts'
import { registerClients } from './commands/clients.ts'
import { registerDashboard } from './commands/dashboard.ts'
import { registerDemo } from './commands/demo.ts'
import { registerImport } from './commands/import.ts'
import { registerInit } from './commands/init.ts'
import { registerLogs } from './commands/logs.ts'
import { registerPins } from './commands/pins.ts'
import { registerProxyLifecycle } from './commands/proxy-lifecycle.ts'
import { registerRelay } from './commands/relay.ts'
import { registerRun } from './commands/run.ts'
import { registerSchema } from './commands/schema.ts'
import { registerSession } from './commands/session.ts'
import { registerSessions } from './commands/sessions.ts'
import { registerSlow } from './commands/slow.ts'
import { registerStatus } from './commands/status.ts'
import { registerStore } from './commands/store.ts'
import { UserError } from './errors.ts'
import { onlyOnce } from './only-once.ts'
import { watchOutputPipes } from './pipes.ts'
import { allocateYoung } from './pretenuring.ts'
import { leanStart } from './start-memory.ts'

/**
 * What commander says about a usage error (an unknown command or option, the usage hint after
 * it), held until `exitCodeFor` writes it with control characters escaped: it quotes what was
 * typed, and an escape sequence there must not reach the terminal as one. Every such error
 * throws (`exitOverride`), so what is held is always written.
 */
let heldErrorOutput = ''
const holdErrorOutput = (text: string) => {
  heldErrorOutput += text
}

export function buildProgram(): Command {
  const program = new Command('portico')
    .configureOutput({ outputError: holdErrorOutput, writeErr: holdErrorOutput })
    .description('A reverse proxy and gateway for MCP servers')
    .version(VERSION, '-v, --version')
    .showHelpAfterError('(run "portico --help" for usage)')
    .exitOverride()
    // mcp-proxy's habits, `mcp-proxy --config proxy.toml` and `--check`, and mcpr's first
    // one, `mcpr --mcp URL --port 3000`, before any command: with no command, the options are
    // `portico run`'s (or `check`'s with --check), which refuses those it does not know.
    .enablePositionalOptions()
    .option(
      '-c, --config <file>',
      "with no command: run this file (mcp-proxy habit: portico run); before a command: that command's --config",
      onlyOnce('--config'),
    )
    .option('--check', 'with no command: validate the config and exit (portico check)')
    .addHelpText(
      'after',
      "\nWith no command, options are portico run's: portico --mcp URL --port 3000 (mcpr), portico --config proxy.toml (mcp-proxy).",
    )
    .action(async (flags: { config?: string; check?: boolean }, self: Command) => {
      // Words and the options this level does not know, in the order given.
      const [word] = self.args
      if (word !== undefined && !word.startsWith('-'))
        self.error(`error: unknown command '${word}'`)
      // `portico --port 3000 run`, `portico --db x logs`: the command's own options, given
      // before it. Handed to run, they made a config file named "run" or an unknown --tail.
      const command = self.args.find((arg) => self.commands.some((c) => c.name() === arg))
      if (command !== undefined)
        self.error(
          `error: options before '${command}' are not its: write them after it (portico ${command} ${self.args.slice(0, self.args.indexOf(command)).join(' ')} …)`,
        )
      if (flags.config === undefined && !flags.check && self.args.length === 0)
        self.help({ error: true })
      const file = flags.config === undefined ? [] : ['--config', flags.config]
      await buildProgram().parseAsync([flags.check ? 'check' : 'run', ...file, ...self.args], {
        from: 'user',
      })
    })
  registerRun(program)
  registerCheck(program)
  registerDemo(program)
  registerReports(program)
  registerStore(program)
  registerPins(program)
  registerDashboard(program)
  registerRelay(program)
  registerInit(program)
  registerImport(program)
  registerVersion(program)
  registerProxyGroup(program)
  program.hook('preAction', handConfigToCommand)
  // `portico help [command]`, as clap gives mcpr: commander adds it only to a program without
  // an action of its own, and the root has one (the mcp-proxy habits above).
  program.helpCommand(true)
  // The root takes a word only to name it as an unknown command, and other options only to hand
  // them to `run` (its action above). Set last: commander copies these settings into each
  // command when it is created, and no subcommand may drop words or options silently
  // (`portico check a.toml b.toml` checked a.toml alone and said ok).
  program.allowExcessArguments(true).allowUnknownOption(true)
  return program
}

/**
 * `portico -c FILE check` (mcpr's `-c` is global, `mcpr -c FILE validate`): the root parses an
 * option given before the command, so the command never saw it and read its default file
 * instead (`./mcpr.toml`), saying ok about a file the user did not name. The file goes to the
 * command that takes one; a second file, or a command that reads none, is a usage error.
 */
function handConfigToCommand(root: Command, command: Command): void {
  if (command === root) return
  const { config: file, check } = root.opts<{ config?: string; check?: boolean }>()
  const path = command.parent?.parent
    ? `${command.parent.name()} ${command.name()}`
    : command.name()
  if (check) command.error(`error: --check is portico check without a command, not with '${path}'`)
  if (file === undefined) return
  if (!command.options.some((option) => option.attributeName() === 'config'))
    command.error(`error: --config ${file}: '${path}' reads no config file`)
  const own = command.getOptionValue('config') as string | undefined
  if (own !== undefined && own !== file)
    command.error(`error: two config files: --config ${file} and --config ${own}`)
  command.setOptionValue('config', file)
}

function registerReports(program: Command): void {
  registerStatus(program)
  registerLogs(program)
  registerSlow(program)
  registerSchema(program)
  registerSessions(program)
  registerSession(program)
  registerClients(program)
  // mcpr's `proxy logs [name]`: the proxy to report on, as a word; `--proxy` still works. The
  // same under `portico logs [name]`, which would otherwise report on every proxy.
  for (const command of program.commands) {
    if (!NAMED_REPORTS.has(command.name())) continue
    command.usage('[options] [name]').allowExcessArguments(true)
    command.hook('preAction', (self) => {
      const [name, ...extra] = self.args
      if (extra.length > 0) {
        const path = self.parent?.parent ? `${self.parent.name()} ${self.name()}` : self.name()
        self.error(
          `error: too many arguments for '${path}': expected at most one proxy name, got ${self.args.join(' ')}`,
          { code: 'commander.excessArguments' },
        )
      }
      if (name !== undefined && self.opts().proxy !== undefined && name !== self.opts().proxy) {
        self.error(`error: two proxy names: ${name} and --proxy ${self.opts().proxy}`)
      }
      if (name !== undefined) self.setOptionValue('proxy', name)
    })
  }
}

/**
 * mcpr's `mcpr proxy <command>` group: the same commands under `portico proxy`, so mcpr's
 * README commands work with the word `mcpr` replaced.
 */
function registerProxyGroup(program: Command): void {
  const proxy = program
    .command('proxy')
    .description(
      'mcpr-style aliases: proxy run, setup, status, logs, slow, schema, sessions, session, clients (list, stop, reload and delete say what to do instead)',
    )
  registerRun(proxy)
  registerInit(proxy, 'setup')
  registerReports(proxy)
  registerProxyLifecycle(proxy)
}

/** Reports of the `proxy` group that take mcpr's positional proxy name. */
const NAMED_REPORTS = new Set(['status', 'logs', 'slow', 'schema', 'sessions', 'clients'])

/** mcpr's `version`: one JSON line, for scripts (`portico --version` prints the bare number). */
function registerVersion(program: Command): void {
  program
    .command('version')
    .description('Print the version as one JSON line')
    .action(() => {
      const target = `${process.platform}-${process.arch}`
      process.stdout.write(
        `${JSON.stringify({ name: 'portico', version: VERSION, target, node: process.version })}\n`,
      )
    })
}

async function main(argv: string[]): Promise<void> {
  // `portico logs -f | head`: the reader went away (pipes.ts: a report ends, a server goes on).
  watchOutputPipes()
  // Before any command loads what it runs (each action imports its implementation).
  leanStart()
  allocateYoung()
  try {
    await buildProgram().parseAsync(argv)
  } catch (error) {
    process.exitCode = await exitCodeFor(error)
    // A cluster worker's IPC channel would keep it alive, its slot taken and never restarted.
    if (cluster.isWorker) process.exit()
  }
}

/** Exit codes: 0 ok, 1 a failure (bad config file, unreadable store…), 2 a usage error. */
const USAGE_ERROR = 2

async function exitCodeFor(error: unknown): Promise<number> {
  // Commander's own errors (unknown option or command, missing argument, help shown for a
  // missing command) are all usage errors; `--help` and `--version` exit 0.
  if (error instanceof CommanderError) {
    if (heldErrorOutput !== '') process.stderr.write(await safe(heldErrorOutput))
    heldErrorOutput = ''
    return error.exitCode === 0 ? 0 : USAGE_ERROR
  }
  if (error instanceof UserError) {
    process.stderr.write(`portico: ${await safe(error.message)}\n`)
    return error.exitCode
  }
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
  process.stderr.write(`portico: unexpected error: ${await safe(text)}\n`)
  return 1
}

/**
 * Messages quote what a store holds (the proxies recorded, the sessions a prefix matches) and
 * what was typed: an escape sequence in either must not reach the terminal as one.
 */
async function safe(text: string): Promise<string> {
  // Loaded only now: a command that succeeds loads nothing for its errors (cli-lazy-load).
  const { printable } = await import('../util/format.ts')
  return text.split('\n').map(printable).join('\n')
}

void main(process.argv)
