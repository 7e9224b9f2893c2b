import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseConfig } from '../../src/config/schema.ts'
import { Logger } from '../../src/observe/logger.ts'
import type { Call } from '../../src/pipeline/call.ts'
import { CallLifetime } from '../../src/pipeline/lifetime.ts'
import type { Reply } from '../../src/pipeline/reply.ts'
import { ReloadableUpstream } from '../../src/transparent/reload.ts'
import { InFlight } from '../../src/util/in-flight.ts'

describe('InFlight', () => {
  it('counts a call until it settles, a synchronous throw included, and wakes idle waiters', async () => {
    const inFlight = new InFlight()
    let finish: () => void = () => {}
    const call = inFlight.run(
      () =>
        new Promise<void>((resolve) => {
          finish = resolve
        }),
      undefined,
    )
    assert.equal(inFlight.busy, true)
    let idle = false
    const waited = inFlight.idle(60_000).then(() => {
      idle = true
    })
    await Promise.resolve()
    assert.equal(idle, false, 'idle before the call ended')
    finish()
    await call
    await waited
    assert.equal(inFlight.busy, false)
    await assert.rejects(
      inFlight.run(() => {
        throw new Error('sync')
      }, undefined),
      /sync/,
    )
    assert.equal(inFlight.busy, false, 'a synchronous throw is released')
  })

  it('counts a call entered until its lifetime ends', async () => {
    const inFlight = new InFlight()
    const lifetime = new CallLifetime()
    inFlight.enter()
    lifetime.onEnd(inFlight)
    assert.equal(inFlight.busy, true)
    const waited = inFlight.idle(60_000)
    lifetime.end()
    await waited
    assert.equal(inFlight.busy, false)
  })
})

describe('ReloadableUpstream', () => {
  it('sends new calls to the new chain at once; the replaced one closes after its calls are answered', async () => {
    const closed: number[] = []
    const pending: Array<() => void> = []
    let built = 0
    const upstream = new ReloadableUpstream(
      parseConfig({ upstream: 'http://127.0.0.1:1/mcp' }),
      () => {
        const generation = ++built
        return {
          handle: () =>
            new Promise<Reply>((resolve) => {
              pending.push(() => resolve({ generation } as never))
            }),
          protection: { close: () => closed.push(generation) } as never,
        }
      },
      new Logger({ level: 'silent' }),
    )
    const oldCall = { lifetime: new CallLifetime() } as Call
    const newCall = { lifetime: new CallLifetime() } as Call
    // A reload that changes nothing the chain is built from keeps it (and its state).
    await upstream.apply(parseConfig({ upstream: 'http://127.0.0.1:1/mcp', log_level: 'debug' }))
    assert.equal(built, 1)
    const inOld = upstream.handle(oldCall)
    const next = parseConfig({ upstream: 'http://127.0.0.1:1/mcp', request_timeout: 7 })
    await upstream.apply(next)
    assert.equal(upstream.config.request_timeout, 7000)
    const inNew = upstream.handle(newCall)
    assert.equal(pending.length, 2)
    assert.deepEqual(closed, [], 'the old chain still serves its call')
    for (const resolve of pending) resolve()
    assert.deepEqual(await inOld, { generation: 1 })
    assert.deepEqual(await inNew, { generation: 2 })
    await new Promise((resolve) => setImmediate(resolve))
    // In flight until the answer is written (a stream outlives the reply): the lifetime says.
    assert.deepEqual(closed, [], 'the old call is still being answered')
    oldCall.lifetime.end()
    newCall.lifetime.end()
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(closed, [1], 'the old chain closed once idle, the new one kept')
  })
})
