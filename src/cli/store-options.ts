/**
 * The flags every report command declares: `--db`, `--proxy`, `--config`, `--json` and
 * `--since`, with their parsers. Loaded by every `portico` run (commands are declared before
 * one is chosen), so it imports nothing heavy: finding and opening the store is
 * store-access.ts, loaded by the commands' actions.
 */
import type { Command } from 'commander'
import { parseDuration } from '../config/duration.ts'
import { UserError } from './errors.ts'
import { onlyOnce } from './only-once.ts'

export interface StoreFlags {
  db?: string
  proxy?: string
  config?: string
  json?: boolean
}

export function addStoreOptions(command: Command): Command {
  return command
    .option('--db <path>', 'store to read (default: PORTICO_DB, [store] path, ~/.portico/store.db)')
    .option('--proxy <name>', 'only this proxy (default: every proxy in the store)')
    .option(
      '-c, --config <file>',
      'config file naming the store (default ./portico.toml)',
      onlyOnce('--config'),
    )
    .option('--json', 'machine-readable output')
}

/** The flags of a report over a time window: the store's, and `--since` (milliseconds). */
export interface WindowFlags extends StoreFlags {
  since?: number
}

/** Adds `--since` with its default window, validated as a duration. */
export function addSince(command: Command, fallback: string): Command {
  return command.option(
    '--since <duration>',
    `time window, e.g. 30m, 1h, 7d (default ${fallback})`,
    durationOption('--since'),
  )
}

/**
 * The longest window a report or a prune takes (100 years: everything a store holds). Longer
 * ones made no date: `--older-than 99999999999999999999d` pruned against `NaN-NaN-NaN`, and
 * `100000w` against the year 110.
 */
const MAX_WINDOW_MS = 36_500 * 86_400_000

/** Parses a duration flag (`30m`, `1h`, `7d`, `500ms`) into milliseconds. */
export function durationOption(flag: string, allowZero = false) {
  return (value: string): number => {
    const ms = parseDuration(value)
    if (ms === undefined || ms < 0 || (ms === 0 && !allowZero)) {
      throw new UserError(
        `${flag}: expected a duration like 500ms, 30s, 30m, 1h or 7d, got "${value}"`,
        2,
      )
    }
    if (ms > MAX_WINDOW_MS) {
      throw new UserError(`${flag}: at most 36500d (100 years), got "${value}"`, 2)
    }
    return ms
  }
}

/** A window label for headers: `30m`, `1h`, `7d`. */
export function durationLabel(ms: number): string {
  const units: Array<[number, string]> = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
  ]
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  return `${ms}ms`
}
