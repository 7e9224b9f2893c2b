/**
 * Where the browser test finds Chromium: `chromium` on the PATH, exactly what `.ci/run` checks
 * for and installs (Debian's `chromium` package) when it is missing.
 */
import { findOnPath } from './which.ts'

export function findChromium(): string | undefined {
  return findOnPath('chromium')
}
