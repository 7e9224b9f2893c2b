/**
 * `portico pins` (declared in commands/pins.ts): the tool definitions a proxy with `[security]
 * pin_tools` has pinned, and the changed ones it withholds from clients; `portico pins accept
 * NAME… | --all` lets them through (the running proxy re-reads the pin file within a second).
 * Reads the same config as `portico run` to find the file and the proxy's name.
 */
import { acceptPending, pinFileOf, readPinFile } from '../auth/pins.ts'
import { ConfigError, loadConfig } from '../config/load.ts'
import { proxyName } from '../config/proxy-name.ts'
import { isObject } from '../jsonrpc/message.ts'
import { jsonForTerminal } from '../util/format.ts'
import { UserError } from './errors.ts'
import { renderTable, useColour } from './format.ts'

export interface PinFlags {
  config?: string
  json?: boolean
}

function pinPath(flags: PinFlags): string {
  try {
    const { config } = loadConfig(flags.config ? { file: flags.config } : {})
    if (!config.security?.pin_tools) {
      throw new UserError('this config does not pin tools ([security] pin_tools = true)', 1)
    }
    return pinFileOf(config, proxyName(config))
  } catch (error) {
    if (error instanceof ConfigError) throw new UserError(error.message, 1)
    throw error
  }
}

/** Which top-level parts of a definition changed (`description`, `inputSchema`, …). */
function changedParts(before: unknown, after: unknown): string {
  if (!isObject(before) || !isObject(after)) return 'definition'
  const keys = new Set([...Object.keys(before), ...Object.keys(after)])
  const changed = [...keys].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
  return changed.join(', ') || 'definition'
}

export function printPins(flags: PinFlags): void {
  const path = pinPath(flags)
  const file = readPinFile(path)
  const pending = Object.entries(file.pending)
  if (flags.json) {
    for (const [name, entry] of pending) {
      process.stdout.write(
        `${jsonForTerminal({ name, seen: entry.at, pinned: file.tools[name]?.definition, changed: entry.definition })}\n`,
      )
    }
    return
  }
  process.stdout.write(
    `${path}: ${Object.keys(file.tools).length} tools pinned, ${pending.length} changed and withheld\n`,
  )
  if (pending.length === 0) return
  const rows = pending.map(([name, entry]) => [
    name,
    entry.at.replace('T', ' ').slice(0, 19),
    changedParts(file.tools[name]?.definition, entry.definition),
  ])
  process.stdout.write(
    renderTable(['TOOL', 'SEEN', 'CHANGED'], rows, {
      colour: useColour(),
      align: ['left', 'left', 'left'],
    }),
  )
  process.stdout.write('accept with: portico pins accept NAME… (or --all)\n')
}

/** `pins accept NAME… | --all`; `flags` has the options given to `pins` as well as to `accept`. */
export function acceptPins(names: string[], flags: PinFlags & { all?: boolean }): void {
  if (names.length === 0 && !flags.all) {
    throw new UserError('name the tools to accept, or pass --all', 2)
  }
  const path = pinPath(flags)
  const accepted = acceptPending(path, flags.all ? [] : names)
  const missing = names.filter((name) => !accepted.includes(name))
  for (const name of accepted) process.stdout.write(`accepted ${name}\n`)
  if (missing.length > 0) {
    throw new UserError(`no pending change for ${missing.join(', ')}`, 1)
  }
  if (accepted.length === 0) process.stdout.write('nothing to accept\n')
}
