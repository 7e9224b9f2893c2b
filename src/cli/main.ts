#!/usr/bin/env node
/**
 * The `portico` command: one module per subcommand registers itself on the program. Errors
 * the user can fix are printed as one clear message (no stack trace) with a non-zero exit:
 * 2 for usage errors (as the README says), 1 for other failures.
 */
import { Command, CommanderError } from 'commander'
import { VERSION } from '../version.ts'
import { registerCheck } from './check.ts'
import { registerClients } from './clients.ts'
import { registerDemo } from './demo.ts'
import { UserError } from './errors.ts'
import { registerLogs } from './logs.ts'
import { registerPins } from './pins.ts'
import { registerRelay } from './relay.ts'
import { registerRun } from './run.ts'
import { registerSchema } from './schema.ts'
import { registerSession } from './session.ts'
import { registerSessions } from './sessions.ts'
import { registerSlow } from './slow.ts'
import { registerStatus } from './status.ts'
import { registerStore } from './store.ts'

export function buildProgram(): Command {
  const program = new Command('portico')
    .description('A reverse proxy and gateway for MCP servers')
    .version(VERSION, '-v, --version')
    .showHelpAfterError('(run "portico --help" for usage)')
    .exitOverride()
  registerRun(program)
  registerCheck(program)
  registerDemo(program)
  registerStatus(program)
  registerLogs(program)
  registerSlow(program)
  registerSchema(program)
  registerSessions(program)
  registerSession(program)
  registerClients(program)
  registerStore(program)
  registerPins(program)
  registerRelay(program)
  return program
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv)
  } catch (error) {
    process.exitCode = exitCodeFor(error)
  }
}

/** Exit codes: 0 ok, 1 a failure (bad config file, unreadable store…), 2 a usage error. */
const USAGE_ERROR = 2

function exitCodeFor(error: unknown): number {
  // Commander's own errors (unknown option or command, missing argument, help shown for a
  // missing command) are all usage errors; `--help` and `--version` exit 0.
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : USAGE_ERROR
  if (error instanceof UserError) {
    process.stderr.write(`portico: ${error.message}\n`)
    return error.exitCode
  }
  process.stderr.write(
    `portico: unexpected error: ${error instanceof Error ? error.stack : String(error)}\n`,
  )
  return 1
}

void main(process.argv)
