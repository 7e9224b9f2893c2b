/**
 * What every report command shares: the `--db`, `--proxy`, `--config`, `--json` and `--since`
 * flags, finding the store (flag, PORTICO_DB, `[store] path`, `~/.portico/store.db`), opening
 * it for reading, and turning store failures into one-line messages.
 */
import type { Command } from 'commander'
import { parseDuration } from '../config/duration.ts'
import { ConfigError, loadConfig } from '../config/load.ts'
import {
  type Db,
  defaultStorePath,
  explain,
  openStore,
  StoreError,
  upgradeMessage,
} from '../store/open.ts'
import { UserError } from './errors.ts'

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
    .option('-c, --config <file>', 'config file naming the store (default ./portico.toml)')
    .option('--json', 'machine-readable output')
}

/** Adds `--since` with its default window, validated as a duration. */
export function addSince(command: Command, fallback: string): Command {
  return command.option(
    '--since <duration>',
    `time window, e.g. 30m, 1h, 7d (default ${fallback})`,
    durationOption('--since'),
  )
}

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

export function storePathOf(flags: StoreFlags): string {
  // An explicit --db wins anyway: the config (whose secrets may be unset here) is not needed.
  if (flags.db !== undefined && flags.config === undefined) return flags.db
  try {
    const loaded = loadConfig({
      ...(flags.config ? { file: flags.config } : {}),
      overrides: flags.db === undefined ? {} : { db: flags.db },
    })
    return loaded.config.store.path ?? defaultStorePath()
  } catch (error) {
    if (error instanceof ConfigError)
      throw new UserError(`invalid configuration:\n${error.message}`, 2)
    throw error
  }
}

/**
 * Opens the store, runs `read`, closes it; store failures become one clear message. A
 * `--proxy` the store has never seen is an error, not a report of zeros.
 */
export async function withStore<T>(
  flags: StoreFlags,
  read: (db: Db, path: string) => T | Promise<T>,
): Promise<T> {
  const path = storePathOf(flags)
  const db = openForReading(path)
  try {
    if (flags.proxy !== undefined) checkProxy(db, flags.proxy, path)
    return await read(db, path)
  } catch (error) {
    throw asUserError(error, path)
  } finally {
    db.close()
  }
}

/** Opens an existing store (saying so when it upgrades it); failures become one clear message. */
export function openForReading(path: string): Db {
  try {
    return openStore(path, {
      onUpgrade: (from, to) => process.stderr.write(`${upgradeMessage(path, from, to)}…\n`),
    })
  } catch (error) {
    throw asUserError(error, path)
  }
}

/** Proxies that recorded anything in the store, by name. */
export function knownProxies(db: Db): string[] {
  return db.prepare('SELECT name FROM proxies ORDER BY name').pluck().all() as string[]
}

function checkProxy(db: Db, proxy: string, path: string): void {
  const known = knownProxies(db)
  if (known.includes(proxy)) return
  const list =
    known.length > 0 ? `; it has ${known.map((p) => `"${p}"`).join(', ')}` : '; it is empty'
  throw new UserError(`unknown proxy "${proxy}": the store ${path} has no records of it${list}`)
}

/** True when a report should show a PROXY column: no `--proxy` and several proxies recorded. */
export function showsProxy(db: Db, flags: StoreFlags): boolean {
  return flags.proxy === undefined && knownProxies(db).length > 1
}

export function asUserError(error: unknown, path: string): unknown {
  const explained = explain(error, path)
  return explained instanceof StoreError ? new UserError(explained.message) : error
}
