import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
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
})
