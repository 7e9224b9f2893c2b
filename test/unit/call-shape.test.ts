/**
 * pipeline/call: every call is built with the slots that later copies set (`{ ...call, trace }`,
 * the gateway's `{ ...call, ref, sinkFor }`), because a spread copy given a property its
 * original lacks is a GC hazard on Node 20 and 22, not only a slower path: such copies, and all
 * they point to, survive V8's young collections. The same holds for a literal that begins with
 * a spread of a smaller object and adds properties (the gateway's relay sinks were built so).
 * A second hazard of the same kind: an object literal with a getter, made per request (the
 * gateway's pending-request records had one). And a copy given the property afterwards
 * (`tracedParams` had the spread form, then was measured in that one).
 * Each is shown in child processes (their own heaps), counting what young collections
 * promoted, against the harmless form.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { tracedParams } from '../../src/gateway/backends/backend.ts'
import { requestCall } from '../helpers/calls.ts'
import { moduleChildResult, PROMOTED_BY_SCAVENGES, printPromotedBy } from '../helpers/processes.ts'

const MB = 1024 * 1024

/** The slots copies of a call set along the chain and in the gateway. */
const LATER_SLOTS = [
  'upstream',
  'timeoutMs',
  'trace',
  'visible',
  'forwarded',
  'onBehalf',
  'ref',
  'sinkFor',
] as const

/**
 * Makes 200,000 spread copies of small call-like objects and prints the bytes V8's young
 * collections promoted meanwhile (v8.GCProfiler: old space after minus before, per scavenge).
 */
function copiesScript(slotPresent: boolean): string {
  const call = slotPresent
    ? '{ id: i, message: { payload: new Array(64).fill(i) }, ref: undefined }'
    : '{ id: i, message: { payload: new Array(64).fill(i) } }'
  return `
    import v8 from 'node:v8'
    ${PROMOTED_BY_SCAVENGES}
    const session = { key: 'k' }
    function copies(n) {
      let sum = 0
      for (let i = 0; i < n; i++) {
        const call = ${call}
        const copy = { ...call, ref: session }
        sum += copy.id
      }
      return sum
    }
    ${printPromotedBy('copies')}
  `
}

/**
 * 200,000 records of a pending request, each a literal with closures over a 0.6 KB message,
 * with a getter or with a plain field; prints what young collections promoted.
 */
function recordsScript(withGetter: boolean): string {
  const settled = withGetter ? 'get settled() { return message === undefined }' : 'settled: false'
  return `
    import v8 from 'node:v8'
    ${PROMOTED_BY_SCAVENGES}
    function records(n) {
      let sum = 0
      for (let i = 0; i < n; i++) {
        const message = { payload: new Array(64).fill(i) }
        const record = { id: i, resolve: () => message, ${settled} }
        sum += record.id
      }
      return sum
    }
    ${printPromotedBy('records')}
  `
}

const RELATED_TURN = new URL('../../src/gateway/related-turn.js', import.meta.url).href

/**
 * 200,000 relay turns (the sink each attempt of a gateway call gets), each over a sink whose
 * closure holds a 0.6 KB message: made by `oneRelayAtATime` as it is, or (the control) by the
 * form it had, a literal beginning with a spread of `{ owner }` and adding its methods.
 */
function turnsScript(form: 'kept' | 'spread'): string {
  return `
    import v8 from 'node:v8'
    ${PROMOTED_BY_SCAVENGES}
    import { oneRelayAtATime } from ${JSON.stringify(RELATED_TURN)}
    const owner = { key: 'session' }
    const spreadTurn = (sinkFor) => (connection) => {
      const sink = sinkFor(connection)
      return {
        ...(sink.owner === undefined ? {} : { owner: sink.owner }),
        related(message) { sink.related(message) },
        end() {},
      }
    }
    const wrap = ${form === 'kept' ? 'oneRelayAtATime' : 'spreadTurn'}
    function turns(n) {
      let sum = 0
      for (let i = 0; i < n; i++) {
        const message = { payload: new Array(64).fill(i) }
        const turn = wrap(() => ({ owner, related: () => message }))({})
        sum += turn.owner === owner ? 1 : 0
      }
      return sum
    }
    ${printPromotedBy('turns')}
  `
}

const BACKEND = new URL('../../src/gateway/backends/backend.js', import.meta.url).href

/**
 * 200,000 backend requests' params, each parsed from a 0.6 KB body, given a `_meta.traceparent`
 * by `tracedParams` as it is, or (the control) by the form it had: a spread copy that gains the
 * `_meta` its source lacks.
 */
function tracedScript(form: 'kept' | 'spread'): string {
  return `
    import v8 from 'node:v8'
    ${PROMOTED_BY_SCAVENGES}
    import { tracedParams } from ${JSON.stringify(BACKEND)}
    const spread = (params, traceparent) => ({ ...params, _meta: { ...(params._meta ?? {}), traceparent } })
    const traced = ${form === 'kept' ? 'tracedParams' : 'spread'}
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    const filler = 'x'.repeat(600)
    function sends(n) {
      let sum = 0
      for (let i = 0; i < n; i++) {
        const params = JSON.parse('{"name":"echo","arguments":{"text":"' + filler + i + '"}}')
        sum += traced(params, traceparent)._meta.traceparent.length
      }
      return sum
    }
    ${printPromotedBy('sends')}
  `
}

describe('the shape of calls', () => {
  it('has, from the start, every slot that copies of it set later', () => {
    const call = requestCall('tools/call', { name: 'echo', arguments: {} })
    for (const slot of LATER_SLOTS) {
      assert.ok(Object.hasOwn(call, slot), `a call lacks the "${slot}" slot`)
    }
  })

  it('a spread copy that adds a property keeps its garbage alive; one that sets an existing slot does not', async () => {
    const [added, present] = await Promise.all([
      moduleChildResult<{ promoted: number }>(copiesScript(false)),
      moduleChildResult<{ promoted: number }>(copiesScript(true)),
    ])
    // Each copy points to a ~0.6 KB message, garbage at once: ~120 MB allocated in all.
    // Measured: about 15 MB promoted when the copy adds the property, 0.2 MB when it sets it.
    assert.ok(added.promoted > 5 * MB, `control: adding the property promoted ${added.promoted} B`)
    assert.ok(present.promoted < 2 * MB, `setting the slot promoted ${present.promoted} B`)
  })

  it("the gateway's relay turns are literals with their slots in place: one beginning with a spread kept its garbage alive", async () => {
    const [spread, kept] = await Promise.all([
      moduleChildResult<{ promoted: number }>(turnsScript('spread')),
      moduleChildResult<{ promoted: number }>(turnsScript('kept')),
    ])
    assert.ok(spread.promoted > 5 * MB, `control: the spread turns promoted ${spread.promoted} B`)
    assert.ok(kept.promoted < 2 * MB, `oneRelayAtATime's turns promoted ${kept.promoted} B`)
  })

  it('a literal with a getter made per request keeps its garbage alive; a field does not (gateway pending requests use a field)', async () => {
    const [getter, field] = await Promise.all([
      moduleChildResult<{ promoted: number }>(recordsScript(true)),
      moduleChildResult<{ promoted: number }>(recordsScript(false)),
    ])
    assert.ok(
      getter.promoted > 5 * MB,
      `control: the getter's records promoted ${getter.promoted} B`,
    )
    assert.ok(field.promoted < 2 * MB, `the field's records promoted ${field.promoted} B`)
  })
  it("a traced backend request's params gain `_meta` without the spread hazard", async () => {
    const [spread, kept] = await Promise.all([
      moduleChildResult<{ promoted: number }>(tracedScript('spread')),
      moduleChildResult<{ promoted: number }>(tracedScript('kept')),
    ])
    // Measured: ~24 MB promoted by the spread form, ~6 MB by tracedParams, as much as parsing
    // the bodies alone promotes (the params given `_meta` in place: 5.9 MB).
    assert.ok(spread.promoted > 15 * MB, `control: the spread form promoted ${spread.promoted} B`)
    assert.ok(kept.promoted < 10 * MB, `tracedParams promoted ${kept.promoted} B`)
  })
  it('tracedParams puts the attempt in `_meta.traceparent` and keeps the rest of `_meta`', () => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    assert.deepEqual(tracedParams(undefined, tp), { _meta: { traceparent: tp } })
    assert.deepEqual(tracedParams({ name: 'echo' }, tp), {
      name: 'echo',
      _meta: { traceparent: tp },
    })
    assert.deepEqual(tracedParams({ name: 'echo', _meta: { progressToken: 7 } }, tp), {
      name: 'echo',
      _meta: { progressToken: 7, traceparent: tp },
    })
    // The client's own context is the parent of the attempt's: the attempt's goes on.
    assert.deepEqual(tracedParams({ _meta: { traceparent: '00-old', x: 1 } }, tp), {
      _meta: { traceparent: tp, x: 1 },
    })
    assert.deepEqual(tracedParams({ _meta: 'text' }, tp), { _meta: { traceparent: tp } })
    const untouched = { name: 'echo' }
    assert.equal(tracedParams(untouched, undefined), untouched)
  })
})
