/**
 * Temporary folders for a test file, removed when its process exits: each test file runs in
 * its own process, and folders left behind pile up in the temp dir run after run (hundreds per
 * CI run on a developer's machine before this helper).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const made: string[] = []
let hooked = false

/** A new empty folder under the OS temp dir, named `prefix` + random suffix. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  if (!hooked) {
    hooked = true
    process.on('exit', removeAll)
  }
  return dir
}

function removeAll(): void {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // A folder a child process still writes to is left; the OS temp dir is cleaned anyway.
    }
  }
}
