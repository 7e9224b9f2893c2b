import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { carriesMcp, folded, mcpInText } from '../../src/protocol/classify.ts'
import { scanMessages } from '../../src/protocol/lenient-json.ts'

describe('MCP found in a body as any JSON reader could read it', () => {
  it('reads what strict and lenient readers take: repeats, comments, quotes, bare words', () => {
    // Each was forwarded past the roles before (R15-05): Gson's lenient default, JSON5 and
    // JSONC readers skip comments and take single quotes and bare keys and values.
    for (const body of [
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"x"}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call"} trailing',
      '{"jsonrpc":"2.0","id":1, /* " */ "method":"tools/call"}',
      '{"jsonrpc":"2.0","id":1, // "\n "method":"tools/call"}',
      '{"jsonrpc":"2.0","id":1, # "\n "method":"tools/call"}',
      "{'jsonrpc':'2.0','id':1,'method':'tools/call'}",
      '{jsonrpc:"2.0",id:1,method:"tools/call"}',
      '{jsonrpc:"2.0",id:1,method:initialize}',
      '{"jsonrpc":"2.0","id":1,"method":"\\u0074ools/call\t"}',
      '{"jsonrpc":"2.0","id":1,"METHOD":"tools/call"}',
      '[{"jsonrpc":"2.0","method":"notifications/initialized"},{"x":1}]',
      '{"jsonrpc":"2.0","id":1,"params":{"x":[1,{"y":2}]},"method":"ping"}',
      // R16-03: what JSON5, jsonc-parser and Gson read and the first scan did not.
      '{"id":1, // a note\r"method":"tools/call"}',
      '{"id":1, // a note\u2028"method":"tools/call"}',
      '{"id":1, # a note\r"method":"tools/call"}',
      '{"id":1,"method":\u00a0"tools/call"}',
      '{"id":1,"method":\u3000"tools/call"}',
      '{"id":1,"method":\f\v"tools/call"}',
      '{"id":1,"method":"\\x74ools/call"}',
      '{id:1,\\u006dethod:"tools/call"}',
      '{"id"=1;"method"="tools/call"}',
      '{"id"=>1;"method"=>"tools/call"}',
      // R17-01: Gson's XSSI prefix and bare words holding a quote, JSON5's line continuation,
      // jsonc-parser's zero-width space.
      ')]}\'\n{"jsonrpc":"2.0","id":1,"method":"tools/call"}',
      "{x:a', method:'tools/call', id:2}",
      '{"a": tru"e, "method":"tools/call"}',
      '{"id":3,"method":"tools\\\n/call"}',
      '{"id":3,"method":"initi\\\r\nalize"}',
      '{\u200b"method":"tools/call"}',
    ]) {
      assert.equal(carriesMcp(body), true, body)
    }
  })

  it('passes other JSON, a method nested below a message included', () => {
    for (const body of [
      '{"event":{"method":"initialize"}}',
      '{"client_name":"app","redirect_uris":["http://localhost/cb"]}',
      '{"method":"GET","url":"/tools/call"}',
      '[[{"method":"initialize"}]]',
      'just text # with a hash',
      '{"note":"a /* comment */ in a string","method":"app/save"}',
      // R16-05: an app's own methods that only begin like MCP's.
      '{"method":"pingback","target":"https://example.com"}',
      '{"method":"initialize_payment","amount":5}',
    ]) {
      assert.equal(carriesMcp(body), false, body)
    }
  })

  it('reads the id of a lone message JSON.parse refuses (R15-06: refused without it)', () => {
    assert.deepEqual(mcpInText('{"jsonrpc":"2.0","id":7,"method":"tools/call"} x'), { id: 7 })
    assert.deepEqual(mcpInText('{"id":"a-1","method":"ping","n":NaN}'), { id: 'a-1' })
    assert.deepEqual(mcpInText('[{"id":1,"method":"ping"}]'), {})
  })

  it('keeps no memory per level: a body of nested brackets is read in one pass', () => {
    // Before (R15-07): every bracket was kept on a list; 4 MB of them held the event loop.
    const deep = `${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`
    assert.deepEqual(scanMessages(deep, folded), { methods: [] })
    const afterDeep = `[{"a":${'['.repeat(1000)}${']'.repeat(1000)},"method":"ping"}]`
    assert.deepEqual(scanMessages(afterDeep, folded).methods, ['ping'])
  })
})
