/**
 * What every report command does once chosen: finding the store (flag, PORTICO_DB, `[store]
 * path`, `~/.portico/store.db`), opening it for reading, and turning store failures into
 * one-line messages.
 */
import {
  type Db,
  defaultStorePath,
  explain,
  openStore,
  StoreError,
  upgradeMessage,
} from '../store/open.ts'
import { UserError } from './errors.ts'
import type { StoreFlags } from './store-options.ts'

/**
 * The store a report reads: `--db`, else the config's (`[store] path`, PORTICO_DB), else
 * `~/.portico/store.db`.
 */
export async function storePathOf(flags: StoreFlags): Promise<string> {
  // An explicit --db wins anyway: the config (whose secrets may be unset here) is not needed,
  // nor loaded (its schema, zod, is most of a report's start-up time and memory).
  if (flags.db !== undefined && flags.config === undefined) return flags.db
  const { ConfigError, loadConfig } = await import('../config/load.ts')
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
  const path = await storePathOf(flags)
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
