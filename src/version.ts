/** Portico's version, read once from the package manifest beside the compiled code. */
import { readFileSync } from 'node:fs'

function readVersion(): string {
  try {
    // dist/src/version.js → ../../package.json
    const manifest = new URL('../../package.json', import.meta.url)
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version
  } catch {
    return '0.0.0'
  }
}

export const VERSION = readVersion()
