/**
 * A reload target for tests of `reload()` itself: the config it runs, and whether (and with
 * what) the reload applied a new one. What a mode does with it is tested elsewhere.
 */
import type { Config } from '../../src/config/schema.ts'

export function stubReloadTarget(
  running: Config,
  changes: { added?: string[]; removed?: string[]; changed?: string[] } = {},
) {
  const state = { applied: undefined as Config | undefined }
  const target = {
    config: running,
    fileConfig: running,
    apply: async (config: Config) => {
      state.applied = config
      return { added: [], removed: [], changed: [], ...changes }
    },
  }
  return { target, state }
}
