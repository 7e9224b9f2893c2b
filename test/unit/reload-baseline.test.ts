/**
 * What a reload compares with: the file as `portico run` loaded it at start, not the file read
 * again when the reloader is made. Portico takes a moment to start; an edit made meanwhile was
 * taken for the file in force, so it was never applied nor refused, and every later reload
 * compared with it (the security fuzzer: a replaced `[admin] token` reported "nothing to
 * change" while the old token stayed in force). Such an edit is now a reload, at once.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Config, parseConfig } from '../../src/config/schema.ts'
import { type Applied, type ReloadTarget, reloader } from '../../src/edge/reload.ts'
import { Logger } from '../../src/observe/logger.ts'

const UPSTREAM = 'http://127.0.0.1:9/mcp'

/** A mode's reload side that applies `request_timeout` and records what it applied. */
function target(config: Config): ReloadTarget & { seen: Config[] } {
  const seen: Config[] = []
  return {
    seen,
    config,
    fileConfig: config,
    applied: { top: new Set(['request_timeout']), proxy: new Set() },
    async apply(next: Config): Promise<Applied> {
      seen.push(next)
      return { changes: {} }
    },
  }
}

function logged(): { logger: Logger; lines: string[] } {
  const lines: string[] = []
  const logger = new Logger({ level: 'info', write: (line: string) => lines.push(line) })
  return { logger, lines }
}

describe('the reload baseline', () => {
  const atStart = parseConfig({ upstream: UPSTREAM, request_timeout: 30 })

  it('an edit made while Portico started is applied at once', async () => {
    const edited = parseConfig({ upstream: UPSTREAM, request_timeout: 5 })
    const mode = target(atStart)
    const { logger } = logged()
    const run = reloader(mode, { file: 'p.toml', loaded: atStart, load: () => edited }, logger)
    assert.equal(await run(), 'unchanged', 'the start-time reload already took the edit')
    assert.deepEqual(
      mode.seen.map((config) => config.request_timeout),
      [5000, 5000],
    )
    assert.equal(mode.fileConfig, edited)
  })

  it('an edit of a key only a restart applies is refused, and stays refused', async () => {
    const edited = parseConfig({
      upstream: UPSTREAM,
      request_timeout: 30,
      admin: { token: 'n'.repeat(32) },
    })
    const mode = target(atStart)
    const { logger, lines } = logged()
    const run = reloader(mode, { file: 'p.toml', loaded: atStart, load: () => edited }, logger)
    assert.equal(await run(), 'rejected')
    assert.equal(mode.seen.length, 0)
    assert.equal(mode.fileConfig, atStart)
    assert.ok(
      lines.some((line) => /cannot change while Portico runs/.test(line)),
      lines.join('\n'),
    )
  })

  it('no edit: nothing runs at start', async () => {
    const mode = target(atStart)
    const { logger, lines } = logged()
    reloader(
      mode,
      {
        file: 'p.toml',
        loaded: atStart,
        load: () => parseConfig({ upstream: UPSTREAM, request_timeout: 30 }),
      },
      logger,
    )
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(mode.seen.length, 0)
    assert.deepEqual(lines, [])
  })
})
