/**
 * Where the browser tests find Chromium: `chromium` on the PATH, exactly what `.ci/run` checks
 * for and installs (Debian's `chromium` package) when it is missing.
 */
import { findOnPath } from './which.ts'

export function findChromium(): string | undefined {
  return findOnPath('chromium')
}

const MISSING = 'chromium is not on the PATH (apt-get install chromium)'

/**
 * A browser test's `skip` option. Without Chromium it is skipped locally, and under CI=true
 * (`.ci/run` sets it and installs Chromium) it runs and fails in `requireChromium`: a missing
 * browser must never pass the CI run silently.
 */
export const skipWithoutChromium: string | false =
  findChromium() === undefined && process.env.CI !== 'true' && MISSING

/** Chromium's path, or the failure that says how to install it. */
export function requireChromium(): string {
  const path = findChromium()
  if (path === undefined) throw new Error(`${MISSING}: .ci/run installs it`)
  return path
}
