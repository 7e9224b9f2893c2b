/**
 * The child process of create-apart.ts: creates the store named by its one argument at this
 * schema and exits 0, or exits 1 leaving the error to the parent's own open (which explains
 * it). Never imported.
 */
import { openStore } from './open.ts'

const path = process.argv[2]
try {
  if (path === undefined) throw new Error('usage: create-child.js PATH')
  openStore(path, { create: true }).close()
} catch {
  process.exitCode = 1
}
