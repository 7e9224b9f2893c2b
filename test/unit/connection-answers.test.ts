/**
 * A client's answer to a backend's request (sampling, elicitation) that cannot be written, nested
 * too deeply for JSON.stringify, is not lost on the way (the backend waited for it until its own
 * timeout): the backend is told why, with its request's id. A Connection whose transport writes
 * what it is given as JSON, as every transport does.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Connection } from '../../src/gateway/backends/connection.ts'
import type { JsonRpcMessage } from '../../src/jsonrpc/message.ts'

class WritingConnection extends Connection {
  readonly written: string[] = []

  protected transmit(message: JsonRpcMessage): void {
    this.written.push(JSON.stringify(message))
  }

  async close(): Promise<void> {}
}

function nested(depth: number): unknown {
  let value: unknown = 'deep'
  for (let i = 0; i < depth; i++) value = { value }
  return value
}

describe("a client's answer to a backend's request", () => {
  it('is passed on as it came', () => {
    const connection = new WritingConnection('b')
    connection.answer(3, { result: { content: nested(50) as object } })
    assert.equal(connection.written.length, 1)
    assert.deepEqual(JSON.parse(connection.written[0] as string).id, 3)
  })

  it('too deep to write: the backend gets an error with its id instead of nothing', () => {
    const connection = new WritingConnection('b')
    connection.answer(4, { result: { content: nested(20_000) as object } })
    assert.equal(connection.written.length, 1)
    const sent = JSON.parse(connection.written[0] as string)
    assert.equal(sent.id, 4)
    assert.equal(sent.error.code, -32602)
    assert.match(sent.error.message, /nested too deeply/)
  })
})
