/**
 * A long-lived read connection that follows the store file at its path. SQLite goes on reading
 * a deleted or replaced file's inode without an error, so a reader that stays open (the
 * dashboard) would show a store nobody writes any more, for ever, once the file is removed
 * (the proxy then starts a new one at the path) or a backup is moved over it. Each use checks
 * the file's identity (`StoreFile`: one stat) and, when another file is at the path, opens that
 * one and closes the old connection; while none can be opened (not there yet, not whole yet)
 * the old connection goes on serving.
 */
import { StoreFile } from './file-watch.ts'
import type { Db } from './open.ts'

export class FollowedStore {
  readonly path: string
  readonly #open: (path: string) => Db
  readonly #file: StoreFile
  #db: Db | undefined
  /** Another file was seen at the path but could not be opened yet: try again on each use. */
  #stale = false

  /** `db`, when given, is a connection to the file at `path` now (opened by the caller). */
  constructor(path: string, open: (path: string) => Db, db?: Db) {
    this.path = path
    this.#open = open
    this.#file = new StoreFile(path)
    this.#db = db
    if (db !== undefined) this.#file.remember()
  }

  /** The connection to the file at the path now; opened on first use (throws when it cannot). */
  get(): Db {
    const current = this.#db
    if (current === undefined) {
      // Remembered first: a file replaced in between is then seen (and opened) on the next use.
      this.#file.remember()
      this.#db = this.#open(this.path)
      return this.#db
    }
    if (!this.#stale && this.#file.changed() === undefined) return current
    this.#file.remember()
    let next: Db
    try {
      next = this.#open(this.path)
    } catch {
      // Not there again yet, or not a whole store yet: the old one until it is.
      this.#stale = true
      return current
    }
    this.#stale = false
    current.close()
    this.#db = next
    return next
  }

  close(): void {
    this.#db?.close()
    this.#db = undefined
  }
}
