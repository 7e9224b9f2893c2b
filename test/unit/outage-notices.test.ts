/**
 * Outage notices: a dependency that flaps is not logged once per flap; the first outages of a
 * window are said at once, the rest summed up when the window ends (still down, or back).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { OutageNotices } from '../../src/protect/outage-notices.ts'
import { until } from '../helpers/wait.ts'

function recorder() {
  const lines: string[] = []
  return {
    lines,
    voice: {
      down: (reason: string, earlier: number) => lines.push(`down ${reason} +${earlier}`),
      up: () => lines.push('up'),
      flapped: (count: number, reason: string) => lines.push(`flapped ${count} ${reason}`),
    },
  }
}

describe('OutageNotices', () => {
  it('says each outage and its end while they are few', () => {
    const { lines, voice } = recorder()
    const notices = new OutageNotices(voice, { burst: 3, windowMs: 60_000 })
    notices.down('refused')
    notices.down('refused again') // already down: nothing new
    notices.up()
    notices.up()
    notices.down('timeout')
    notices.up()
    assert.deepEqual(lines, ['down refused +0', 'up', 'down timeout +0', 'up'])
    notices.close()
  })

  it('sums up a flapping dependency that came back: one line for the flaps past the burst', async () => {
    const { lines, voice } = recorder()
    const notices = new OutageNotices(voice, { burst: 2, windowMs: 300 })
    for (let i = 0; i < 50; i++) {
      notices.down(`flap ${i}`)
      notices.up()
    }
    assert.deepEqual(lines, ['down flap 0 +0', 'up', 'down flap 1 +0', 'up'])
    await until(() => lines.length > 4 || undefined, 5000, 'the summary')
    assert.deepEqual(lines.slice(4), ['flapped 48 flap 49'])
    notices.close()
  })

  it('says an outage that lasts past the window, with the flaps before it', async () => {
    const { lines, voice } = recorder()
    const notices = new OutageNotices(voice, { burst: 1, windowMs: 300 })
    notices.down('first')
    notices.up()
    for (let i = 0; i < 5; i++) {
      notices.up()
      notices.down(`flap ${i}`)
    }
    // Left down: the log must not end on "up" while the dependency is down.
    await until(() => lines.length > 2 || undefined, 5000, 'the lasting outage')
    assert.deepEqual(lines, ['down first +0', 'up', 'down flap 4 +4'])
    notices.up()
    assert.deepEqual(lines.at(-1), 'up')
    notices.close()
  })
})
