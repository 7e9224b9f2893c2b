/** Where a command is on the PATH (an executable file), as `command -v` in `.ci/run` finds it. */
import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'

export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, command)
    try {
      if (!statSync(candidate).isFile()) continue
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}
