/**
 * Finding a key named twice in one object of a JSON text, as JSON.parse reads keys (escapes
 * decoded), without being misled by strings that hold braces, quotes or commas.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hasRepeatedKey, mayReadTwoWays } from '../../src/jsonrpc/repeated-keys.ts'

describe('hasRepeatedKey', () => {
  it('finds a key named twice at any depth, spelt with escapes or not', () => {
    for (const text of [
      '{"a":1,"a":2}',
      '{"x":{"csp":{},"csp":{}}}',
      '[{"k":[1,{"a":1,"b":2,"a":3}]}]',
      '{"csp":1,"\\u0063sp":2}',
      '{ "a" : 1 , "a" : 2 }',
    ]) {
      assert.equal(hasRepeatedKey(text), true, text)
    }
  })

  it('reads keys apart from values, strings and other objects', () => {
    for (const text of [
      '{"a":"a","b":"a"}',
      '{"a":{"a":{"a":1}}}',
      '[{"a":1},{"a":2}]',
      '{"a":"{\\"a\\":1,\\"a\\":2}","b":["a","a"]}',
      '{"s":"x\\\\","a":1}',
      '{}',
      '"a"',
    ]) {
      assert.equal(hasRepeatedKey(text), false, text)
    }
  })

  it('looks only at texts that hold what the widget checks read', () => {
    assert.equal(mayReadTwoWays('{"a":1,"a":2}'), false)
    assert.equal(mayReadTwoWays('{"csp":1,"csp":2}'), true)
    assert.equal(mayReadTwoWays('{"ui":{"\\u0063sp":1,"csp":2}}'), true)
  })
})
