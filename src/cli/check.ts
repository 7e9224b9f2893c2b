/**
 * `portico check` (declared in commands/check.ts): validates a config file and prints every
 * problem with its file, line and key path; exits non-zero when there is any.
 */
import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, isAbsolute, join, resolve } from 'node:path'
import { ConfigError, loadConfig } from '../config/load.ts'
import { redactConfig } from '../config/redact-config.ts'
import type { Config } from '../config/schema.ts'
import { childEnv } from '../gateway/backends/stdio.ts'
import { preflightLines, preflightWarnings } from '../operate/preflight.ts'
import { relaySettings } from '../relay/settings.ts'
import { jsonForTerminal } from '../util/format.ts'
import { UserError } from './errors.ts'

export function checkConfig(
  file: string | undefined,
  flags: { config?: string; dump?: boolean },
): void {
  if (file !== undefined && flags.config !== undefined && file !== flags.config) {
    throw new UserError(`two config files: ${file} and --config ${flags.config}`, 2)
  }
  if (file !== undefined) flags.config = file
  try {
    const loaded = loadConfig(flags.config ? { file: flags.config } : {})
    const warnings = [
      ...loaded.warnings,
      ...preflightWarnings(loaded.config),
      ...startWarnings(loaded.config),
    ]
    for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`)
    const where = loaded.file ?? '(no config file: defaults and environment only)'
    // What `portico run` would refuse when building from it (a widgets folder that is not
    // there, …): the same check, without starting anything.
    const problems = preflightLines(loaded.config, loaded.file)
    if (problems.length > 0) {
      const count = problems.length
      throw new UserError(
        `${problems.join('\n')}\n${count} problem${count === 1 ? '' : 's'} found`,
        1,
      )
    }
    if (flags.dump) {
      // stdout is the JSON alone (for jq and diff); the verdict goes with the warnings.
      process.stderr.write(`ok: ${where} is valid\n`)
      process.stdout.write(`${jsonForTerminal(redactConfig(loaded.config), 2)}\n`)
      return
    }
    process.stdout.write(`ok: ${where} is valid\n`)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    // mcpr's relay file (`mode = "relay"`): checked as `portico relay` reads it, as mcpr's
    // `validate` checked it, rather than refused for not being a proxy's.
    // The file named, or the one found (`./mcpr.toml`, as mcpr's `validate` reads it).
    const found = flags.config ?? error.file
    if (found === undefined || !asksForRelay(error)) throw problemsFound(error)
    checkRelayFile(found, flags.dump === true)
  }
}

function problemsFound(error: ConfigError): UserError {
  const count = error.problems.length
  return new UserError(`${error.message}\n${count} problem${count === 1 ? '' : 's'} found`, 1)
}

/** Whether the only thing wrong is that the file is mcpr's relay file (`mode = "relay"`). */
function asksForRelay(error: ConfigError): boolean {
  return error.problems.some(
    (problem) => problem.path === 'mode' && /relay server/.test(problem.message),
  )
}

function checkRelayFile(file: string, dump: boolean): void {
  let config: Config
  try {
    config = loadConfig({ file, relay: true }).config
  } catch (error) {
    if (error instanceof ConfigError) throw problemsFound(error)
    throw error
  }
  try {
    relaySettings(config.relay, process.env)
  } catch (error) {
    const why = (error as Error).message
    throw new UserError(
      `${file}: mode = "relay" makes it a relay config (portico relay), checked as such: ${why}\n(remove mode to check it as a proxy's config)`,
      1,
    )
  }
  const ok = `ok: ${file} is a valid relay config (run it with portico relay ${file})\n`
  if (!dump) {
    process.stdout.write(ok)
    return
  }
  // As for a proxy's file: stdout is the JSON alone (its [relay] table, tokens redacted).
  process.stderr.write(ok)
  const shown = redactConfig(config) as { relay?: unknown }
  process.stdout.write(`${jsonForTerminal({ relay: shown.relay }, 2)}\n`)
}

/**
 * Stdio backends that cannot start here: a `cwd` that is not a folder, a command that is not
 * an executable file on the PATH the backend gets (`npx` or `uvx` not installed). Warnings,
 * not problems: `portico run` may run elsewhere or as another user, and serves the other
 * backends meanwhile.
 */
function startWarnings(config: Config): string[] {
  const warnings: string[] = []
  for (const [index, backend] of (config.backends ?? []).entries()) {
    if (backend.transport !== 'stdio' || backend.command === undefined) continue
    const where = `backends[${index}] (${backend.name})`
    const cwd = backend.cwd ?? process.cwd()
    if (!statSync(cwd, { throwIfNoEntry: false })?.isDirectory()) {
      warnings.push(`${where}.cwd: ${cwd} is not a folder here: the backend cannot start`)
    } else if (!findExecutable(backend.command, childEnv(backend).PATH ?? '', cwd)) {
      const what = backend.command.includes('/')
        ? `${backend.command} is not an executable file here`
        : `"${backend.command}" is not on PATH here`
      warnings.push(`${where}.command: ${what}: the backend cannot start`)
    }
  }
  return warnings
}

/** Whether `command` is what spawn would find: a path (from `cwd`), else a file on `path`. */
function findExecutable(command: string, path: string, cwd: string): boolean {
  const candidates = command.includes('/')
    ? [isAbsolute(command) ? command : resolve(cwd, command)]
    : path
        .split(delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => join(resolve(cwd, dir), command))
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK)
      return statSync(file).isFile()
    } catch {
      return false
    }
  })
}
