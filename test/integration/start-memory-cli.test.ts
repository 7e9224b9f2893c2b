/**
 * What `portico` does with V8 as it starts (src/cli/start-memory.ts, src/cli/pretenuring.ts):
 * the young generation is held, WebAssembly compiled by the baseline compiler and allocation-site
 * pretenuring turned off before the command loads its implementation, and the hold ends when the proxy (or the dashboard) listens, not at the
 * 10 s fallback. The built CLI runs with a preload that records each flag set at run time, and
 * the log is read as the listening line arrives; `NODE_OPTIONS` sizing the semi-space leaves the
 * young generation alone, and a node flag naming pretenuring leaves pretenuring alone.
 */
import assert from 'node:assert/strict'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { openStore } from '../../src/store/open.ts'
import { CLI, cliEnv } from '../helpers/cli.ts'
import { spawnReady } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

const RECORDER = new URL('../fixtures/record-v8-flags.js', import.meta.url).href
const HOLD = '--semi-space-growth-factor=1'
const RELEASE = '--semi-space-growth-factor=2'
const BASELINE_WASM = '--liftoff-only'
const NO_PRETENURING = '--no-allocation-site-pretenuring'

const dir = scratchDir('portico-start-memory-')
after(() => rmSync(dir, { recursive: true, force: true }))

let runs = 0

/** Starts `portico <args>` with the recorder; the flags set by the time `ready` is printed. */
async function flagsBy(
  args: string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = {},
  nodeArgs: string[] = [],
): Promise<string[]> {
  const log = join(dir, `flags-${++runs}.log`)
  writeFileSync(log, '')
  const started = await spawnReady(
    process.execPath,
    [...nodeArgs, '--import', RECORDER, CLI, ...args],
    {
      env: cliEnv({ PORTICO_TEST_V8_FLAG_LOG: log, ...env }),
      ready,
    },
  )
  try {
    return readFileSync(log, 'utf8').split('\n').filter(Boolean)
  } finally {
    await started.stop()
  }
}

/** A port nothing listens on: the proxy starts (and says the upstream is not answering). */
const UPSTREAM = 'http://127.0.0.1:9/mcp'

describe('portico start-up and V8', () => {
  it('run: holds the young generation while it starts and releases it once it listens', async () => {
    const flags = await flagsBy(
      ['run', '--upstream', UPSTREAM, '--port', '0', '--db', join(dir, 'run.db')],
      /Portico listening on/,
    )
    assert.deepEqual(flags, [HOLD, BASELINE_WASM, NO_PRETENURING, RELEASE])
  })

  it('dashboard: released once it listens', async () => {
    const store = join(dir, 'dashboard.db')
    openStore(store, { create: true }).close()
    const flags = await flagsBy(['dashboard', '--db', store, '--port', '0'], /Portico dashboard on/)
    assert.deepEqual(flags, [HOLD, BASELINE_WASM, NO_PRETENURING, RELEASE])
  })

  it('leaves the young generation alone when NODE_OPTIONS sizes it', async () => {
    const flags = await flagsBy(
      ['run', '--upstream', UPSTREAM, '--port', '0', '--db', join(dir, 'tuned.db')],
      /Portico listening on/,
      { NODE_OPTIONS: '--max-semi-space-size=8' },
    )
    assert.deepEqual(flags, [BASELINE_WASM, NO_PRETENURING])
  })

  it('leaves pretenuring alone when a node flag names it', async () => {
    const flags = await flagsBy(
      ['run', '--upstream', UPSTREAM, '--port', '0', '--db', join(dir, 'pretenured.db')],
      /Portico listening on/,
      {},
      ['--allocation-site-pretenuring'],
    )
    assert.deepEqual(flags, [HOLD, BASELINE_WASM, RELEASE])
  })
})
