/** Paths of the npm MCP servers used as gateway backends, and of the compiled fixtures. */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** The bin script of an installed npm MCP server, run with `process.execPath`. */
export function serverBin(pkg: 'everything' | 'memory' | 'filesystem'): string {
  return join(ROOT, 'node_modules', '@modelcontextprotocol', `server-${pkg}`, 'dist', 'index.js')
}

/** Compiled fixture path (tests run from dist/). */
export function fixture(name: string): string {
  return join(ROOT, 'dist', 'test', 'fixtures', `${name}.js`)
}
