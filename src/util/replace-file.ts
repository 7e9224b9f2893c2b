/**
 * Replaces a file in one step: the text goes to a new file beside the target (a name no other
 * write uses, created exclusively), is flushed to disk, then renamed over it with the target's
 * mode (0600 for a new file: configs hold secrets). A reader (a hot-reload watcher, a crash
 * half way) never sees half a file: it sees the old one or the new one.
 *
 * A path that is a link is written through: the file it leads to is the one replaced, and the
 * link stays (renamed over, the link itself became a plain file, and a deployment that swaps
 * the link to another release no longer reached the running config).
 */
import { open, realpath, rename, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'

let written = 0

export async function replaceFile(given: string, text: string): Promise<void> {
  // A missing file (or a link to one) is created at the path given.
  const path = await realpath(given).catch(() => given)
  const mode = (await stat(path).catch(() => undefined))?.mode
  const temporary = `${path}.${process.pid}.${++written}.portico-new`
  const handle = await open(temporary, 'wx', mode === undefined ? 0o600 : mode & 0o777)
  try {
    try {
      await handle.writeFile(text)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, { force: true })
    throw error
  }
  await syncFolder(dirname(path))
}

/** Flushes a folder's entries (the rename) to disk; where a platform cannot, nothing is lost. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r').catch(() => undefined)
  if (handle === undefined) return
  await handle.sync().catch(() => undefined)
  await handle.close()
}
