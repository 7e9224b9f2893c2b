/**
 * Each traffic-protection middleware alone, with a stub `next` and a hand-driven clock: rate
 * limits, the concurrency queue, the circuit breaker, retries and their budget, hedging, the
 * whole-call deadline, outlier ejection, the response cache, coalescing and the routing picks.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  breakerSchema,
  cacheSchema,
  concurrencySchema,
  hedgingSchema,
  outlierSchema,
  type ProtectConfig,
  rateLimitSchema,
  retrySchema,
} from '../../src/config/protect.ts'
import { notSent, PorticoError } from '../../src/errors.ts'
import type { JsonRpcResponse } from '../../src/jsonrpc/message.ts'
import { Logger } from '../../src/observe/logger.ts'
import { type Call, noteAskedClient } from '../../src/pipeline/call.ts'
import { compose, type Handler, type Middleware } from '../../src/pipeline/compose.ts'
import { MessageReply, type Reply, StreamEvent, StreamReply } from '../../src/pipeline/reply.ts'
import { CallController, type CallSignal } from '../../src/pipeline/signal.ts'
import { CircuitBreaker } from '../../src/protect/breaker.ts'
import {
  forgettingUpdatedResources,
  ResponseCache,
  responseCache,
  updatedResourceOf,
} from '../../src/protect/cache.ts'
import { callTimeout } from '../../src/protect/call-timeout.ts'
import { coalesce } from '../../src/protect/coalesce.ts'
import { ConcurrencyLimiter, concurrencyLimit } from '../../src/protect/concurrency.ts'
import { upstreamHealth } from '../../src/protect/health.ts'
import { hedging } from '../../src/protect/hedge.ts'
import { ToolHints } from '../../src/protect/hints.ts'
import { OutlierDetector, OutlierGroup } from '../../src/protect/outlier.ts'
import { UpstreamProtection } from '../../src/protect/policies.ts'
import { globalRateLimit, upstreamRateLimit } from '../../src/protect/rate-limit.ts'
import type { RedisStore, SharedBucket, TokenVerdict } from '../../src/protect/redis-store.ts'
import { RetryBudget, retry } from '../../src/protect/retry.ts'
import { TokenBucket } from '../../src/protect/token-bucket.ts'
import { AsyncQueue } from '../../src/util/async-queue.ts'
import { callOf, callOfText, requestCall } from '../helpers/calls.ts'
import { ManualClock, settle } from '../helpers/clock.ts'

/** Runs one middleware as the chain does (a synchronous throw becomes a rejection). */
function through(
  middleware: Middleware | undefined,
): (call: Call, next: Handler) => Promise<Reply> {
  assert.ok(middleware)
  return (call, next) => compose([middleware], next)(call)
}

function ok(call: Call, result: object = { content: [] }): MessageReply {
  return MessageReply.of({ jsonrpc: '2.0', id: call.id ?? null, result } as JsonRpcResponse)
}

async function resultOf(reply: Reply): Promise<unknown> {
  return (await (reply as MessageReply).json())?.result
}

function failure(): PorticoError {
  return new PorticoError('backend_failed', { message: 'Backend b failed: boom' })
}

const toolCall = (name: string, id: number | string = 1, headers = {}) =>
  callOf(
    { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { q: 1 } } },
    { headers },
  )

describe('rate limits', () => {
  it('refuses past the burst with rate_limited, 429 and Retry-After, and refills with time', async () => {
    const clock = new ManualClock()
    const rate2 = { requests: 2, period_seconds: 1 }
    const limit = through(upstreamRateLimit('b', rate2, new TokenBucket(rate2, clock), undefined))
    const next: Handler = async (call) => ok(call)
    await limit(requestCall('ping'), next)
    await limit(requestCall('ping'), next)
    const refused = await limit(requestCall('ping'), next).then(
      () => undefined,
      (error: PorticoError) => error,
    )
    assert.equal(refused?.reason, 'rate_limited')
    assert.equal(refused?.status, 429)
    assert.equal(refused?.headers?.['retry-after'], '1')
    await clock.advance(500) // one token back at 2 per second
    await limit(requestCall('ping'), next)
    await assert.rejects(limit(requestCall('ping'), next), /Rate limit of b/)
  })

  it('names a wait of a very long period in whole seconds a client can read', async () => {
    // Before: `period_seconds = 1e300` (a rate's period may be that long) gave
    // `Retry-After: 1e+300`, which is no number of seconds.
    const clock = new ManualClock()
    const rare = { requests: 1, period_seconds: 1e300 }
    const limit = through(upstreamRateLimit('b', rare, new TokenBucket(rare, clock), undefined))
    await limit(requestCall('ping'), async (call) => ok(call))
    const refused = await limit(requestCall('ping'), async (call) => ok(call)).then(
      () => undefined,
      (error: PorticoError) => error,
    )
    assert.equal(refused?.headers?.['retry-after'], '2147483647')
    assert.equal(refused?.data?.retryAfterMs, 2_147_483_647_000)
  })

  it('counts per client identity, per session and per tool, and only requests', async () => {
    const clock = new ManualClock()
    const limit = through(
      globalRateLimit(
        {
          period_seconds: 1,
          per_client: { requests: 1, period_seconds: 60 },
          per_tool: [{ tool: 'pay*', requests: 1, period_seconds: 60 }],
        },
        clock,
      ),
    )
    const next: Handler = async (call) => ok(call)
    const alice = { authorization: 'Bearer alice' }
    const bob = { authorization: 'Bearer bob' }
    await limit(toolCall('search', 1, alice), next)
    await assert.rejects(limit(toolCall('search', 2, alice), next), /per client/)
    await limit(toolCall('payment', 3, bob), next)
    const carol = { authorization: 'Bearer carol' }
    await assert.rejects(limit(toolCall('payment', 4, carol), next), /per tool matching pay\*/)
    // A notification takes no token.
    await limit(
      callOf({ jsonrpc: '2.0', method: 'notifications/initialized' }, { headers: alice }),
      next,
    )
  })

  it("takes no token of a retry that resumes a call admitted already (the gateway's say)", async () => {
    const parked = new Set(['state-1'])
    const limit = through(
      globalRateLimit(
        { period_seconds: 1, per_tool: [{ tool: 'ask', requests: 1, period_seconds: 60 }] },
        new ManualClock(),
        undefined,
        {
          callTool: 'portico__call_tool',
          resumes: (call) => {
            const params = (call.message as { params?: { requestState?: string } }).params
            return parked.delete(params?.requestState ?? '')
          },
          toolNames: () => undefined,
        },
      ),
    )
    const next: Handler = async (call) => ok(call)
    const ask = (id: number, requestState?: string) =>
      requestCall(
        'tools/call',
        { name: 'ask', arguments: {}, ...(requestState ? { requestState } : {}) },
        id,
      )
    await limit(ask(1), next)
    // Its retry with the client's answers: it was refused 429, and the parked call never ended.
    await limit(ask(2, 'state-1'), next)
    // Anything else is charged: a requestState that resumes nothing, or the same one again.
    await assert.rejects(limit(ask(3, 'state-1'), next), /per tool matching ask/)
    await assert.rejects(limit(ask(4), next), /per tool matching ask/)
  })
})

describe('per-tool rate limits of an aliased tool (gateway)', () => {
  // `b__echo` is the alias of the backend's `say`, which `b__say` still reaches.
  const toolNames = (name: string) =>
    name === 'b__echo' || name === 'b__say' ? { exposed: 'b__echo', original: 'b__say' } : undefined
  const gateway = { callTool: 'portico__call_tool', resumes: () => false, toolNames }
  const next: Handler = async (call) => ok(call)

  for (const written of ['b__say', 'b__echo']) {
    it(`a rule on ${written} holds under both names, with one budget`, async () => {
      const limit = through(
        globalRateLimit(
          { period_seconds: 1, per_tool: [{ tool: written, requests: 1, period_seconds: 60 }] },
          new ManualClock(),
          undefined,
          gateway,
        ),
      )
      await limit(toolCall('b__say', 1), next)
      await assert.rejects(limit(toolCall('b__echo', 2), next), /per tool matching/)
      await assert.rejects(limit(toolCall('b__say', 3), next), /per tool matching/)
      // Another tool is not touched by it.
      await limit(toolCall('b__other', 4), next)
    })
  }
})

describe('rate limits, against names a client makes up', () => {
  it('counts tool names longer than any real one as one name, without a pattern over them', async () => {
    const clock = new ManualClock()
    const limit = through(
      globalRateLimit(
        { period_seconds: 1, per_tool: [{ tool: '*get*list*', requests: 1, period_seconds: 60 }] },
        clock,
      ),
    )
    const next: Handler = async (call) => ok(call)
    // Megabyte names, each different: without the bound each would be its own budget (and
    // this glob's match would take time quadratic in the name's length).
    await limit(toolCall(`${'get'.repeat(300_000)}a`), next)
    await assert.rejects(
      limit(toolCall(`${'get'.repeat(300_000)}b`), next),
      /per tool matching \*get\*list\*/,
    )
    // Real names are told apart as before.
    await limit(toolCall('get_list'), next)
    await limit(toolCall('search'), next)
  })

  it('keeps a drained tool limited however many other names a client calls', async () => {
    const clock = new ManualClock()
    const limit = through(
      globalRateLimit(
        { period_seconds: 1, per_tool: [{ tool: '*', requests: 1, period_seconds: 3600 }] },
        clock,
      ),
    )
    const next: Handler = async (call) => ok(call)
    await limit(toolCall('echo'), next)
    await assert.rejects(limit(toolCall('echo'), next), /per tool matching \*/)
    // Before: the 1,000 made-up names pushed echo's drained bucket out of the table, and echo
    // had its budget back.
    for (let i = 0; i < 1200; i++) await limit(toolCall(`junk${i}`), next).catch(() => {})
    await assert.rejects(limit(toolCall('echo'), next), /per tool matching \*/)
    // Names beyond the table share one budget: limited together, not each unlimited.
    await assert.rejects(limit(toolCall('another'), next), /per tool matching \*/)
    // Refilled buckets are forgotten for new names (a full bucket is a new one).
    await clock.advance(3_600_100)
    await limit(toolCall('fresh'), next)
    await limit(toolCall('echo'), next)
  })

  it('limits calls whose name is no string together, never each unlimited', async () => {
    const limit = through(
      globalRateLimit(
        { period_seconds: 1, per_tool: [{ tool: 'expensive', requests: 1, period_seconds: 60 }] },
        new ManualClock(),
      ),
    )
    const next: Handler = async (call) => ok(call)
    const named = (name: unknown, id: number) =>
      callOf({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } })
    await limit(named(['expensive'], 1), next)
    // Before: no rule matched a name that is no string, and each such call went unlimited.
    await assert.rejects(limit(named(['expensive'], 2), next), /per tool matching expensive/)
    await assert.rejects(limit(named({ n: 1 }, 3), next), /per tool matching expensive/)
  })
})

describe('rate limits, all or none', () => {
  it("a call one limit refuses takes no token from the others (one client cannot spend everyone's budget)", async () => {
    const clock = new ManualClock()
    const limit = through(
      globalRateLimit(
        {
          requests: 2,
          period_seconds: 60,
          per_client: { requests: 1, period_seconds: 60 },
          per_tool: [],
        },
        clock,
      ),
    )
    const next: Handler = async (call) => ok(call)
    const alice = { authorization: 'Bearer alice' }
    await limit(toolCall('search', 1, alice), next)
    for (let id = 2; id < 6; id++) {
      await assert.rejects(limit(toolCall('search', id, alice), next), /per client/)
    }
    // The global budget still has its second token for someone else, then none.
    await limit(toolCall('search', 6, { authorization: 'Bearer bob' }), next)
    await assert.rejects(
      limit(toolCall('search', 7, { authorization: 'Bearer carol' }), next),
      /2 per 60 s in all/,
    )
  })
})

describe('rate limits shared through a store', () => {
  /** A store that answers what the test says, and remembers the buckets it was asked for. */
  function store(verdict: TokenVerdict | undefined) {
    const asked: SharedBucket[][] = []
    const shared = {
      rateLimits: true,
      takeTokens: async (buckets: readonly SharedBucket[]) => {
        asked.push([...buckets])
        return verdict
      },
    }
    return { shared: shared as unknown as RedisStore, asked }
  }
  const config = {
    period_seconds: 1,
    per_client: { requests: 1, period_seconds: 60 },
    per_tool: [{ tool: 'pay*', requests: 5, period_seconds: 10, burst: 2 }],
  }
  const next: Handler = async (call) => ok(call)
  const alice = { authorization: 'Bearer alice' }

  it("asks for every bucket a call takes from, in one go, and refuses with the refusing one's words", async () => {
    const { shared, asked } = store({ granted: false, index: 1, waitMs: 2500 })
    const limit = through(globalRateLimit(config, new ManualClock(), shared))
    const refused = await limit(toolCall('payment', 1, alice), next).then(
      () => undefined,
      (error: PorticoError) => error,
    )
    assert.match(
      refused?.message ?? '',
      /Rate limit reached \(5 per 10 s per tool matching pay\*\)/,
    )
    assert.equal(refused?.headers?.['retry-after'], '3')
    assert.equal(asked.length, 1)
    // Keys are the scope and a digest of what they count: no identity or name in Redis.
    assert.deepEqual(
      asked[0]?.map((b) => [b.key.replace(/:[\w-]{22}$/, ':…'), b.capacity, b.ratePerMs]),
      [
        ['client:…', 1, 1 / 60_000],
        ['tool:…', 2, 5 / 10_000],
      ],
    )
    assert.ok(!asked[0]?.some((b) => b.key.includes('payment') || b.key.includes('cred')))
    // A tool no rule names takes from the client's bucket only.
    await limit(toolCall('search', 2, alice), async (call) => ok(call)).catch(() => undefined)
    assert.deepEqual(
      asked[1]?.map((b) => b.key.split(':')[0]),
      ['client'],
    )
  })

  it('spends what the store granted from the own buckets too, so a fallback starts from what is left', async () => {
    let verdict: TokenVerdict | undefined = { granted: true }
    const shared = {
      rateLimits: true,
      takeTokens: async () => verdict,
    } as unknown as RedisStore
    const limit = through(
      globalRateLimit(
        { period_seconds: 1, per_client: { requests: 2, period_seconds: 60 }, per_tool: [] },
        new ManualClock(),
        shared,
      ),
    )
    await limit(toolCall('search', 1, alice), next)
    // The store stops answering: one of the client's two tokens is left here, not two.
    verdict = undefined
    await limit(toolCall('search', 2, alice), next)
    await assert.rejects(limit(toolCall('search', 3, alice), next), /per client/)
  })

  it('a grant is refused only when the own bucket is further from a token than the store timeout', async () => {
    let verdict: TokenVerdict | undefined = { granted: true }
    const shared = {
      rateLimits: true,
      timeoutMs: 100,
      takeTokens: async () => verdict,
    } as unknown as RedisStore
    const clock = new ManualClock()
    const limit = through(
      globalRateLimit(
        {
          period_seconds: 1,
          per_client: { requests: 20, period_seconds: 1, burst: 1 },
          per_tool: [],
        },
        clock,
        shared,
      ),
    )
    await limit(toolCall('search', 1, alice), next)
    // The store's clock refilled a token a few ms before this process's did: granted.
    await clock.advance(47)
    await limit(toolCall('search', 2, alice), next)
    // An outage: the process admits alone; the store, back (restarted empty), grants anew,
    // but what was admitted meanwhile still counts.
    const slow = through(
      globalRateLimit(
        { period_seconds: 1, per_client: { requests: 2, period_seconds: 3600 }, per_tool: [] },
        clock,
        shared,
      ),
    )
    verdict = undefined
    await slow(toolCall('search', 3, alice), next)
    await slow(toolCall('search', 4, alice), next)
    verdict = { granted: true }
    await assert.rejects(slow(toolCall('search', 5, alice), next), /per client/)
    // The tolerance is a few milliseconds of one token, not a way past the bucket: grants in
    // a row at a fast limit spend below zero, and soon wait longer than it.
    verdict = undefined
    await limit(toolCall('search', 6, alice), next).catch(() => undefined)
    verdict = { granted: true }
    let admitted = 0
    for (let i = 0; i < 10; i++) {
      await limit(toolCall('search', 10 + i, alice), next).then(
        () => admitted++,
        () => undefined,
      )
    }
    assert.ok(admitted <= 2, `${admitted} of 10 admitted at once after the bucket ran dry`)
  })

  it("falls back to the process's own buckets when the store cannot say: limited, not lifted", async () => {
    const { shared } = store(undefined)
    const limit = through(globalRateLimit(config, new ManualClock(), shared))
    await limit(toolCall('search', 1, alice), next)
    await assert.rejects(limit(toolCall('search', 2, alice), next), /per client/)
    const perMinute = { requests: 1, period_seconds: 60 }
    const upstream = through(
      upstreamRateLimit('b', perMinute, new TokenBucket(perMinute, new ManualClock()), shared),
    )
    await upstream(requestCall('ping'), next)
    await assert.rejects(upstream(requestCall('ping'), next), /Rate limit of b/)
  })
})

describe('concurrency', () => {
  const config = concurrencySchema.parse({ max_concurrent: 1, max_queue: 1, queue_timeout: 5 })

  it('queues within its bounds, refuses beyond them, and notes the queued time', async () => {
    const clock = new ManualClock()
    const limiter = new ConcurrencyLimiter('b', config, clock)
    const limit = concurrencyLimit(limiter, clock)
    const first = requestCall('ping', undefined, 1)
    await limit(first, async (call) => ok(call))
    assert.equal(limiter.active, 1, 'held until the answer is written')
    const second = requestCall('ping', undefined, 2)
    const waiting = limit(second, async (call) => ok(call))
    await settle()
    assert.equal(limiter.queued, 1)
    await assert.rejects(
      limit(requestCall('ping', undefined, 3), async (c) => ok(c)),
      (error) => {
        assert.equal((error as PorticoError).reason, 'rate_limited')
        assert.equal((error as PorticoError).data?.reason, 'queue_full')
        return true
      },
    )
    await clock.advance(1200)
    first.lifetime.end()
    await waiting
    assert.equal(second.notes.queuedMs, 1200)
    second.lifetime.end()
    assert.equal(limiter.active, 0)
  })

  it('gives up after queue_timeout with a clear error, and a failed attempt frees its slot', async () => {
    const clock = new ManualClock()
    const limiter = new ConcurrencyLimiter('b', config, clock)
    const limit = concurrencyLimit(limiter, clock)
    await assert.rejects(limit(requestCall('ping'), async () => Promise.reject(failure())))
    assert.equal(limiter.active, 0)
    await limit(requestCall('ping'), async (call) => ok(call))
    const waiting = limit(requestCall('ping', undefined, 2), async (call) => ok(call))
    const refused = waiting.then(
      () => undefined,
      (error: PorticoError) => error,
    )
    await clock.advance(5000)
    assert.match(String((await refused)?.message), /waited 5000 ms for one of its 1 slots/)
  })

  it("sends a hedge only into a free slot: it never takes a queue place another client's call needs", async () => {
    const clock = new ManualClock()
    const limiter = new ConcurrencyLimiter('b', config, clock)
    const chain = compose(
      [
        hedging({ config: { delay_ms: 0, max_hedges: 2 }, hints: new ToolHints(), clock }),
        concurrencyLimit(limiter, clock),
      ],
      (call) => new Promise<Reply>((resolve) => finish.set(call.id, () => resolve(ok(call)))),
    )
    const finish = new Map<unknown, () => void>()
    const hedged = requestCall('resources/read', { uri: 'a://slow' }, 1)
    const answer = chain(hedged)
    await settle()
    // Its own attempt holds the one slot; its two hedges found none and were not sent, nor
    // recorded as sent.
    assert.deepEqual([...finish.keys()], [1])
    assert.equal(limiter.queued, 0)
    assert.equal(hedged.notes.hedges ?? 0, 0)
    // Before: the hedges filled the queue, and this call was refused `queue_full` at once.
    const other = chain(requestCall('ping', undefined, 2))
    await settle()
    assert.equal(limiter.queued, 1)
    finish.get(1)?.()
    assert.deepEqual(await resultOf(await answer), { content: [] })
    hedged.lifetime.end()
    await settle()
    finish.get(2)?.()
    assert.deepEqual(await resultOf(await other), { content: [] })
  })
})

describe('circuit breaker', () => {
  const config = breakerSchema.parse({
    failure_rate_threshold: 0.5,
    minimum_calls: 4,
    wait_duration_seconds: 30,
    permitted_calls_in_half_open: 2,
  })

  function breakerWith(clock: ManualClock) {
    const changes: string[] = []
    const breaker = new CircuitBreaker('b', config, clock, (state) => changes.push(state))
    return { breaker, changes, health: upstreamHealth({ breaker, internalErrors: false }) }
  }

  it('opens on the failure rate of the window, never on client errors, cancels or isError', async () => {
    const clock = new ManualClock()
    const { breaker, changes, health } = breakerWith(clock)
    const fail: Handler = async () => Promise.reject(failure())
    const clientError: Handler = async () => Promise.reject(new PorticoError('invalid_params'))
    const toolError: Handler = async (call) => ok(call, { isError: true, content: [] })
    for (let i = 0; i < 5; i++) await health(requestCall('ping'), toolError)
    for (let i = 0; i < 5; i++) await assert.rejects(health(requestCall('ping'), clientError))
    const gone = new CallController()
    gone.abort()
    await assert.rejects(
      health(callOf({ jsonrpc: '2.0', id: 1, method: 'ping' }, { signal: gone.signal }), fail),
    )
    assert.equal(breaker.state, 'closed')
    // Window now: 4 successes (last 4 of 5 fit min 10); 6 failures make the rate ≥ 0.5.
    let opened: Call | undefined
    for (let i = 0; i < 6; i++) {
      const call = requestCall('ping')
      await assert.rejects(health(call, fail))
      if (call.notes.breaker === 'open') opened = call
    }
    assert.equal(breaker.state, 'open')
    assert.deepEqual(changes, ['open'])
    assert.ok(opened, 'the call that opened it says so')
    await assert.rejects(
      health(requestCall('ping'), async (c) => ok(c)),
      (error) => {
        const e = error as PorticoError
        assert.equal(e.reason, 'circuit_open')
        assert.equal(e.status, 503)
        assert.equal(e.headers?.['retry-after'], '30')
        assert.match(e.message, /Circuit of b is open/)
        return true
      },
    )
  })

  it('lets permitted_calls_in_half_open probes through, refuses the rest, closes on their success', async () => {
    const clock = new ManualClock()
    const { breaker, changes, health } = breakerWith(clock)
    for (let i = 0; i < 4; i++)
      await assert.rejects(health(requestCall('ping'), async () => Promise.reject(failure())))
    assert.equal(breaker.state, 'open')
    await clock.advance(30_000)
    const release: Array<() => void> = []
    const slow: Handler = (call) => new Promise((resolve) => release.push(() => resolve(ok(call))))
    const probes = [health(requestCall('ping'), slow), health(requestCall('ping'), slow)]
    assert.equal(breaker.state, 'half_open')
    await assert.rejects(health(requestCall('ping'), slow), /half-open/)
    for (const done of release) done()
    await Promise.all(probes)
    assert.equal(breaker.state, 'closed')
    assert.deepEqual(changes, ['open', 'half_open', 'closed'])
  })

  it("never counts calls whose deadline passed in Portico's own concurrency queue", async () => {
    const clock = new ManualClock()
    const { breaker, health } = breakerWith(clock)
    const queue = concurrencySchema.parse({ max_concurrent: 1, max_queue: 10, queue_timeout: 60 })
    // The per-upstream chain's order: whole-call timeout → health → concurrency → upstream.
    const chain = compose(
      [
        callTimeout('b', 1000, clock),
        health,
        concurrencyLimit(new ConcurrencyLimiter('b', queue, clock), clock),
      ],
      (call) =>
        new Promise<Reply>((_, reject) => {
          // The upstream never answers: only the deadline ends the one call it holds.
          call.signal.addEventListener('abort', () => reject(call.signal.reason))
        }),
    )
    const calls = Array.from({ length: 5 }, (_, i) =>
      chain(requestCall('ping', undefined, i + 1)).then(
        () => undefined,
        (e: PorticoError) => e,
      ),
    )
    await clock.advance(1000)
    const errors = await Promise.all(calls)
    assert.ok(
      errors.every((error) => error?.reason === 'upstream_timeout'),
      'each got its 504',
    )
    // One upstream failure (the call it held), four that never reached it: under minimum_calls.
    assert.equal(breaker.state, 'closed')
    for (let i = 0; i < 3; i++)
      await assert.rejects(health(requestCall('ping'), async () => Promise.reject(failure())))
    assert.equal(
      breaker.state,
      'open',
      'the upstream failure was counted, and opens with three more',
    )
  })

  it('opens again when a probe fails', async () => {
    const clock = new ManualClock()
    const { breaker, health } = breakerWith(clock)
    for (let i = 0; i < 4; i++)
      await assert.rejects(health(requestCall('ping'), async () => Promise.reject(failure())))
    await clock.advance(30_000)
    await assert.rejects(health(requestCall('ping'), async () => Promise.reject(failure())))
    assert.equal(breaker.state, 'open')
    assert.equal(breaker.refusing, true)
  })
})

describe('an event stream whose head came, judged at its first message', () => {
  /** A stream answer whose head is there and whose events fail before any message. */
  const hangsThenTimesOut: Handler = async () => {
    async function* events(): AsyncGenerator<StreamEvent> {
      yield StreamEvent.fromSse({ raw: 'id: 1\ndata: \n\n', data: '', id: '1', comment: false })
      throw new PorticoError('upstream_timeout')
    }
    return new StreamReply(events())
  }

  /**
   * A read-only `search` call through `[retry]` (two retries) while a hand clock runs, each
   * attempt answered by `attempt`: what it came to, and how many attempts were made.
   */
  async function retriedSearch(attempt: Handler) {
    const clock = new ManualClock()
    const hints = new ToolHints()
    hints.learn({ tools: [{ name: 'search', annotations: { readOnlyHint: true } }] })
    const middleware = retry({
      config: retrySchema.parse({ max_retries: 2, initial_backoff_ms: 10, max_backoff_ms: 20 }),
      budget: new RetryBudget(20, 10, clock),
      hints,
      clock,
    })
    let attempts = 0
    const next: Handler = (call) => {
      attempts++
      return attempt(call)
    }
    const running = middleware(toolCall('search'), next).then(
      () => 'answered',
      (error: unknown) => String(error),
    )
    for (let i = 0; i < 10; i++) await clock.advance(50)
    return { outcome: await running, attempts }
  }

  it('counts a timeout inside the stream against the breaker (it counted the 200 head as a success)', async () => {
    const clock = new ManualClock()
    const breaker = new CircuitBreaker(
      'b',
      breakerSchema.parse({
        failure_rate_threshold: 0.5,
        minimum_calls: 3,
        wait_duration_seconds: 30,
      }),
      clock,
      () => {},
    )
    const health = upstreamHealth({ breaker, internalErrors: false })
    for (let i = 0; i < 3; i++) {
      await assert.rejects(health(requestCall('ping'), hangsThenTimesOut), /upstream_timeout|time/)
    }
    assert.equal(breaker.state, 'open')
    // A stream whose first message comes is a success, its events all given on.
    const answering: Handler = async (call) =>
      new StreamReply(
        (async function* () {
          yield StreamEvent.of({
            jsonrpc: '2.0',
            id: call.id ?? null,
            result: {},
          } as JsonRpcResponse)
        })(),
      )
    const healthy = upstreamHealth({ breaker: undefined, internalErrors: false })
    const reply = await healthy(requestCall('ping'), answering)
    assert.ok(reply instanceof StreamReply)
    const seen = []
    for await (const event of reply.events) seen.push(event)
    assert.equal(seen.length, 1)
  })

  it('retries a stream that ends with no message and nothing to resume from, not a priming one', async () => {
    // Before: an empty stream's end was an answer: 200 with Portico's error inside, never
    // retried, never counted by the breaker.
    const streaming = (events: () => AsyncGenerator<StreamEvent>) => async () =>
      new StreamReply(events())
    const empty = await retriedSearch(streaming(async function* () {}))
    assert.match(empty.outcome, /ended its answer without a response/)
    assert.equal(empty.attempts, 3)
    // A priming event (an id to resume from), then the end: SSE polling, an answer.
    const priming = await retriedSearch(
      streaming(async function* () {
        yield StreamEvent.fromSse({ raw: 'id: 1\ndata: \n\n', data: '', id: '1', comment: false })
      }),
    )
    assert.deepEqual(priming, { outcome: 'answered', attempts: 1 })
    // An id, then an empty `id:` (which resets it, as the SSE spec reads it): nothing to
    // resume from. Before: any id ever seen made it an answer.
    const reset = await retriedSearch(
      streaming(async function* () {
        yield StreamEvent.fromSse({ raw: 'id: 1\ndata: \n\n', data: '', id: '1', comment: false })
        yield StreamEvent.fromSse({ raw: 'id:\ndata: \n\n', data: '', id: '', comment: false })
      }),
    )
    assert.equal(reset.attempts, 3)
  })

  it('retries a read-only call whose stream times out before its first message', async () => {
    const { outcome, attempts } = await retriedSearch(hangsThenTimesOut)
    assert.match(outcome, /time/)
    assert.equal(attempts, 3)
  })
})

describe('retries', () => {
  const config = retrySchema.parse({ max_retries: 3, initial_backoff_ms: 100, max_backoff_ms: 150 })

  function retrying(clock: ManualClock, hints = new ToolHints(), budget?: RetryBudget) {
    return retry({ config, budget: budget ?? new RetryBudget(20, 10, clock), hints, clock })
  }

  /** Runs `next` through retry while the clock advances; returns the attempts and waits. */
  async function drive(
    clock: ManualClock,
    middleware: ReturnType<typeof retry>,
    call: Call,
    next: Handler,
  ) {
    const started = clock.now()
    const running = middleware(call, next)
    const outcome = running.then(
      (reply) => ({ reply }),
      (error: unknown) => ({ error }),
    )
    for (let i = 0; i < 20; i++) await clock.advance(50)
    return { ...(await outcome), elapsed: clock.now() - started }
  }

  it('retries a non-idempotent tools/call only when the request never left', async () => {
    const clock = new ManualClock()
    let attempts = 0
    const notYet: Handler = async (call) => {
      attempts++
      if (attempts < 3) throw notSent(new PorticoError('upstream_unavailable', 'refused'))
      return ok(call)
    }
    const call = toolCall('write_file')
    const out = await drive(clock, retrying(clock), call, notYet)
    assert.ok('reply' in out)
    assert.equal(attempts, 3)
    assert.equal(call.notes.retries, 2)

    attempts = 0
    const ranAndFailed: Handler = async () => {
      attempts++
      throw failure()
    }
    const sent = await drive(clock, retrying(clock), toolCall('write_file'), ranAndFailed)
    assert.ok('error' in sent)
    assert.equal(attempts, 1, 'a tools/call that may have run is never run again')
  })

  it('retries reads and tools annotated readOnlyHint/idempotentHint, with capped backoff', async () => {
    const clock = new ManualClock()
    const hints = new ToolHints()
    hints.learn({
      tools: [
        { name: 'search', annotations: { readOnlyHint: true } },
        { name: 'put', annotations: { idempotentHint: true } },
        { name: 'send' },
      ],
    })
    let attempts = 0
    const flaky: Handler = async () => {
      attempts++
      throw failure()
    }
    for (const name of ['search', 'put']) {
      attempts = 0
      const out = await drive(clock, retrying(clock, hints), toolCall(name), flaky)
      assert.ok('error' in out)
      assert.equal(attempts, 4, `${name}: 1 + max_retries attempts`)
      // Three backoffs, each at most max_backoff_ms (150): never more than 450 ms of waiting.
      assert.ok(out.elapsed <= 1000, `${name}: waited ${out.elapsed} ms`)
    }
    attempts = 0
    await drive(clock, retrying(clock, hints), toolCall('send'), flaky)
    assert.equal(attempts, 1)
    attempts = 0
    await drive(
      clock,
      retrying(clock, hints),
      requestCall('resources/read', { uri: 'a://b' }),
      flaky,
    )
    assert.equal(attempts, 4)
  })

  it('never retries client errors, refusals or isError results', async () => {
    const clock = new ManualClock()
    for (const next of [
      async () => Promise.reject(new PorticoError('invalid_params')),
      async () => Promise.reject(new PorticoError('circuit_open')),
      async (call: Call) => ok(call, { isError: true }),
    ] as Handler[]) {
      let attempts = 0
      await drive(
        clock,
        retrying(clock),
        requestCall('resources/read', { uri: 'a://b' }),
        (call) => {
          attempts++
          return next(call)
        },
      )
      assert.equal(attempts, 1)
    }
  })

  it('keeps retries within budget_percent of recent calls, min_retries_per_sec as the floor', () => {
    const clock = new ManualClock()
    const budget = new RetryBudget(10, 0.1, clock) // floor: 1 retry per 10 s
    for (let i = 0; i < 100; i++) budget.deposit()
    let granted = 0
    while (budget.withdraw()) granted++
    assert.equal(granted, 10, '10 % of 100 calls')
    const quiet = new RetryBudget(10, 0.1, clock)
    assert.equal(quiet.withdraw(), true, 'the floor allows one with no traffic')
    assert.equal(quiet.withdraw(), false)
  })
})

describe('hedging', () => {
  it('sends a hedge after delay_ms; the first success wins and the loser is cancelled', async () => {
    const clock = new ManualClock()
    const hedge = hedging({
      config: { delay_ms: 200, max_hedges: 1 },
      hints: new ToolHints(),
      clock,
    })
    const signals: CallSignal[] = []
    const ids: unknown[] = []
    const finish: Array<(reply: Reply) => void> = []
    const next: Handler = (call) => {
      signals.push(call.signal)
      ids.push((call.message as { id?: unknown }).id)
      return new Promise((resolve) => finish.push(resolve))
    }
    const call = requestCall('resources/read', { uri: 'a://b' })
    const answer = hedge(call, next)
    await settle()
    assert.equal(signals.length, 1)
    await clock.advance(200)
    assert.equal(signals.length, 2)
    assert.equal(call.notes.hedges, 1)
    assert.equal(ids[0], 1)
    // Its own id upstream, with a random part: a client's own `1~hedge1` cannot meet it.
    assert.match(String(ids[1]), /^1~hedge1~[A-Za-z0-9_-]{8}$/, 'a hedge has its own JSON-RPC id')
    finish[1]?.(
      MessageReply.of({
        jsonrpc: '2.0',
        id: ids[1],
        result: { contents: ['hedge'] },
      } as JsonRpcResponse),
    )
    const won = (await ((await answer) as MessageReply).json()) as JsonRpcResponse
    assert.deepEqual(won.result, { contents: ['hedge'] })
    assert.equal(won.id, 1, 'the answer carries the call’s own id')
    assert.equal(signals[0]?.aborted, true, 'the loser is cancelled')
    assert.equal(signals[1]?.aborted, false)
  })

  it("judges the upstream's transport when told it: a legacy SSE backend is not hedged, whoever calls", async () => {
    const attempts = async (
      sharedAnswerStream: boolean | undefined,
      transport: 'sse' | 'streamable-http',
    ) => {
      const clock = new ManualClock()
      const hedge = hedging({
        config: { delay_ms: 200, max_hedges: 1 },
        hints: new ToolHints(),
        clock,
        sharedAnswerStream,
      })
      let sent = 0
      const next: Handler = () => {
        sent++
        return new Promise(() => {})
      }
      void hedge({ ...requestCall('resources/read', { uri: 'a://b' }), transport }, next)
      await clock.advance(200)
      return sent
    }
    // Before: the client's transport decided, so a gateway's legacy SSE backend was hedged
    // for a Streamable HTTP client, and a Streamable HTTP backend never for a legacy client.
    assert.equal(await attempts(true, 'streamable-http'), 1)
    assert.equal(await attempts(false, 'sse'), 2)
    // Transparent mode: the upstream speaks what the client speaks.
    assert.equal(await attempts(undefined, 'sse'), 1)
    assert.equal(await attempts(undefined, 'streamable-http'), 2)
  })

  it('lets only the attempt whose request went to the client win, and sends no more hedges', async () => {
    const clock = new ManualClock()
    const hedge = hedging({
      config: { delay_ms: 200, max_hedges: 2 },
      hints: new ToolHints(),
      clock,
    })
    const ids: unknown[] = []
    const finish: Array<(reply: Reply) => void> = []
    const next: Handler = (call) => {
      ids.push(call.id)
      return new Promise((resolve) => finish.push(resolve))
    }
    const call = requestCall('resources/read', { uri: 'a://b' })
    const answer = hedge(call, next)
    await clock.advance(200)
    assert.equal(ids.length, 2)
    // The first attempt's sampling request reached the client (the gateway notes whose).
    call.notes.askedBy = ids[0] as string
    noteAskedClient(call.notes)
    await clock.advance(200)
    assert.equal(ids.length, 2, 'no hedge once an attempt asked the client')
    // The hedge's own request was refused; its backend made an isError result of the refusal.
    const refused = { isError: true, content: [{ type: 'text', text: 'Another attempt…' }] }
    finish[1]?.(MessageReply.of({ jsonrpc: '2.0', id: ids[1], result: refused } as JsonRpcResponse))
    await settle()
    finish[0]?.(
      MessageReply.of({
        jsonrpc: '2.0',
        id: 1,
        result: { contents: ['sampled'] },
      } as JsonRpcResponse),
    )
    const won = (await ((await answer) as MessageReply).json()) as JsonRpcResponse
    // The refusal won the race: the client's answer was thrown away.
    assert.deepEqual(won.result, { contents: ['sampled'] })
  })

  it('counts an event stream as answering at its first message, not at its head', async () => {
    const clock = new ManualClock()
    const hedge = hedging({
      config: { delay_ms: 200, max_hedges: 1 },
      hints: new ToolHints(),
      clock,
    })
    const streams: Array<AsyncQueue<StreamEvent>> = []
    const ids: unknown[] = []
    const signals: CallSignal[] = []
    const next: Handler = async (call) => {
      ids.push((call.message as { id?: unknown }).id)
      signals.push(call.signal)
      const events = new AsyncQueue<StreamEvent>()
      streams.push(events)
      // The head at once, then a priming event (an id, no data), as SDK servers answer.
      events.push(
        StreamEvent.fromSse({
          id: 'prime',
          data: '',
          comment: false,
          raw: 'id: prime\ndata: \n\n',
        }),
      )
      return new StreamReply(events)
    }
    const call = requestCall('resources/read', { uri: 'a://b' })
    const answer = hedge(call, next)
    await settle()
    await clock.advance(200)
    assert.equal(streams.length, 2, 'a head and a priming event did not count as an answer')
    const result = { jsonrpc: '2.0', id: ids[1], result: { contents: ['hedge'] } }
    streams[1]?.push(StreamEvent.of(result as JsonRpcResponse))
    streams[1]?.end()
    const won = (await answer) as StreamReply
    assert.equal(won.buffered(), true, 'the events read ahead wait to be written')
    const written: Array<string | undefined> = []
    for await (const event of won.events) written.push(event.message() ? event.data : event.id)
    assert.deepEqual(
      written,
      ['prime', JSON.stringify({ ...result, id: 1 })],
      'every event of the winner, in order, its answer with the call id',
    )
    assert.equal(signals[0]?.aborted, true, 'the attempt still silent is cancelled')
  })

  it('gives a hedge of a big-integer id that literal in its own id, never the internal marker', async () => {
    const clock = new ManualClock()
    const hedge = hedging({
      config: { delay_ms: 10, max_hedges: 1 },
      hints: new ToolHints(),
      clock,
    })
    const ids: unknown[] = []
    const next: Handler = (call) => {
      ids.push((call.message as { id?: unknown }).id)
      return new Promise(() => {})
    }
    const call = callOfText(
      '{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"resources/read","params":{"uri":"a://b"}}',
    )
    void hedge(call, next)
    await settle()
    await clock.advance(10)
    assert.match(String(ids[1]), /^123456789012345678901234567890~hedge1~[A-Za-z0-9_-]{8}$/)
  })

  it('does not let an error win while another attempt may still succeed, and never hedges a write', async () => {
    const clock = new ManualClock()
    const hedge = through(
      hedging({ config: { delay_ms: 0, max_hedges: 1 }, hints: new ToolHints(), clock }),
    )
    let n = 0
    const next: Handler = async (call) => {
      n++
      if (n === 1) throw failure()
      await clock.advance(0)
      return ok(call, { contents: ['second'] })
    }
    const answer = hedge(requestCall('resources/read', { uri: 'a://b' }), next)
    await clock.advance(1)
    assert.deepEqual(await resultOf(await answer), { contents: ['second'] })
    let writes = 0
    const slow: Handler = async (call) => {
      writes++
      await clock.advance(0)
      return ok(call)
    }
    const write = hedge(toolCall('send'), slow)
    await clock.advance(1000)
    await write
    assert.equal(writes, 1)
  })
})

describe('whole-call timeout', () => {
  it('aborts the attempt in flight with upstream_timeout', async () => {
    const clock = new ManualClock()
    const timeout = callTimeout('b', 1000, clock)
    let inner: CallSignal | undefined
    const hang: Handler = (call) =>
      new Promise((_, reject) => {
        inner = call.signal
        call.signal.addEventListener('abort', () => reject(new PorticoError('cancelled')))
      })
    const outcome = timeout(requestCall('ping'), hang).then(
      () => undefined,
      (e: PorticoError) => e,
    )
    await clock.advance(1000)
    const error = await outcome
    assert.equal(error?.reason, 'upstream_timeout')
    assert.equal(error?.status, 504)
    assert.equal(inner?.aborted, true)
  })
})

describe('outlier ejection', () => {
  const config = outlierSchema.parse({
    consecutive_errors: 2,
    interval_seconds: 10,
    base_ejection_seconds: 30,
    max_ejection_percent: 50,
  })

  it('ejects after consecutive failures, returns at the sweep after its time, and grows', async () => {
    const clock = new ManualClock()
    const group = new OutlierGroup(clock)
    group.size = 2
    const events: string[] = []
    const detector = new OutlierDetector('a', config, group, (event) => events.push(event))
    assert.equal(detector.record('failure'), false)
    assert.equal(detector.record('ok'), false, 'a success resets the streak')
    detector.record('failure')
    assert.equal(detector.record('failure'), true)
    assert.throws(() => detector.check(), /a is ejected after 2 consecutive failures/)
    await clock.advance(29_000)
    assert.equal(detector.ejected, true)
    await clock.advance(1_000) // the sweep at 30 s returns it
    assert.equal(detector.ejected, false)
    detector.record('failure')
    detector.record('failure')
    await clock.advance(30_000)
    assert.equal(detector.ejected, true, 'the second ejection lasts 60 s')
    await clock.advance(30_000)
    assert.equal(detector.ejected, false)
    assert.deepEqual(events, ['ejected', 'returned', 'ejected', 'returned'])
    group.close()
  })

  it('returns a backend when its time is over, not at the next sweep', async () => {
    const clock = new ManualClock()
    const group = new OutlierGroup(clock)
    group.size = 2
    const events: string[] = []
    const short = outlierSchema.parse({
      consecutive_errors: 1,
      interval_seconds: 30,
      base_ejection_seconds: 1,
    })
    const detector = new OutlierDetector('a', short, group, (event) => events.push(event))
    assert.equal(detector.record('failure'), true)
    await clock.advance(999)
    assert.throws(() => detector.check(), /ejected/)
    await clock.advance(1)
    assert.doesNotThrow(() => detector.check(), 'served at its time, 29 s before the sweep')
    assert.deepEqual(events, ['ejected', 'returned'])
    await clock.advance(29_000) // the sweep finds nothing left to return
    assert.deepEqual(events, ['ejected', 'returned'])
    group.close()
  })

  it('ejects at most max_ejection_percent of a group (at least one)', () => {
    const clock = new ManualClock()
    const group = new OutlierGroup(clock)
    group.size = 2
    const a = new OutlierDetector('a', config, group, () => {})
    const b = new OutlierDetector('b', config, group, () => {})
    a.record('failure')
    a.record('failure')
    b.record('failure')
    assert.equal(b.record('failure'), false, '50 % of 2 backends is one')
    assert.equal(a.ejected, true)
    assert.equal(b.ejected, false)
    group.close()
  })
})

describe('response cache', () => {
  const config = cacheSchema.parse({
    tool_ttl_seconds: 60,
    resource_ttl_seconds: 60,
    max_entries: 10,
  })

  it('answers a hit with the caller’s id, keyed by identity, never storing isError', async () => {
    const clock = new ManualClock()
    const cache = new ResponseCache(config, clock)
    const mw = responseCache(cache)
    let calls = 0
    const next: Handler = async (call) => {
      calls++
      return ok(call, { content: [{ type: 'text', text: `answer ${calls}` }] })
    }
    const alice = { authorization: 'Bearer alice' }
    await mw(toolCall('search', 1, alice), next)
    const hitCall = toolCall('search', 'x-7', alice)
    const hit = (await ((await mw(hitCall, next)) as MessageReply).json()) as JsonRpcResponse
    assert.equal(hit.id, 'x-7')
    assert.equal(hitCall.notes.cache, 'hit')
    assert.equal(calls, 1)
    await mw(toolCall('search', 2, { authorization: 'Bearer bob' }), next)
    assert.equal(calls, 2, 'another identity does not share the entry')
    const failing: Handler = async (call) => ok(call, { isError: true, content: [] })
    await mw(toolCall('broken'), failing)
    await mw(toolCall('broken'), failing)
    assert.deepEqual(cache.stats(), { hits: 1, misses: 4, entries: 2 })
    await clock.advance(60_001)
    await mw(toolCall('search', 3, alice), next)
    assert.equal(calls, 3, 'expired')
  })

  it('shares no answer between protocol versions (an upstream shapes its answer by them)', async () => {
    const mw = responseCache(new ResponseCache(config, new ManualClock()))
    let calls = 0
    const next: Handler = async (call) => {
      calls++
      return ok(call, { content: [{ type: 'text', text: `for ${call.protocolVersion}` }] })
    }
    const asked = (version: string, id: number) =>
      callOf(
        { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'search', arguments: {} } },
        { headers: { 'mcp-protocol-version': version } },
      )
    await mw(asked('2025-06-18', 1), next)
    const older = (await ((await mw(asked('2025-03-26', 2), next)) as MessageReply).json()) as
      | { result: { content: Array<{ text: string }> } }
      | undefined
    // Before: the 2025-03-26 call got the answer built for 2025-06-18.
    assert.equal(calls, 2)
    assert.equal(older?.result.content[0]?.text, 'for 2025-03-26')
    await mw(asked('2025-06-18', 3), next)
    assert.equal(calls, 2, 'the same version still shares it')
  })

  it('shares no answer with a task-augmented call, one with other params, or one without a string name', async () => {
    const mw = responseCache(new ResponseCache(config, new ManualClock()))
    let calls = 0
    const next: Handler = async (call) => {
      calls++
      return ok(call, { content: [{ type: 'text', text: `answer ${calls}` }] })
    }
    const tool = (params: object, id = 1) =>
      callOf({ jsonrpc: '2.0', id, method: 'tools/call', params })
    // Before: the key was method, name and arguments alone, so a plain call got the task
    // handle a task-augmented one was answered with (and the other way round).
    await mw(tool({ name: 'search', arguments: {}, task: { ttl: 60_000 } }), next)
    await mw(tool({ name: 'search', arguments: {}, task: { ttl: 60_000 } }), next)
    assert.equal(calls, 2, 'each task-augmented call reaches the upstream')
    await mw(tool({ name: 'search', arguments: {} }), next)
    assert.equal(calls, 3, 'a plain call is not answered with a task')
    await mw(tool({ name: 'search', arguments: {}, mode: 'deep' }), next)
    assert.equal(calls, 4, 'another param: another key')
    // Before: every name that is no string shared the key of the empty name.
    await mw(tool({ name: ['delete_all'], arguments: {} }), next)
    await mw(tool({ name: ['status'], arguments: {} }), next)
    assert.equal(calls, 6)
  })

  it('keys by every credential the client sends, and by session when it sends none', async () => {
    const mw = responseCache(new ResponseCache(config, new ManualClock()))
    let calls = 0
    const next: Handler = async (call) => {
      calls++
      return ok(call, { content: [{ type: 'text', text: `answer ${calls}` }] })
    }
    /** Two calls with these headers: how many reached the upstream. */
    const upstreamCallsFor = async (first: object, second: object) => {
      const before = calls
      await mw(toolCall('whoami', 1, first), next)
      await mw(toolCall('whoami', 2, second), next)
      return calls - before
    }
    // An upstream that knows its users by X-API-Key or a cookie: two users, two entries (before,
    // both were the one address, and Bob was served Alice's answer).
    assert.equal(await upstreamCallsFor({ 'x-api-key': 'alice' }, { 'x-api-key': 'bob' }), 2)
    assert.equal(await upstreamCallsFor({ cookie: 'session=alice' }, { cookie: 'session=bob' }), 2)
    assert.equal(await upstreamCallsFor({ 'x-auth-token': 'a' }, { 'x-auth-token': 'b' }), 2)
    // One user in two sessions: one entry.
    const carol = { 'x-api-key': 'carol' }
    assert.equal(
      await upstreamCallsFor(
        { ...carol, 'mcp-session-id': 's1' },
        { ...carol, 'mcp-session-id': 's2' },
      ),
      1,
    )
    // No credential: the address is all there is, and it may be shared: the session too.
    assert.equal(await upstreamCallsFor({ 'mcp-session-id': 'a' }, { 'mcp-session-id': 'b' }), 2)
    assert.equal(await upstreamCallsFor({ 'mcp-session-id': 'c' }, { 'mcp-session-id': 'c' }), 1)
  })

  it('answers a hit to a big-integer id with the literal the client sent', async () => {
    const mw = responseCache(new ResponseCache(config, new ManualClock()))
    const next: Handler = async (call) => ok(call, { content: [{ type: 'text', text: 'big' }] })
    const big = (id: string) =>
      callOfText(
        `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"search","arguments":{"q":1}}}`,
      )
    await mw(big('123456789012345678901234567890'), next)
    const hit = await mw(big('123456789012345678901234567891'), next)
    await (hit as MessageReply).fill(1 << 20)
    const body = (hit as MessageReply).body()
    const text = 'bytes' in body ? body.bytes.toString() : ''
    assert.match(text, /^\{"jsonrpc":"2\.0","id":123456789012345678901234567891,"result":/)
    assert.doesNotMatch(text, /\\u0000/, 'the internal marker stays inside')
  })

  it('never stores an isError result whose key is spelt with an escape', async () => {
    const cache = new ResponseCache(config, new ManualClock())
    const mw = responseCache(cache)
    let calls = 0
    const escaped: Handler = async (call) => {
      calls++
      return MessageReply.fromBytes(
        Buffer.from(
          `{"jsonrpc":"2.0","id":${JSON.stringify(call.id)},"result":{"content":[],"is\\u0045rror":true}}`,
        ),
      )
    }
    await mw(toolCall('broken-escaped'), escaped)
    await settle()
    await mw(toolCall('broken-escaped'), escaped)
    assert.equal(calls, 2, 'an isError result is never answered from the cache')
    assert.equal(cache.stats().entries, 0)
  })

  it('keeps apart two tokens of one principal that tell the upstream different claims', async () => {
    const mw = responseCache(new ResponseCache(config, new ManualClock()))
    let calls = 0
    const next: Handler = async (call) => {
      calls++
      return ok(call, { content: [{ type: 'text', text: `answer ${calls}` }] })
    }
    const verified = (groups: string): Call => ({
      ...toolCall('whoami'),
      identity: {
        subject: 'alice',
        method: 'jwt',
        key: 'https://issuer#alice',
        scopes: [],
        roles: [],
        admin: false,
        headers: { 'x-user-id': 'alice', 'x-user-groups': groups },
        claims: {},
      },
    })
    await mw(verified('admins'), next)
    await settle()
    await mw(verified('guests'), next)
    assert.equal(calls, 2, 'a guests token is not served what the admins token was answered')
    await settle()
    await mw(verified('admins'), next)
    assert.equal(calls, 2, 'the same claims share the entry')
  })

  it('holds at most max_bytes of answers, the least recently used let go first', async () => {
    const small = cacheSchema.parse({ tool_ttl_seconds: 60, max_entries: 100, max_bytes: 600 })
    const cache = new ResponseCache(small, new ManualClock())
    const mw = responseCache(cache)
    const upstream: string[] = []
    const next: Handler = async (call) => {
      upstream.push(String(call.target?.name))
      return ok(call, { content: [{ type: 'text', text: 'x'.repeat(200) }] })
    }
    for (const name of ['a', 'b', 'c', 'a']) {
      await mw(toolCall(name), next)
      await settle()
    }
    // Each entry is some 250 characters: two fit in 600, a third pushes out the oldest (a).
    assert.deepEqual(upstream, ['a', 'b', 'c', 'a'])
    assert.equal(cache.stats().entries, 2)
  })

  it("never stores the answer of a call that asked its client, nor of a retry carrying the client's answers", async () => {
    const cache = new ResponseCache(config, new ManualClock())
    const mw = responseCache(cache)
    let calls = 0
    const asking: Handler = async (call) => {
      calls++
      // The backend asked this caller (an elicitation) before it answered: the gateway noted it.
      noteAskedClient(call.notes)
      return ok(call, { content: [{ type: 'text', text: `user said alice (${calls})` }] })
    }
    await mw(toolCall('ask', 1), asking)
    await mw(toolCall('ask', 2), asking)
    assert.equal(calls, 2, "the answer depended on the client's: stored, the next caller got it")
    // A 2026-07-28 retry with the client's answers is that client's continuation, never a key.
    const plain: Handler = async (call) => {
      calls++
      return ok(call, { content: [{ type: 'text', text: 'hello alice' }] })
    }
    const retry = (id: number) =>
      requestCall(
        'tools/call',
        { name: 'ask', arguments: {}, inputResponses: { n: {} }, requestState: 's' },
        id,
      )
    await mw(retry(3), plain)
    await mw(retry(4), plain)
    await mw(toolCall('ask', 5), plain)
    assert.equal(calls, 5)
    assert.equal(cache.stats().entries, 1, 'only the plain call was stored')
  })

  it('honours ttlMs and shares cacheScope "public" answers across callers', async () => {
    const clock = new ManualClock()
    const mw = responseCache(new ResponseCache(config, clock))
    let calls = 0
    const read = (uri: string, headers = {}, search = '') =>
      callOf(
        { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri } },
        { headers, search },
      )
    const next: Handler = async (call) => {
      calls++
      const uri = (call.target?.name ?? '') as string
      const hints = uri.includes('public') ? { ttlMs: 5000, cacheScope: 'public' } : { ttlMs: 0 }
      return ok(call, { contents: [], ...hints })
    }
    await mw(read('x://public', { authorization: 'a' }), next)
    await mw(read('x://public', { authorization: 'b' }), next)
    assert.equal(calls, 1)
    // Public, but for the URL the upstream was asked on: another query is another answer.
    await mw(read('x://public', {}, '?tenant=b'), next)
    assert.equal(calls, 2, 'another query string')
    await mw(read('x://public', { authorization: 'c' }, '?tenant=b'), next)
    assert.equal(calls, 2, 'shared by the callers of that query')
    await clock.advance(5001)
    await mw(read('x://public'), next)
    assert.equal(calls, 3, 'ttlMs shortened the entry')
    await mw(read('x://nocache'), next)
    await mw(read('x://nocache'), next)
    assert.equal(calls, 5, 'ttlMs 0 is not stored')
  })

  it("serves a kept result's ttlMs as what is left of it, as Age lowers max-age", async () => {
    const clock = new ManualClock()
    const mw = responseCache(new ResponseCache(config, clock))
    const next: Handler = async (call) => ok(call, { contents: [], ttlMs: 5000 })
    const read = () =>
      callOf({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'x://a' } })
    const ttlOf = async () => {
      const answer = await ((await mw(read(), next)) as MessageReply).json()
      return (answer?.result as { ttlMs?: number } | undefined)?.ttlMs
    }
    assert.equal(await ttlOf(), 5000)
    await clock.advance(3000)
    // Served as stored, the client was told it could reuse it 5 s more, 8 s in all.
    assert.equal(await ttlOf(), 2000)
  })

  it('keeps no read whose resource was updated while it was on its way', async () => {
    const cache = new ResponseCache(config, new ManualClock())
    const mw = responseCache(cache)
    let reads = 0
    let updateDuring = true
    const next: Handler = async (call) => {
      reads++
      // The update comes while the upstream answers: the answer may be the old contents.
      if (updateDuring) cache.forgetResource(['x://a'])
      return ok(call, { contents: [{ text: `read ${reads}` }] })
    }
    const read = () =>
      mw(
        callOf({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'x://a' } }),
        next,
      )
    await read()
    await read()
    // Before: the first answer was kept for the whole ttl, and the second read was a hit.
    assert.equal(reads, 2)
    updateDuring = false
    await read()
    await read()
    assert.equal(reads, 3, 'a read with no update on its way is kept')
  })

  it('keeps neither of two reads side by side when an update came on their way', async () => {
    const cache = new ResponseCache(config, new ManualClock())
    const mw = responseCache(cache)
    let reads = 0
    const answers: Array<() => void> = []
    const next: Handler = (call) =>
      new Promise((resolve) => {
        reads++
        answers.push(() => resolve(ok(call, { contents: [{ text: 'old' }] })))
      })
    const read = () =>
      mw(
        callOf({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'x://a' } }),
        next,
      )
    const first = read()
    const second = read()
    await settle()
    cache.forgetResource(['x://a'])
    for (const answer of answers.splice(0)) answer()
    await Promise.all([first, second])
    await settle()
    // Before (R15-04): the second read's note was the first's, taken by its store, and the
    // second read's old answer was kept for the whole ttl: this third read was a hit.
    const third = read()
    await settle()
    for (const answer of answers.splice(0)) answer()
    await third
    assert.equal(reads, 3)
  })

  it("forgets a resource's reads when a server's stream says it changed, however it spells it", async () => {
    const cache = new ResponseCache(config, new ManualClock())
    const mw = responseCache(cache)
    let reads = 0
    const next: Handler = async (call) => ok(call, { contents: [{ text: `read ${++reads}` }] })
    const read = (uri: string) =>
      callOf({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri } })
    const readA = async () => {
      const answer = await ((await mw(read('x://a'), next)) as MessageReply).json()
      return (answer?.result as { contents: Array<{ text: string }> } | undefined)?.contents[0]
        ?.text
    }
    await mw(read('x://b'), next)
    const spellings = [
      '{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"x://a"}}',
      '{"jsonrpc":"2.0","method":"notifications\\/resources\\/updated","params":{"uri":"x://a"}}',
      '{"jsonrpc":"2.0","method":"notifications/resources/\\u0075pdated","params":{"uri":"x:\\/\\/a"}}',
    ]
    let expected = reads + 1
    for (const data of spellings) {
      assert.equal(await readA(), `read ${expected}`)
      assert.equal(await readA(), `read ${expected}`, 'kept')
      async function* events(): AsyncGenerator<StreamEvent> {
        yield StreamEvent.fromSse({ raw: `data: ${data}\n\n`, data, comment: false })
      }
      const passed: string[] = []
      const forget = (uri: string) => {
        assert.equal(uri, 'x://a')
        cache.forgetResource([uri])
      }
      for await (const event of forgettingUpdatedResources(new StreamReply(events()), forget)
        .events) {
        passed.push(event.raw)
      }
      assert.deepEqual(passed, [`data: ${data}\n\n`], 'the event goes on as it came')
      expected = reads + 1
      assert.equal(await readA(), `read ${expected}`, `read again after ${data}`)
    }
    const other = '{"jsonrpc":"2.0","method":"notifications/resources/list_changed"}'
    assert.equal(
      updatedResourceOf(StreamEvent.fromSse({ raw: '', data: other, comment: false })),
      undefined,
    )
    assert.equal(await readA(), `read ${expected}`, 'another notification forgets nothing')
    assert.equal(cache.stats().entries, 2, 'x://b kept throughout')
  })
})

/** An upstream that answers only when told (`release`), counting the calls it got. */
function heldUpstream(): { next: Handler; release(): void; readonly calls: number } {
  let calls = 0
  const held: Array<() => void> = []
  return {
    next: (call) => {
      calls++
      return new Promise((resolve) => {
        held.push(() => resolve(ok(call, { contents: ['shared'] })))
      })
    },
    // Every call held so far is answered.
    release: () => {
      for (const release of held.splice(0)) release()
    },
    get calls() {
      return calls
    },
  }
}

describe('coalescing', () => {
  it('shares one upstream call between identical concurrent reads, each answered with its id', async () => {
    const mw = coalesce(new ToolHints())
    const upstream = heldUpstream()
    const next = upstream.next
    const read = (id: number) => requestCall('resources/read', { uri: 'a://b' }, id)
    const second = read(2)
    const answers = [mw(read(1), next), mw(second, next)]
    await settle()
    upstream.release()
    const [a, b] = (await Promise.all(
      answers.map(async (p) => ((await p) as MessageReply).json()),
    )) as JsonRpcResponse[]
    assert.equal(upstream.calls, 1)
    assert.equal(a?.id, 1)
    assert.equal(b?.id, 2)
    assert.equal(second.notes.cache, 'coalesced')
  })

  it("gives each waiter the lead's status and Retry-After, not the lead's other headers", async () => {
    const mw = coalesce(new ToolHints())
    let release = () => {}
    const next: Handler = (call) =>
      new Promise((resolve) => {
        const error = { code: -32000, message: 'slow down' }
        release = () =>
          resolve(
            MessageReply.of(
              { jsonrpc: '2.0', id: call.id ?? null, error },
              { status: 429, headers: { 'retry-after': '7', 'mcp-session-id': 'lead-only' } },
            ),
          )
      })
    const read = (id: number) => requestCall('resources/read', { uri: 'a://b' }, id)
    const answers = [mw(read(1), next), mw(read(2), next)]
    await settle()
    release()
    const waiter = (await answers[1]) as MessageReply
    // It went out as a 200 without Retry-After: the waiter was told to call again at once.
    assert.equal(waiter.status, 429)
    assert.deepEqual(waiter.headers, { 'retry-after': '7' })
    assert.equal((await waiter.json())?.id, 2)
    assert.equal(((await answers[0]) as MessageReply).status, 429)
  })

  it('lets the waiters go once the lead asks its client something: they make their own calls', async () => {
    const mw = coalesce(new ToolHints())
    const upstream = heldUpstream()
    const read = (id: number) => requestCall('resources/read', { uri: 'a://b' }, id)
    const lead = read(1)
    const answers = [mw(lead, upstream.next), mw(read(2), upstream.next)]
    await settle()
    assert.equal(upstream.calls, 1)
    // The lead's backend sends an elicitation to the lead's client: its answer is that client's.
    noteAskedClient(lead.notes)
    await settle()
    assert.equal(upstream.calls, 2, 'the waiter made its own call at once')
    const third = mw(read(3), upstream.next)
    await settle()
    assert.equal(upstream.calls, 3, 'and no later call joins the lead')
    upstream.release()
    await Promise.all([...answers, third])
  })

  it('a waiter whose caller leaves stops waiting at once, and makes no call of its own', async () => {
    const mw = coalesce(new ToolHints())
    const upstream = heldUpstream()
    const next = upstream.next
    const message = (id: number) => ({
      jsonrpc: '2.0',
      id,
      method: 'resources/read',
      params: { uri: 'a://b' },
    })
    const leaving = new CallController()
    const lead = mw(callOf(message(1)), next)
    await settle()
    const waiter = mw(callOf(message(2), { signal: leaving.signal }), next)
    await settle()
    leaving.abort()
    await assert.rejects(waiter, (error: PorticoError) => error.reason === 'cancelled')
    upstream.release()
    await lead
    assert.equal(upstream.calls, 1, 'the waiter that left made no call')
  })
})

describe('UpstreamProtection rebuilt by a reload (previous)', () => {
  const clock = new ManualClock()
  const tables: ProtectConfig = {
    timeout: { callMs: 1000, attemptMs: undefined },
    circuit_breaker: breakerSchema.parse({ minimum_calls: 2 }),
    cache: cacheSchema.parse({ tool_ttl_seconds: 60 }),
    concurrency: concurrencySchema.parse({ max_concurrent: 2 }),
    rate_limit: { requests: 1, period_seconds: 60 },
    retry: retrySchema.parse({ max_retries: 1 }),
    outlier_detection: outlierSchema.parse({ consecutive_errors: 1, base_ejection_seconds: 30 }),
  }
  const build = (config: ProtectConfig, group: OutlierGroup, previous?: UpstreamProtection) =>
    new UpstreamProtection('b', config, {
      clock,
      logger: new Logger({ level: 'silent' }),
      coalesce: false,
      group,
      previous,
    })
  const POLICIES = ['breaker', 'cache', 'limiter', 'outlier'] as const
  /** The stateful policies `a` and `b` share (the same objects). */
  const sameObjects = (a: UpstreamProtection, b: UpstreamProtection) =>
    POLICIES.filter((policy) => a[policy] !== undefined && a[policy] === b[policy])
  const run = (protection: UpstreamProtection) =>
    compose(protection.middleware, async (call) => ok(call))(requestCall('ping'))

  it('keeps each stateful policy whose table did not change, and builds afresh those that did', async () => {
    const group = new OutlierGroup(clock)
    const first = build(tables, group)
    await run(first) // the minute's one request
    const timeoutOnly = build(
      { ...tables, timeout: { callMs: 2000, attemptMs: undefined } },
      group,
      first,
    )
    assert.deepEqual(sameObjects(timeoutOnly, first), POLICIES)
    assert.equal(timeoutOnly.hints, first.hints)
    await assert.rejects(run(timeoutOnly), /Rate limit of b reached/, 'the spent budget is kept')
    const allChanged = build(
      {
        timeout: tables.timeout,
        circuit_breaker: breakerSchema.parse({ minimum_calls: 3 }),
        cache: cacheSchema.parse({ tool_ttl_seconds: 30 }),
        concurrency: concurrencySchema.parse({ max_concurrent: 3 }),
        rate_limit: { requests: 2, period_seconds: 60 },
        retry: retrySchema.parse({ max_retries: 2 }),
        outlier_detection: outlierSchema.parse({ consecutive_errors: 2 }),
      },
      group,
      timeoutOnly,
    )
    assert.deepEqual(sameObjects(allChanged, first), [])
    assert.equal(allChanged.hints, first.hints, 'tool hints are about the server: always kept')
    await run(allChanged) // a new budget
    for (const protection of [first, timeoutOnly, allChanged]) protection.close()
    group.close()
  })

  it('keeps the rate limit when a reload spells its default burst', async () => {
    const group = new OutlierGroup(clock)
    const implicit = { rate_limit: rateLimitSchema.parse({ requests: 1, period_seconds: 60 }) }
    const first = build(implicit, group)
    await run(first) // the minute's one request
    const spelled = rateLimitSchema.parse({ requests: 1, period_seconds: 60, burst: 1 })
    const next = build({ rate_limit: spelled }, group, first)
    await assert.rejects(run(next), /Rate limit of b reached/, 'the spent budget is kept')
    for (const protection of [first, next]) protection.close()
    group.close()
  })

  it('the replaced protection leaves the kept ejection in its group: the sweep still returns it', async () => {
    const group = new OutlierGroup(clock)
    group.size = 1
    const first = build(tables, group)
    const next = build({ ...tables, timeout: undefined }, group, first)
    first.close() // as a retired chain is, once its calls are done
    assert.equal(next.outlier?.record('failure'), true)
    assert.equal(next.unavailable, true)
    await clock.advance(30_000)
    await clock.advance(10_000) // the sweep after the ejection's end
    assert.equal(next.unavailable, false, 'returned by the group it is still in')
    next.close()
  })
})

describe('hedging without [retry]', () => {
  it('spends the retry budget all the same: its floor, not a hedge for every slow call', async () => {
    const clock = new ManualClock()
    const protection = new UpstreamProtection(
      'b',
      { hedging: hedgingSchema.parse({ delay_ms: 0, max_hedges: 1 }) },
      { clock, logger: new Logger({ level: 'silent' }), coalesce: false },
    )
    let attempts = 0
    const chain = compose(protection.middleware, async (call) => {
      attempts++
      return ok(call)
    })
    const calls = 300
    await Promise.all(
      Array.from({ length: calls }, (_, i) =>
        chain(requestCall('resources/read', { uri: 'x://a' }, i + 1)),
      ),
    )
    // Before: no budget at all, and every call sent its hedge (600 attempts). The budget's
    // floor is 10 a second over its 10 s window; 20 % of 300 calls is less.
    assert.ok(attempts > calls, `${attempts} attempts: hedges were sent`)
    assert.ok(attempts <= calls + 100, `${attempts} attempts for ${calls} calls`)
  })
})
