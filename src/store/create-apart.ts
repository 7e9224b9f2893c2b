/**
 * Creates a new store in a short-lived child process, so that a proxy starting on a new store
 * does not load SQLite on its own thread: the addon's pages and the first open stay resident
 * (about 3 MB of an idle proxy, bench/reports/2026-12-01-perf2.md, "Idle memory and S9's
 * gateway cost"), while a proxy on a store already at this schema loads nothing until its
 * writer thread has work (step 14). The store is made once, at start-up, where a blocking wait
 * of a tenth of a second is no one's hot path.
 *
 * Anything unusual is left to the caller's own open, which gives the clear StoreError (a
 * missing folder, a file that is not a store, a store to upgrade, whose progress the caller
 * reports): this only ever saves memory, it never decides an outcome.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** Far more than the ~0.1 s it takes; a child that hangs is killed and the caller opens. */
const CHILD_TIMEOUT_MS = 15_000

/**
 * Whether a new store was created at `path` by a child process. False when the file exists
 * already (an upgrade, or a store the header check could not judge), for `:memory:`, and when
 * the child failed in any way: the caller then opens the store on its own thread.
 */
export function createStoreApart(path: string): boolean {
  if (path === ':memory:' || existsSync(path)) return false
  const child = spawnSync(
    process.execPath,
    [fileURLToPath(new URL('./create-child.js', import.meta.url)), path],
    { stdio: 'ignore', timeout: CHILD_TIMEOUT_MS, windowsHide: true },
  )
  return child.status === 0 && existsSync(path)
}
