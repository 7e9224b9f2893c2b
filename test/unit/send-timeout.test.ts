/**
 * SendWatch's judgement, sweep by sweep, on sockets whose pending bytes the test sets: only a
 * connection whose unsent bytes stood still for the whole timeout is cut. The end-to-end
 * behaviour with real sockets is test/integration/send-timeout.test.ts.
 */
import assert from 'node:assert/strict'
import type { ServerResponse } from 'node:http'
import { it } from 'node:test'
import { SendWatch } from '../../src/http/send-timeout.ts'

/** A socket as the watch reads it: its stream's bytes, libuv's queue, whether destroyed. */
class FakeSocket {
  writableLength = 0
  destroyed = false
  readonly _handle = { writeQueueSize: 0 }
  destroy(): void {
    this.destroyed = true
  }
}

function setup(timeoutMs = 1000) {
  let now = 0
  const cut: number[] = []
  const sockets = [new FakeSocket(), new FakeSocket()]
  // Two answers on the first socket (a pipelined request waits behind the first): judged once.
  const answers = [sockets[0], sockets[0], sockets[1]].map(
    (socket) => ({ socket }) as unknown as ServerResponse,
  )
  const watch = new SendWatch({
    timeoutMs,
    now: () => now,
    onCut: (_socket, stalledMs) => cut.push(stalledMs),
  })
  // The tests sweep themselves; the watch's own interval cannot run inside a synchronous test.
  watch.start(() => answers)
  const at = (ms: number) => {
    now = ms
    watch.sweep()
  }
  return { sockets: sockets as [FakeSocket, FakeSocket], cut, at, watch }
}

it('cuts a connection whose pending bytes stood still for the whole timeout', (t) => {
  const { sockets, cut, at, watch } = setup()
  t.after(() => watch.stop())
  sockets[0].writableLength = 65_536
  at(0)
  at(500)
  assert.equal(sockets[0].destroyed, false, 'half the timeout: still waiting')
  at(1000)
  assert.equal(sockets[0].destroyed, true)
  assert.deepEqual(cut, [1000], 'cut once, with how long it took nothing')
  assert.equal(sockets[1].destroyed, false, 'a connection with nothing to send is left alone')
})

it('keeps a connection whose client takes bytes, however slowly', (t) => {
  const { sockets, cut, at, watch } = setup()
  t.after(() => watch.stop())
  sockets[0].writableLength = 1_000_000
  sockets[0]._handle.writeQueueSize = 600_000
  for (let ms = 0; ms <= 5000; ms += 250) {
    // The kernel takes a little of one large write at a time: libuv's queue shrinks.
    sockets[0]._handle.writeQueueSize -= 1000
    at(ms)
  }
  assert.equal(sockets[0].destroyed, false)
  assert.deepEqual(cut, [])
})

it('starts counting again after the client read everything, and after a reload', (t) => {
  const { sockets, cut, at, watch } = setup()
  t.after(() => watch.stop())
  sockets[1].writableLength = 10
  at(0)
  at(900)
  sockets[1].writableLength = 0
  at(950)
  sockets[1].writableLength = 10
  at(1000)
  at(1900)
  assert.equal(sockets[1].destroyed, false, 'the earlier wait ended when it was all taken')
  watch.setTimeout(5000)
  at(2100)
  assert.equal(sockets[1].destroyed, false, 'a longer timeout applies to the wait in progress')
  at(6000)
  assert.equal(sockets[1].destroyed, true)
  assert.deepEqual(cut, [5000])
})
