import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MessageChannel } from 'node:worker_threads'
import { BodyWriter } from '../../src/util/body-writer.ts'

describe('BodyWriter', () => {
  it('appends texts as UTF-8 and grows past its first buffer', () => {
    const body = new BodyWriter(8)
    const pieces = ['{"a":', '"héllo ✓ 😀"', ',"b":"', 'x'.repeat(1000), '"}']
    for (const piece of pieces) body.text(piece)
    const expected = Buffer.from(pieces.join(''), 'utf8')
    assert.equal(body.length, expected.length)
    assert.deepEqual(body.bytes(), expected)
    assert.deepEqual(JSON.parse(body.bytes().toString('utf8')).b, 'x'.repeat(1000))
  })

  it('starts over on reset, keeping what was written before out of the next body', () => {
    const body = new BodyWriter(16)
    body.text('first body, longer than the second')
    body.reset()
    body.text('second')
    assert.equal(body.bytes().toString(), 'second')
  })

  it('hands over what was written in a buffer of its own, transferable, and starts empty', async () => {
    const body = new BodyWriter(16)
    body.text('handed over: ✓ and more than sixteen bytes')
    const written = body.detach()
    assert.equal(body.length, 0)
    body.text('next')
    const { port1, port2 } = new MessageChannel()
    const received = new Promise<Uint8Array>((resolve) => {
      port2.once('message', resolve)
    })
    port1.postMessage(written, [written.buffer as ArrayBuffer])
    assert.equal(written.byteLength, 0, 'transferred, not copied: detached here')
    const bytes = await received
    assert.equal(Buffer.from(bytes).toString('utf8'), 'handed over: ✓ and more than sixteen bytes')
    assert.equal(body.bytes().toString(), 'next', 'the writer goes on in a new buffer')
    port1.close()
  })
})
