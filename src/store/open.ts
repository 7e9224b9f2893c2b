/**
 * Opens the SQLite store: WAL mode (readers never wait for the writer), pragmas shared by the
 * writer and the CLI, and migrations. Every SQLite failure a user can meet (missing file, lock,
 * corruption, a store from a newer Portico) becomes a StoreError with one clear sentence.
 */
import { existsSync, mkdirSync, type Stats, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type Database from 'better-sqlite3'
import { LATEST_VERSION, MIGRATIONS } from './migrations.ts'

export type Db = Database.Database

/**
 * The SQLite addon, loaded by the first store opened, not by importing this module: a proxy
 * whose store is already up to date opens nothing on its own thread (its writer thread does,
 * when there is something to write), and the addon with a first open is about 9 MB of an idle
 * proxy's memory (bench/reports/2026-12-01-perf2.md, step 14).
 */
const require = createRequire(import.meta.url)
let sqlite: typeof Database | undefined

function database(): typeof Database {
  sqlite ??= require('better-sqlite3') as typeof Database
  return sqlite
}

export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreError'
  }
}

export interface OpenOptions {
  /** Create the file when missing (and its folder, when it is the default one); the CLI opens existing stores only. */
  create?: boolean
  /** Milliseconds to wait on a lock before failing. */
  busyTimeoutMs?: number
  /**
   * Told before an existing store is upgraded to a newer schema, so the caller can say so:
   * an upgrade may rewrite every row (about 5 s per million exchanges) and runs once.
   */
  onUpgrade?: (from: number, to: number) => void
  /**
   * SQLite's page cache, in KiB (default 32,000: reports read many pages). The writer asks for
   * less: it touches the tables' last pages and the indexes' upper levels, and in a long-lived
   * proxy a large cache fills with pages it never reads again (resident memory).
   */
  cacheKiB?: number
}

/** One-time, and it can take a while on a big store: say so before starting (`onUpgrade`). */
export function upgradeMessage(path: string, from: number, to: number): string {
  return `upgrading the store ${path} from schema ${from} to ${to} (once; about 5 s per million recorded exchanges)`
}

/** `~/.portico/store.db`, the store used when nothing else is configured. */
export function defaultStorePath(): string {
  return join(homedir(), '.portico', 'store.db')
}

export function openStore(path: string, options: OpenOptions = {}): Db {
  if (path !== ':memory:') {
    const info = statOf(path)
    if (!options.create && info === undefined) {
      throw new StoreError(
        `no store at ${path} (start a proxy with the store enabled first, or pass --db PATH)`,
      )
    }
    if (options.create) makeFolder(path)
    // A FIFO or a device named by --db would block the process opening it, for ever.
    if (info !== undefined && !info.isFile()) {
      throw new StoreError(`${path} is not a regular file: a store is a SQLite file`)
    }
  }
  let db: Db | undefined
  try {
    db = new (database())(path, {
      fileMustExist: !options.create,
      timeout: options.busyTimeoutMs ?? 5000,
    })
    if (path !== ':memory:') refuseOtherFiles(db, path, options.create === true)
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.pragma('temp_store = MEMORY')
    db.pragma(`cache_size = -${Math.round(options.cacheKiB ?? 32_000)}`)
    migrate(db, path, options.onUpgrade)
    return db
  } catch (error) {
    db?.close()
    throw explain(error, path)
  }
}

/**
 * The file at `path`, if any. A path no file can be at (under a regular file, a loop of
 * symbolic links, a name too long) is said in one line, as a missing folder is, not thrown as
 * an unexpected error with its stack.
 */
function statOf(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why = STAT_PROBLEMS[code ?? ''] ?? code ?? String(error)
    throw new StoreError(`cannot use ${path} as the store: ${why}`, { cause: error })
  }
}

const STAT_PROBLEMS: Readonly<Record<string, string>> = {
  ENOTDIR: 'a part of the path before the file name is a file, not a folder',
  ELOOP: 'the path loops through symbolic links',
  ENAMETOOLONG: 'the path or one of its names is too long',
  EACCES: 'permission denied on a folder of the path',
}

/**
 * Only the default folder (`~/.portico`) is created: a `--db` path whose folder is missing is
 * far more often a typo than a wish for new folders, which would then hold a store nobody
 * looks at.
 */
function makeFolder(path: string): void {
  const folder = dirname(resolve(path))
  if (existsSync(folder)) return
  if (folder !== dirname(defaultStorePath())) {
    throw new StoreError(
      `the folder ${folder} of the store ${path} does not exist (create it first; only the default ${dirname(defaultStorePath())} is created for you)`,
    )
  }
  try {
    createFolders(folder)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error)
    throw new StoreError(`cannot create the folder of the store ${path} (${code})`, {
      cause: error,
    })
  }
}

/**
 * `mkdirSync(…, { recursive: true })` never returns on some pseudo file systems (Node 20 loops
 * on ENOENT under /proc), so the missing folders are created one level at a time.
 */
function createFolders(folder: string): void {
  const missing: string[] = []
  let current = folder
  while (!existsSync(current)) {
    missing.unshift(current)
    const parent = dirname(current)
    if (parent === current) break
    current = parent
  }
  for (const dir of missing) mkdirSync(dir)
}

function migrate(db: Db, path: string, onUpgrade?: (from: number, to: number) => void): void {
  const current = Number(db.pragma('user_version', { simple: true }))
  if (current > LATEST_VERSION) {
    throw new StoreError(
      `the store ${path} was written by a newer Portico (schema ${current}, this one knows ${LATEST_VERSION}); upgrade Portico, or use another store (--db, or [store] path)`,
    )
  }
  if (current === LATEST_VERSION) return
  if (current > 0) onUpgrade?.(current, LATEST_VERSION)
  db.transaction(() => {
    // Read again under the write lock: another process (a second proxy on the same store)
    // may have upgraded it since, and its migrations must not run twice.
    const locked = Number(db.pragma('user_version', { simple: true }))
    if (locked >= LATEST_VERSION) return
    for (const migration of MIGRATIONS) {
      if (migration.version <= locked) continue
      db.exec(migration.sql)
    }
    db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(
      'created_at',
      String(Date.now()),
    )
    db.pragma(`user_version = ${LATEST_VERSION}`)
  }).immediate()
}

/**
 * Before anything is written to it: a file that is some other SQLite database never gets
 * Portico's tables (nor its journal mode), and a report (which does not create stores) does
 * not turn an empty file into one. A Portico store has its `meta` and `proxies` tables.
 */
function refuseOtherFiles(db: Db, path: string, create: boolean): void {
  const tables = db
    .prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )
    .pluck()
    .all() as string[]
  if (tables.includes('meta') && tables.includes('proxies')) return
  if (tables.length === 0) {
    const version = Number(db.pragma('user_version', { simple: true }))
    if (version === 0 && create) return
    if (version === 0) {
      throw new StoreError(
        `${path} is an empty SQLite file, not a Portico store yet (start a proxy with the store enabled first, or pass the path of a store)`,
      )
    }
  }
  const named = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ', …' : '')
  throw new StoreError(
    `${path} is not a Portico store: it is another SQLite database${named ? ` (tables ${named})` : ''}; Portico leaves it as it is (pass the path of a Portico store)`,
  )
}

/** Turns a SQLite failure into a sentence naming the store and what to do. */
export function explain(error: unknown, path: string): Error {
  if (error instanceof StoreError) return error
  const code = (error as { code?: unknown }).code
  const message = error instanceof Error ? error.message : String(error)
  switch (code) {
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return new StoreError(`the store ${path} is locked by another process; try again`, {
        cause: error,
      })
    case 'SQLITE_NOTADB':
    case 'SQLITE_CORRUPT':
      return new StoreError(
        `${path} is not a readable Portico store (corrupt or not SQLite): ${message}; move it aside and a proxy starts a new store at that path${code === 'SQLITE_CORRUPT' ? ` (sqlite3 ${path} .recover may save its rows)` : ''}`,
        { cause: error },
      )
    case 'SQLITE_CANTOPEN':
      return new StoreError(
        `cannot open the store ${path}: ${message} (the file and its folder must be readable and writable by this user: SQLite writes its -wal and -shm files beside it)`,
        { cause: error },
      )
    case 'SQLITE_READONLY':
      return new StoreError(
        `the store ${path} is read-only: ${message} (make the file and its folder writable by this user: SQLite writes its -wal and -shm files beside it)`,
        { cause: error },
      )
    case 'SQLITE_FULL':
      return new StoreError(
        `the disk holding the store ${path} is full: events are not recorded until there is room (free space, or prune the store: portico store prune --older-than 7d)`,
        { cause: error },
      )
    default:
      if (typeof code === 'string' && code.startsWith('SQLITE_')) {
        return new StoreError(`store ${path}: ${message}`, { cause: error })
      }
      return error instanceof Error ? error : new Error(message)
  }
}
