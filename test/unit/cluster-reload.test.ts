/**
 * cli/cluster-reload: the primary's one line for a reload, from how it ended in each worker
 * (the reload itself is tested end to end in test/integration/workers.test.ts).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { reloadSummary } from '../../src/cli/cluster-reload.ts'

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
})
