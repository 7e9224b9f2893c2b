/**
 * Tells the writer whether the store file it opened is still at its path. SQLite keeps
 * writing into a deleted file's inode without an error, so without this check a store removed
 * while Portico runs (by hand, by a clean-up job) would silently lose every later row.
 */
import { statSync } from 'node:fs'

export class StoreFile {
  readonly #path: string
  #identity: string | undefined

  constructor(path: string) {
    this.#path = path
  }

  /** Records the identity (device and inode) of the file now at the path. */
  remember(): void {
    try {
      this.#identity = this.#stat()
    } catch {
      this.#identity = undefined
    }
  }

  /** `was deleted` or `was replaced` when the path no longer holds the remembered file. */
  changed(): string | undefined {
    if (this.#path === ':memory:' || this.#identity === undefined) return undefined
    let now: string | undefined
    try {
      now = this.#stat()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'was deleted'
      // Cannot tell (permissions, I/O): keep writing; a real failure surfaces on commit.
      return undefined
    }
    return now === this.#identity ? undefined : 'was replaced'
  }

  #stat(): string | undefined {
    if (this.#path === ':memory:') return undefined
    const stat = statSync(this.#path)
    return `${stat.dev}:${stat.ino}`
  }
}
