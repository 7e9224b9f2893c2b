/**
 * cli/cluster-reload: the primary's one line for a reload, from how it ended in each worker
 * (the reload itself is tested end to end in test/integration/workers.test.ts).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { reloadSummary } from '../../src/cli/cluster-reload.ts'
import { adopted } from '../../src/cluster/primary.ts'

describe('reloadSummary', () => {
  it('says the config was reloaded when every worker applied it', () => {
    const summary = reloadSummary([
      { slot: 1, outcome: 'applied' },
      { slot: 2, outcome: 'applied' },
    ])
    assert.deepEqual(summary, { level: 'info', message: 'config reloaded in all 2 workers' })
  })

  it('says there was nothing to change when no worker changed anything', () => {
    const summary = reloadSummary([
      { slot: 1, outcome: 'unchanged' },
      { slot: 2, outcome: 'unchanged' },
    ])
    assert.equal(summary.level, 'info')
    assert.equal(summary.message, 'config reload accepted; nothing to change')
  })

  it('is an error when no worker was serving to apply it', () => {
    const summary = reloadSummary([])
    assert.equal(summary.level, 'error')
    assert.match(summary.message, /not applied: no worker is serving .*stays in force/)
  })

  it('is an error naming the workers when they rejected it or did not answer', () => {
    const summary = reloadSummary([
      { slot: 1, outcome: 'rejected' },
      { slot: 2, outcome: 'no answer' },
    ])
    assert.equal(summary.level, 'error')
    assert.match(summary.message, /rejected .*the running config stays in force/)
    assert.deepEqual(summary.slots, { rejected: [1], 'no answer': [2] })
  })

  it('says the workers now disagree when some applied it and others did not', () => {
    const summary = reloadSummary([
      { slot: 1, outcome: 'applied' },
      { slot: 2, outcome: 'rejected' },
      { slot: 3, outcome: 'applied' },
    ])
    assert.equal(summary.level, 'error')
    assert.match(summary.message, /applied in worker\(s\) 1, 3 but not in 2: .*restart Portico/)
  })

  it('adopts a reload when a worker exited before answering: it starts again with it', () => {
    const summary = reloadSummary([
      { slot: 1, outcome: 'exited' },
      { slot: 2, outcome: 'applied' },
    ])
    assert.deepEqual(summary, {
      level: 'info',
      message:
        'config reloaded in worker(s) 2; worker(s) 1 exited meanwhile and start again with it',
    })
    assert.equal(
      adopted([
        { slot: 1, outcome: 'exited' },
        { slot: 2, outcome: 'applied' },
      ]),
      true,
    )
  })

  it('adopts nothing when every worker exited, or one exited and another refused', () => {
    const allExited = [
      { slot: 1, outcome: 'exited' },
      { slot: 2, outcome: 'exited' },
    ] as const
    assert.equal(adopted(allExited), false)
    assert.match(reloadSummary(allExited).message, /not applied: no worker is serving/)
    const refusedToo = [
      { slot: 1, outcome: 'exited' },
      { slot: 2, outcome: 'rejected' },
    ] as const
    assert.equal(adopted(refusedToo), false)
    assert.deepEqual(reloadSummary(refusedToo).slots, {
      rejected: [2],
      'no answer': [],
      exited: [1],
    })
  })
})
