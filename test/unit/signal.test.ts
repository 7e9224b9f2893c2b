/**
 * CallSignal/CallController: the cheap cancellation every call carries. What callers rely on
 * from AbortSignal must hold: listeners hear one abort with its reason, removed ones do not,
 * a linked signal follows its parent until unlinked, and a real AbortSignal made from it (for
 * APIs that demand one) follows it too.
 */
import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { describe, it } from 'node:test'
import { CallController } from '../../src/pipeline/signal.ts'

describe('CallSignal', () => {
  it('tells each listener once, with the reason, and forgets removed listeners', () => {
    const controller = new CallController()
    const heard: string[] = []
    const first = () => heard.push(`first:${String(controller.signal.reason)}`)
    const removed = () => heard.push('removed')
    controller.signal.addEventListener('abort', first, { once: true })
    controller.signal.addEventListener('abort', removed)
    controller.signal.removeEventListener('abort', removed)
    assert.equal(controller.signal.aborted, false)
    controller.abort('gone')
    controller.abort('again')
    assert.equal(controller.signal.aborted, true)
    assert.equal(controller.signal.reason, 'gone')
    assert.deepEqual(heard, ['first:gone'])
    // Added after the abort: never called (as with AbortSignal).
    controller.signal.addEventListener('abort', () => heard.push('late'))
    assert.deepEqual(heard, ['first:gone'])
    assert.throws(
      () => controller.signal.throwIfAborted(),
      (error) => error === 'gone',
    )
  })

  it('keeps the order of what is left when the first, a middle or a repeated listener goes', () => {
    const controller = new CallController()
    const heard: string[] = []
    const listener = (name: string) => () => {
      heard.push(name)
    }
    const a = listener('a')
    const b = listener('b')
    const c = listener('c')
    const d = listener('d')
    const e = listener('e')
    const signal = controller.signal
    signal.addEventListener('abort', a)
    signal.addEventListener('abort', b)
    signal.addEventListener('abort', c)
    signal.removeEventListener('abort', a) // the first one held
    signal.addEventListener('abort', d)
    signal.removeEventListener('abort', c) // one in the middle
    signal.addEventListener('abort', b) // b twice: removing it takes the later one
    signal.removeEventListener('abort', b)
    signal.addEventListener('abort', e)
    controller.abort()
    assert.deepEqual(heard, ['b', 'd', 'e'])

    const alone = new CallController()
    alone.signal.addEventListener('abort', a)
    alone.signal.removeEventListener('abort', a)
    alone.signal.addEventListener('abort', e) // held first again once nothing is
    heard.length = 0
    alone.abort()
    assert.deepEqual(heard, ['e'])
  })

  it('aborts with an AbortError when no reason is given', () => {
    const controller = new CallController()
    controller.abort()
    assert.ok(controller.signal.reason instanceof Error)
    assert.equal((controller.signal.reason as Error).name, 'AbortError')
  })

  it('keeps telling the other listeners when one throws, and says so', async () => {
    const controller = new CallController()
    const heard: number[] = []
    const warned = once(process, 'warning')
    controller.signal.addEventListener('abort', () => {
      throw new Error('listener failed')
    })
    controller.signal.addEventListener('abort', () => heard.push(2))
    controller.abort('x')
    assert.deepEqual(heard, [2])
    // Not swallowed: a process warning names it (and the process keeps running).
    const [warning] = await warned
    assert.match((warning as Error).message, /listener failed/)
  })

  it('a linked controller follows its parent until unlinked', () => {
    const parent = new CallController()
    const child = CallController.linkedTo(parent.signal)
    const detached = CallController.linkedTo(parent.signal)
    detached.unlink()
    parent.abort('client left')
    assert.equal(child.signal.aborted, true)
    assert.equal(child.signal.reason, 'client left')
    assert.equal(detached.signal.aborted, false)
    // A child aborted on its own leaves the parent alone.
    const other = new CallController()
    const own = CallController.linkedTo(other.signal)
    own.abort('deadline')
    assert.equal(other.signal.aborted, false)
    // Linked to a parent already aborted: aborted at once.
    assert.equal(CallController.linkedTo(parent.signal).signal.reason, 'client left')
  })

  it('tells listeners and linked controllers in the order they were added, down a chain', () => {
    const root = new CallController()
    const heard: string[] = []
    root.signal.addEventListener('abort', () => heard.push('root listener 1'))
    const child = CallController.linkedTo(root.signal)
    child.signal.addEventListener('abort', () => heard.push(`child:${String(child.signal.reason)}`))
    const grandchild = CallController.linkedTo(child.signal)
    grandchild.signal.addEventListener('abort', () => heard.push('grandchild'))
    root.signal.addEventListener('abort', () => heard.push('root listener 2'))
    root.abort('gone')
    assert.deepEqual(heard, ['root listener 1', 'child:gone', 'grandchild', 'root listener 2'])
    assert.equal(grandchild.signal.reason, 'gone')
  })

  it('links to a real AbortSignal as a parent too', () => {
    const real = new AbortController()
    const child = CallController.linkedTo(real.signal)
    real.abort('real reason')
    assert.equal(child.signal.reason, 'real reason')
  })

  it('gives a real AbortSignal that follows it, before or after the abort', async () => {
    const before = new CallController()
    const signal = before.signal.asAbortSignal()
    assert.ok(signal instanceof AbortSignal)
    assert.equal(before.signal.asAbortSignal(), signal)
    const emitter = new EventEmitter()
    const waiting = once(emitter, 'never', { signal })
    before.abort('stop')
    await assert.rejects(waiting, { name: 'AbortError' })
    assert.equal(signal.reason, 'stop')
    const after = new CallController()
    after.abort('already')
    assert.equal(after.signal.asAbortSignal().aborted, true)
    assert.equal(after.signal.asAbortSignal().reason, 'already')
  })
})
