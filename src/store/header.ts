/**
 * Whether a store file is already at this Portico's schema, read from its SQLite header
 * without opening it: then a starting proxy need not load SQLite on its own thread to create
 * or upgrade it (see open.ts on why that matters for an idle proxy's memory).
 *
 * Conservative: anything unusual (no file, no access, a write-ahead log with frames in it,
 * whose pages may be newer than the file's header, another schema version) says "not
 * current", and the caller opens the store as before, with its clear errors.
 */
import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { LATEST_VERSION } from './migrations.ts'

/** https://www.sqlite.org/fileformat.html#the_database_header */
const MAGIC = 'SQLite format 3\u0000'
const HEADER_BYTES = 100
const USER_VERSION_OFFSET = 60

export function isCurrentStore(path: string): boolean {
  if (path === ':memory:') return false
  try {
    accessSync(path, constants.R_OK | constants.W_OK)
    // SQLite writes its -wal and -shm files next to the store.
    accessSync(dirname(resolve(path)), constants.W_OK)
    if (walHasFrames(path)) return false
    // Opened below only if a regular file: opening a FIFO blocks until a writer comes.
    if (!statSync(path).isFile()) return false
    const header = readHeader(path)
    return (
      header.length === HEADER_BYTES &&
      header.toString('latin1', 0, MAGIC.length) === MAGIC &&
      header.readUInt32BE(USER_VERSION_OFFSET) === LATEST_VERSION
    )
  } catch {
    return false
  }
}

function walHasFrames(path: string): boolean {
  try {
    return statSync(`${path}-wal`).size > 0
  } catch {
    return false
  }
}

function readHeader(path: string): Buffer {
  const fd = openSync(path, 'r')
  try {
    const header = Buffer.alloc(HEADER_BYTES)
    const read = readSync(fd, header, 0, HEADER_BYTES, 0)
    return header.subarray(0, read)
  } finally {
    closeSync(fd)
  }
}
