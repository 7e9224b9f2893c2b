/**
 * cli/pretenuring: the `portico` entry turns V8's allocation-site pretenuring off, unless the
 * node flags name it. The setting changes a whole process, so each case runs in a child. What
 * it prevents (a gateway whose per-call sites V8 tenured under load, promoting ~1.4 MB per
 * young collection from then on) shows only under minutes of real load, in some runs: it is
 * measured in the perf2 log (step 42), not here.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'

const PRETENURING = new URL('../../src/cli/pretenuring.js', import.meta.url).href

function appliedIn(flags: string): boolean {
  const run = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { allocateYoung } = await import(${JSON.stringify(PRETENURING)})
       console.log(JSON.stringify(allocateYoung(${JSON.stringify(flags)})))`,
    ],
    { encoding: 'utf8' },
  )
  assert.equal(run.status, 0, run.stderr)
  return JSON.parse(run.stdout.trim()) as boolean
}

describe('pretenuring', () => {
  it('is turned off by default', () => {
    assert.equal(appliedIn(''), true)
  })

  it('is left alone when the node flags name it', () => {
    assert.equal(appliedIn('--allocation-site-pretenuring'), false)
    assert.equal(appliedIn('--max-old-space-size=512 --no-allocation-site-pretenuring'), false)
  })
})
