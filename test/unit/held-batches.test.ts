/**
 * store/held-batches: what the writer keeps between commits. Its behaviour is checked directly
 * (order, a malformed batch set aside, independence from the transferred buffer); what it exists
 * for is checked in child processes: 40 batches of 250 events waiting for a commit through
 * young collections, then read. Decoded on arrival (the writer's old way, the control that
 * shows the measure sees the problem), every waiting event is promoted; held as bytes, almost
 * nothing is (measured: about 6 MB against 0.5 MB, most of it the batch being read).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ExchangeEvent, PorticoEvent } from '../../src/observe/event.ts'
import { eventsOf, HeldBatches, type Unreadable } from '../../src/store/held-batches.ts'
import { EventBatch, encodeEvents } from '../../src/store/wire.ts'
import { moduleChildResult, PROMOTED_BY_SCAVENGES } from '../helpers/processes.ts'

const MB = 1024 * 1024

function event(n: number): ExchangeEvent {
  return {
    type: 'exchange',
    ts: 1_700_000_000_000 + n,
    proxy: 'p',
    transport: 'http',
    era: 'legacy',
    kind: 'request',
    method: 'tools/call',
    name: 'echo',
    sessionId: `s-${n % 7}`,
    outcome: 'ok',
    httpStatus: 200,
    durationUs: n,
    bytesIn: 10,
    bytesOut: 20,
    params: { text: `call ${n}` },
  } as ExchangeEvent
}

function bytesOf(events: readonly PorticoEvent[]): Uint8Array {
  const batch = new EventBatch()
  for (const e of events) batch.add(e)
  return batch.takeBytes()
}

/** Each event's `ts` less the base `event` adds: which event it is. */
const names = (events: Iterable<PorticoEvent>) => [...events].map((e) => e.ts - 1_700_000_000_000)

describe('HeldBatches', () => {
  it('gives back the events of byte and text batches in the order they came', () => {
    const held = new HeldBatches()
    const first = held.add({ json: bytesOf([event(1), event(2)]), count: 2, bytes: 0 })
    const text = held.add({ json: encodeEvents([event(3)]), count: 1, bytes: 0 })
    const last = held.add({ json: bytesOf([event(4)]), count: 1, bytes: 0 })
    const unreadable: Unreadable[] = []
    assert.deepEqual(names(eventsOf([first, text, last], held, unreadable)), [1, 2, 3, 4])
    assert.deepEqual(unreadable, [])
  })

  it('keeps its own copy: the transferred buffer can be reused or freed', () => {
    const held = new HeldBatches()
    const bytes = bytesOf([event(5)])
    const received = held.add({ json: bytes, count: 1, bytes: 0 })
    bytes.fill(0x20)
    assert.deepEqual(names(eventsOf([received], held, [])), [5])
  })

  it('sets a malformed batch aside with its error and still reads the others', () => {
    const held = new HeldBatches()
    const good = held.add({ json: bytesOf([event(6)]), count: 1, bytes: 0 })
    const bad = held.add({ json: new TextEncoder().encode('[[0,'), count: 3, bytes: 9 })
    const after = held.add({ json: bytesOf([event(7)]), count: 1, bytes: 0 })
    const unreadable: Unreadable[] = []
    assert.deepEqual(names(eventsOf([good, bad, after], held, unreadable)), [6, 7])
    assert.equal(unreadable.length, 1)
    assert.equal(unreadable[0]?.received, bad)
    assert.ok(unreadable[0]?.error instanceof SyntaxError)
  })

  it('starts again from the beginning once cleared', () => {
    const held = new HeldBatches()
    held.add({ json: bytesOf([event(8), event(9)]), count: 2, bytes: 0 })
    held.clear()
    const next = held.add({ json: bytesOf([event(10)]), count: 1, bytes: 0 })
    assert.equal(next.start, 0)
    assert.deepEqual(names(eventsOf([next], held, [])), [10])
  })
})

const HELD = new URL('../../src/store/held-batches.js', import.meta.url).href
const WIRE = new URL('../../src/store/wire.js', import.meta.url).href

/** Prints the bytes young collections promoted while batches waited for their commit. */
function waitingScript(kind: 'decoded' | 'held'): string {
  return `
    import v8 from 'node:v8'
    ${PROMOTED_BY_SCAVENGES}
    import { eventsOf, HeldBatches } from ${JSON.stringify(HELD)}
    import { decodeEvents, EventBatch } from ${JSON.stringify(WIRE)}
    const kind = ${JSON.stringify(kind)}
    const batch = new EventBatch()
    const bytesOf = (from) => {
      for (let n = from; n < from + 250; n++) {
        batch.add({ type: 'exchange', ts: n, proxy: 'p', method: 'tools/call', name: 'echo',
          sessionId: 's-' + (n % 7), params: { text: 'call ' + n + ' ' + 'x'.repeat(200) } })
      }
      return batch.takeBytes()
    }
    const held = new HeldBatches()
    const queue = []
    // What loading the modules left in the young generation is promoted before measuring.
    for (let k = 0; k < 3; k++) globalThis.gc({ type: 'minor' })
    globalThis.gc({ type: 'major' })
    const profiler = new v8.GCProfiler()
    profiler.start()
    for (let b = 0; b < 40; b++) {
      const message = { json: bytesOf(b * 250), count: 250, bytes: 0 }
      if (kind === 'decoded') queue.push(...decodeEvents(message.json))
      else queue.push(held.add(message))
      // Time passing before the commit: the proxy's thread sends a batch every 100 ms or so.
      globalThis.gc({ type: 'minor' })
    }
    let read = 0
    const events = kind === 'decoded' ? queue : eventsOf(queue, held, [])
    for (const event of events) read += event.params.text.length > 0 ? 1 : 0
    const { statistics } = profiler.stop()
    console.log(JSON.stringify({ promoted: promotedByScavenges(statistics), read }))
  `
}

function promotedBy(kind: 'decoded' | 'held'): Promise<{ promoted: number; read: number }> {
  return moduleChildResult(waitingScript(kind), ['--expose-gc'])
}

describe('batches waiting for their commit', () => {
  it('held as bytes are not promoted by young collections (decoded events all are)', async () => {
    const [decoded, held] = await Promise.all([promotedBy('decoded'), promotedBy('held')])
    assert.equal(decoded.read, 10_000)
    assert.equal(held.read, 10_000)
    assert.ok(
      decoded.promoted > 2 * MB,
      `the control must show the hazard: ${decoded.promoted} bytes promoted`,
    )
    assert.ok(
      held.promoted < decoded.promoted / 10,
      `held: ${held.promoted} bytes promoted, decoded: ${decoded.promoted}`,
    )
  })
})
