/**
 * Opens the SQLite store: WAL mode (readers never wait for the writer), pragmas shared by the
 * writer and the CLI, and migrations. Every SQLite failure a user can meet (missing file, lock,
 * corruption, a store from a newer Portico) becomes a StoreError with one clear sentence.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { LATEST_VERSION, MIGRATIONS } from './migrations.ts'

export type Db = Database.Database

export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreError'
  }
}

export interface OpenOptions {
  /** Create the file (and its folder) when missing; the CLI opens existing stores only. */
  create?: boolean
  /** Milliseconds to wait on a lock before failing. */
  busyTimeoutMs?: number
}

/** `~/.portico/store.db`, the store used when nothing else is configured. */
export function defaultStorePath(): string {
  return join(homedir(), '.portico', 'store.db')
}

export function openStore(path: string, options: OpenOptions = {}): Db {
  if (!options.create && path !== ':memory:' && !existsSync(path)) {
    throw new StoreError(
      `no store at ${path} (start a proxy with the store enabled first, or pass --db PATH)`,
    )
  }
  if (options.create && path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  let db: Db | undefined
  try {
    db = new Database(path, {
      fileMustExist: !options.create,
      timeout: options.busyTimeoutMs ?? 5000,
    })
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.pragma('temp_store = MEMORY')
    db.pragma('cache_size = -32000')
    migrate(db)
    return db
  } catch (error) {
    db?.close()
    throw explain(error, path)
  }
}

function migrate(db: Db): void {
  const current = Number(db.pragma('user_version', { simple: true }))
  if (current > LATEST_VERSION) {
    throw new StoreError(
      `the store was written by a newer Portico (schema ${current}, this one knows ${LATEST_VERSION}); upgrade Portico`,
    )
  }
  if (current === LATEST_VERSION) return
  db.transaction(() => {
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue
      db.exec(migration.sql)
    }
    db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(
      'created_at',
      String(Date.now()),
    )
    db.pragma(`user_version = ${LATEST_VERSION}`)
  }).immediate()
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
        `${path} is not a readable Portico store (corrupt or not SQLite): ${message}`,
        { cause: error },
      )
    case 'SQLITE_CANTOPEN':
      return new StoreError(`cannot open the store ${path}: ${message}`, { cause: error })
    case 'SQLITE_READONLY':
      return new StoreError(`the store ${path} is read-only: ${message}`, { cause: error })
    default:
      if (typeof code === 'string' && code.startsWith('SQLITE_')) {
        return new StoreError(`store ${path}: ${message}`, { cause: error })
      }
      return error instanceof Error ? error : new Error(message)
  }
}
