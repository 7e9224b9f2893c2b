import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PorticoError } from '../../src/errors.ts'
import {
  batchRequestIdsOf,
  bigIdLiteral,
  decodeBody,
  encodeJson,
  encodeValues,
  type JsonRpcId,
  type JsonRpcMessage,
  jsonTextOf,
  kindOf,
  leadingIdOf,
  MAX_BATCH,
  parseMessage,
  requestIdOf,
  TopLevelIdScanner,
} from '../../src/jsonrpc/message.ts'
import { caseVariantMember, clientInfoOf, eraOf, targetOf } from '../../src/protocol/classify.ts'
import { answersId, describeNonResponse, summarize } from '../../src/protocol/summarize.ts'
import { nestedDeeperThan } from '../../src/util/json-depth.ts'

describe('kindOf', () => {
  const cases: Array<[unknown, string | undefined]> = [
    [{ jsonrpc: '2.0', id: 1, method: 'ping' }, 'request'],
    [{ jsonrpc: '2.0', id: 'a', method: 'tools/call', params: { name: 'x' } }, 'request'],
    [{ jsonrpc: '2.0', method: 'notifications/initialized' }, 'notification'],
    [{ jsonrpc: '2.0', id: 1, result: {} }, 'response'],
    [{ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'x' } }, 'response'],
    [{ jsonrpc: '1.0', id: 1, method: 'ping' }, undefined],
    [{ jsonrpc: '2.0', id: {}, method: 'ping' }, undefined],
    [{ jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: '' } }, undefined],
    [{ jsonrpc: '2.0', id: 1 }, undefined],
    [{ jsonrpc: '2.0', method: 'x', params: 3 }, undefined],
    [[], undefined],
    ['text', undefined],
  ]
  for (const [value, kind] of cases) {
    it(`${JSON.stringify(value)} → ${kind}`, () => assert.equal(kindOf(value), kind))
  }
})

describe('requestIdOf (the id a refusal of a body is sent under)', () => {
  const of = (value: unknown) => requestIdOf(Buffer.from(JSON.stringify(value)))
  it("is a request's id, also an invalid request's", () => {
    assert.equal(of({ jsonrpc: '2.0', id: 7, method: 'tools/list' }), 7)
    assert.equal(of({ jsonrpc: '1.0', id: 'x', method: 'tools/list' }), 'x')
  })
  it("is never a response's: that id names a request of the client's own", () => {
    assert.equal(of({ jsonrpc: '2.0', id: 7, result: {} }), undefined)
    assert.equal(of({ jsonrpc: '2.0', id: 7, error: { code: -1, message: 'no' } }), undefined)
  })
})

describe('batchRequestIdsOf (whom a refused batch answers)', () => {
  const of = (value: unknown) => batchRequestIdsOf(Buffer.from(JSON.stringify(value)))
  it("is each request's id, an invalid element's too, and no notification's or response's", () => {
    const ids = of([
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 9, result: {} },
      { jsonrpc: '1.0', id: 'bad', method: 'x' },
      { nothing: true },
    ])
    assert.deepEqual(ids, [1, 'bad', undefined])
  })
  it('is undefined for a lone message or a body that is no batch', () => {
    assert.equal(of({ jsonrpc: '2.0', id: 1, method: 'ping' }), undefined)
    assert.equal(batchRequestIdsOf(Buffer.from('[{oops')), undefined)
    assert.equal(of([]), undefined)
  })
})

describe('decodeBody', () => {
  it('decodes a single message as a batch of one', () => {
    const decoded = decodeBody(Buffer.from('{"jsonrpc":"2.0","id":1,"method":"ping"}'))
    assert.equal(decoded.batch, false)
    assert.deepEqual(decoded.kinds, ['request'])
  })
  it('decodes a batch', () => {
    const decoded = decodeBody(
      '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"n"}]',
    )
    assert.equal(decoded.batch, true)
    assert.deepEqual(decoded.kinds, ['request', 'notification'])
  })
  it('rejects invalid JSON with parse_error', () => {
    assert.throws(
      () => decodeBody('{oops'),
      (e: unknown) => e instanceof PorticoError && e.reason === 'parse_error' && e.code === -32700,
    )
  })
  it('rejects non-JSON-RPC and empty batches with invalid_request', () => {
    for (const body of ['{"hello":"world"}', '[]', '42']) {
      assert.throws(
        () => decodeBody(body),
        (e: unknown) => e instanceof PorticoError && e.code === -32600,
        body,
      )
    }
  })
})

describe("decodeBody: a client's malformed answer to a server request", () => {
  const malformed = [
    { jsonrpc: '2.0', id: 4 },
    { jsonrpc: '2.0', id: 4, result: {}, error: { code: 1, message: 'x' } },
    { jsonrpc: '2.0', id: 4, error: { code: 'x', message: 'no' } },
    { jsonrpc: '2.0', id: 4, error: { code: 1.5, message: 'no' } },
    { jsonrpc: '2.0', id: 4, error: { code: -1 } },
    { jsonrpc: '2.0', id: 4, error: 'no' },
  ]
  it('stands in as an error answer under its id (the server is told), refused by position', () => {
    for (const value of malformed) {
      for (const body of [JSON.stringify(value), JSON.stringify([value])]) {
        const decoded = decodeBody(body)
        assert.deepEqual(decoded.kinds, ['response'], body)
        assert.deepEqual(decoded.messages[0], {
          jsonrpc: '2.0',
          id: 4,
          error: {
            code: -32603,
            message: "The client's answer to this request was not a valid JSON-RPC response",
          },
        })
        const refusal = decoded.invalid?.[0]
        assert.equal(refusal?.code, -32600, body)
        // Under its id only when, without result and error, it could be a request (alone or
        // batched, as any invalid message).
        const couldBeRequest = !('result' in value || 'error' in value)
        assert.equal(refusal?.id, couldBeRequest ? 4 : undefined, body)
      }
    }
  })
  it('leaves a well-formed answer, and a message without a usable id, as they were', () => {
    const good = decodeBody('{"jsonrpc":"2.0","id":4,"error":{"code":-1,"message":"no"}}')
    assert.equal('invalid' in good, false)
    assert.throws(
      () => decodeBody('{"jsonrpc":"2.0","id":null,"error":{"code":"x"}}'),
      (e: unknown) => e instanceof PorticoError && e.code === -32600 && e.id === undefined,
    )
  })
})

describe('decodeBody: a batch with invalid elements (JSON-RPC 2.0 §6)', () => {
  it('keeps the valid elements and refuses each invalid one by position, with its id', () => {
    const decoded = decodeBody(
      '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"1.0","id":"b"},7,{"jsonrpc":"2.0","method":"n"}]',
    )
    assert.deepEqual(decoded.kinds, ['request', 'request', 'request', 'notification'])
    assert.equal(decoded.invalid?.[0], undefined)
    assert.equal(decoded.invalid?.[3], undefined)
    assert.equal(decoded.invalid?.[1]?.code, -32600)
    assert.equal(decoded.invalid?.[1]?.id, 'b')
    assert.equal(decoded.invalid?.[2]?.code, -32600)
    assert.equal(decoded.invalid?.[2]?.id, undefined)
    // The stand-ins carry only what the answer names: nothing of the element reaches the chain.
    assert.deepEqual(decoded.messages[1], { jsonrpc: '2.0', id: 'b' })
    assert.deepEqual(decoded.messages[2], { jsonrpc: '2.0' })
  })
  it('adds nothing to a body whose messages are all valid', () => {
    assert.equal('invalid' in decodeBody('{"jsonrpc":"2.0","id":1,"method":"ping"}'), false)
    assert.equal('invalid' in decodeBody('[{"jsonrpc":"2.0","id":1,"method":"ping"}]'), false)
  })
})

describe('classification', () => {
  it('extracts tool, prompt and resource targets', () => {
    assert.deepEqual(
      targetOf({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'add' } }),
      { method: 'tools/call', name: 'add', kind: 'tool' },
    )
    assert.deepEqual(
      targetOf({ jsonrpc: '2.0', id: 1, method: 'prompts/get', params: { name: 'p' } }),
      { method: 'prompts/get', name: 'p', kind: 'prompt' },
    )
    assert.deepEqual(
      targetOf({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'demo://r' } }),
      { method: 'resources/read', name: 'demo://r', kind: 'resource' },
    )
    assert.deepEqual(targetOf({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), {
      method: 'tools/list',
    })
  })
  it('detects the era per request', () => {
    const modern = {
      jsonrpc: '2.0' as const,
      id: 1,
      method: 'tools/list',
      params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } },
    }
    assert.equal(eraOf(modern, undefined, undefined), 'modern')
    assert.equal(
      eraOf({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, '2025-11-25', 's1'),
      'legacy',
    )
    assert.equal(
      eraOf({ jsonrpc: '2.0', id: 1, method: 'server/discover' }, '2026-07-28', undefined),
      'modern',
    )
  })
  it('reads client info from initialize and from modern _meta', () => {
    assert.deepEqual(
      clientInfoOf({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { clientInfo: { name: 'claude-ai', version: '1.0' } },
      }),
      { name: 'claude-ai', version: '1.0' },
    )
    assert.deepEqual(
      clientInfoOf({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/list',
        params: { _meta: { 'io.modelcontextprotocol/clientInfo': { name: 'cursor' } } },
      }),
      { name: 'cursor' },
    )
  })
  it('keeps a client name and version bounded, distinct names distinct', () => {
    const info = (name: string, version: string) =>
      clientInfoOf({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { clientInfo: { name, version } },
      })
    // Before: kept whole, per session (audit, cloud sink) and per lookup (metrics' platform):
    // clients naming themselves with megabytes ran Portico out of memory.
    const a = info(`claude-${'a'.repeat(3_000_000)}`, 'v'.repeat(100_000))
    const b = info(`claude-${'a'.repeat(2_999_999)}b`, '1')
    assert.ok((a?.name.length ?? Infinity) <= 256 && (a?.version?.length ?? Infinity) <= 256)
    assert.ok(a?.name.startsWith('claude-aaa'))
    assert.notEqual(a?.name, b?.name)
  })
})

describe('summarize', () => {
  it('takes the no-parse fast path for plain successes', () => {
    const summary = summarize(
      '{"result":{"content":[{"type":"text","text":"hi"}]},"jsonrpc":"2.0","id":1}',
      false,
    )
    assert.deepEqual(summary, { isResponse: true, outcome: 'ok' })
  })
  it('reads errors, tool errors and notifications exactly', () => {
    assert.equal(
      summarize('{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad"}}', false)
        ?.errorCode,
      -32602,
    )
    assert.equal(
      summarize(
        '{"jsonrpc":"2.0","id":1,"result":{"isError":true,"content":[{"type":"text","text":"boom"}]}}',
        false,
      )?.outcome,
      'tool_error',
    )
    const note = summarize(
      '{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}',
      false,
    )
    assert.equal(note?.isResponse, false)
    assert.equal(note?.method, 'notifications/progress')
  })
  it('is not fooled by the word error inside a string', () => {
    assert.equal(
      summarize(
        '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"\\"error\\": no"}]}}',
        false,
      )?.outcome,
      'ok',
    )
  })
})

describe('answersId, describeNonResponse: is this the answer to the call, and if not, what is it', () => {
  // A whole JSON answer is read as bytes, an SSE event's data as text: the same answers.
  for (const form of ['bytes', 'text'] as const) {
    const answers = (text: string, id: JsonRpcId) =>
      answersId(form === 'bytes' ? Buffer.from(text) : text, id)
    it(`reads the id without parsing, and by value when it is written another way (${form})`, () => {
      assert.equal(answers('{"jsonrpc":"2.0","id":7,"result":{}}', 7), true)
      assert.equal(answers('{"jsonrpc":"2.0","id": "a" ,"result":{}}', 'a'), true)
      assert.equal(answers('{"jsonrpc":"2.0","id":70,"result":{}}', 7), false)
      assert.equal(answers('{"jsonrpc":"2.0","id":"7","result":{}}', 7), false)
      // The same number written another way: `1e2`, and a big id an upstream's parser rounded.
      assert.equal(answers('{"jsonrpc":"2.0","id":1e2,"result":{}}', 100), true)
      const request = '{"jsonrpc":"2.0","id":-99999999999999999999999,"method":"ping"}'
      const big = (decodeBody(request).messages[0] as { id: JsonRpcId }).id
      assert.equal(bigIdLiteral(big), '-99999999999999999999999')
      assert.equal(
        answers('{"jsonrpc":"2.0","id":-99999999999999999999999,"result":{}}', big),
        true,
      )
      assert.equal(answers('{"jsonrpc":"2.0","id":-1e+23,"result":{}}', big), true)
      assert.equal(answers('{"jsonrpc":"2.0","id":-1e+22,"result":{}}', big), false)
      // A string id whose UTF-8 bytes outnumber its characters; nested ids are parsed.
      assert.equal(answers('{"jsonrpc":"2.0","id":"é✓","result":{}}', 'é✓'), true)
      assert.equal(answers('{"jsonrpc":"2.0","id":"é✓","result":{}}', 'é'), false)
      assert.equal(answers('{"jsonrpc":"2.0","id":3,"result":{"id":4}}', 3), true)
      assert.equal(answers('{"jsonrpc":"2.0","id":3,"result":{"id":4}}', 4), false)
      assert.equal(answers('{"jsonrpc":"2.0","result":{}}', 3), false)
      assert.equal(answers('{"jsonrpc":"2.0","id":3', 3), false)
    })
  }
  it('names what came instead of a response', () => {
    const cases: Array<[unknown, string]> = [
      [undefined, 'not JSON'],
      [[{ jsonrpc: '2.0', id: 1, result: {} }], 'a batch, not one response'],
      ['text', 'not a JSON-RPC response'],
      [{ jsonrpc: '2.0', method: 'ping', id: 1 }, 'a ping message, not a response'],
      [{ jsonrpc: '2.0', id: 1 }, 'a response with neither a result nor an error'],
      [
        { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'x' } },
        'a response with both a result and an error',
      ],
      [
        { jsonrpc: '2.0', id: 1, error: { code: '1', message: 'x' } },
        'an error that is not an object with a numeric code and a message',
      ],
      [{ jsonrpc: '2.0', result: {} }, 'a response without an id'],
      [{ jsonrpc: '2.0', id: 9, result: {} }, 'the response to id 9'],
      // An id JSON.stringify cannot write back is named, not thrown.
      [
        {
          jsonrpc: '2.0',
          id: JSON.parse(`${'['.repeat(20_000)}${']'.repeat(20_000)}`),
          result: {},
        },
        'the response to id nested too deeply to show',
      ],
    ]
    assert.deepEqual(
      cases.map(([value]) => describeNonResponse(value)),
      cases.map(([, words]) => words),
    )
  })
})

describe('decodeBody: ids past 2^53 and batch bounds', () => {
  it('keeps each big id literal, even two that round to the same number, in message order', () => {
    const body =
      '[{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"},' +
      '{"jsonrpc":"2.0","id":9007199254740992,"method":"ping"},' +
      '{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}]'
    const ids = decodeBody(body).messages.map((m) => bigIdLiteral((m as { id: unknown }).id))
    // 9007199254740993 and 9007199254740992 are the same double: each message keeps its own.
    assert.deepEqual(ids, ['9007199254740993', '9007199254740992', '9007199254740993'])
  })

  it('keeps a message\'s own big id, not a nested "id" that rounds to the same number', () => {
    const own =
      '{"jsonrpc":"2.0","id":12345678901234567890,"method":"ping","params":{"_meta":{"id":12345678901234567891}}}'
    const [message] = decodeBody(own).messages
    // Before: the first `"id"` of the text after the message's start was taken (the nested one).
    assert.equal(bigIdLiteral((message as { id: unknown }).id), '12345678901234567890')
    const batch =
      '[{"jsonrpc":"2.0","method":"notifications/x","params":{"id":12345678901234567891}},' +
      '{"jsonrpc":"2.0","id":12345678901234567890,"method":"ping"}]'
    const ids = decodeBody(batch).messages.map((m) => bigIdLiteral((m as { id?: unknown }).id))
    assert.deepEqual(ids, [undefined, '12345678901234567890'])
  })

  it('reads a long fraction or exponent as the double it is, beside a big integer', () => {
    // Before: the 16+ digits after a `.` were taken for a big integer and marked inside the
    // number, and the valid body was refused as not JSON (-32700).
    const body =
      '{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":0.30000000000000004,' +
      '"b":-122.41941550000001,"c":1.2345678901234567e-300,"d":5E+1234567890123456,' +
      '"big":12345678901234567890}}'
    const [message] = decodeBody(body).messages
    const params = (message as { params: Record<string, number> }).params
    assert.equal(params.a, 0.30000000000000004)
    assert.equal(params.b, -122.41941550000001)
    assert.equal(params.c, Number('1.2345678901234567e-300'))
    assert.equal(params.d, Number.POSITIVE_INFINITY)
    assert.match(encodeJson(message), /"a":0\.30000000000000004,"b":-122\.41941550000001,/)
    assert.match(encodeJson(message), /"big":12345678901234567890\}/)
  })

  it('refuses a batch of more than MAX_BATCH messages before looking at its ids', () => {
    const one = '{"jsonrpc":"2.0","id":90071992547409930,"method":"ping"}'
    const body = `[${Array.from({ length: MAX_BATCH + 1 }, () => one).join(',')}]`
    assert.throws(
      () => decodeBody(body),
      (error: unknown) =>
        error instanceof PorticoError &&
        error.reason === 'invalid_request' &&
        /Batch too large: 1001 messages/.test(error.message),
    )
    // At the bound, thousands of big ids decode in one pass.
    const atBound = `[${Array.from({ length: MAX_BATCH }, () => one).join(',')}]`
    assert.equal(decodeBody(atBound).messages.length, MAX_BATCH)
  })
})

describe("big integer ids: a string spelled like Portico's marker stays a string", () => {
  it('in a request, and in a result parsed with parseMessage', () => {
    const body = '{"jsonrpc":"2.0","id":"\\u0000id:77","method":"ping"}'
    const [message] = decodeBody(body).messages
    assert.equal(bigIdLiteral((message as { id: unknown }).id), undefined)
    assert.equal(encodeJson(message), body)
    const answer = '{"jsonrpc":"2.0","id":"\\u0000id:77","result":{"text":"\\u0000id:42"}}'
    assert.equal(encodeJson(parseMessage(answer)), answer)
    const big = '{"jsonrpc":"2.0","id":12345678901234567890,"result":{"n":12345678901234567891}}'
    assert.equal(encodeJson(parseMessage(big)), big)
    assert.equal(parseMessage('{"id":1,"result":NaN}'), undefined)
  })
})

describe('decodeBody and encodeJson: integers past 2^53 anywhere in a message', () => {
  const reencoded = (body: string) => encodeJson(decodeBody(body).messages[0])

  it('writes back the exact literal of each, still a number to whoever reads the message', () => {
    const body =
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":' +
      '{"id":12345678901234567890123,"neg":-9007199254740993,"list":[18446744073709551615,' +
      '18446744073709551614],"safe":9007199254740991,"float":12345678901234567890.5,' +
      '"text":"12345678901234567890123","nested":{"x":{"y":98765432109876543210}}}}}'
    const decoded = decodeBody(body)
    const args = (
      decoded.messages[0] as unknown as { params: { arguments: Record<string, unknown> } }
    ).params.arguments
    assert.equal(typeof args.id, 'number')
    assert.equal(args.id, Number('12345678901234567890123'))
    const text = encodeJson(decoded.messages[0])
    assert.match(text, /"id":12345678901234567890123,/)
    assert.match(text, /"neg":-9007199254740993,/)
    // Two literals that round to the same number keep their own digits.
    assert.match(text, /"list":\[18446744073709551615,18446744073709551614\]/)
    assert.match(text, /"safe":9007199254740991,/)
    assert.match(text, /"text":"12345678901234567890123"/)
    assert.match(text, /"y":98765432109876543210\}/)
    // Not an integer literal: JSON.stringify's own rendering.
    assert.match(text, /"float":12345678901234567000,/)
  })

  it('writes the value a middleware put instead, and the literal in a copy made of the message', () => {
    const body = '{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":{"n":123456789012345678901}}}'
    const message = decodeBody(body).messages[0] as unknown as { params: { a: { n: number } } }
    // The gateway rebuilds the message and params around the same inner objects.
    const copy = { ...message, id: 7, params: { ...message.params } }
    assert.match(encodeJson(copy), /"n":123456789012345678901\}/)
    message.params.a.n = 2 ** 60
    assert.match(encodeJson(message), new RegExp(`"n":${2 ** 60}\\}`))
  })

  it('refuses the same texts JSON.parse refuses (a leading zero, a number as a member name)', () => {
    for (const body of [
      '{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":01234567890123456789}}',
      '{"jsonrpc":"2.0","id":1,"method":"m","params":{12345678901234567890:1}}',
      '{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":-}}',
    ]) {
      assert.throws(
        () => decodeBody(body),
        (e: unknown) => e instanceof PorticoError,
        body,
      )
    }
  })

  it('keeps a big id exact beside big values, and leaves a body without one to JSON.parse', () => {
    const text = reencoded(
      '{"jsonrpc":"2.0","id":123456789012345678901,"method":"m","params":{"v":123456789012345678902}}',
    )
    assert.equal(
      text,
      '{"jsonrpc":"2.0","id":123456789012345678901,"method":"m","params":{"v":123456789012345678902}}',
    )
    // A string with a marker-like text is a string (the marker holds a per-process nonce).
    const plain =
      '{"jsonrpc":"2.0","id":1,"method":"m","params":{"s":"\\u0000n0:1234567890123456789"}}'
    assert.equal(reencoded(plain), plain)
  })
})

describe('leadingIdOf: the id a 413 names', () => {
  const of = (text: string) => leadingIdOf(Buffer.from(text))
  it('reads a top-level string or number id from the first bytes', () => {
    assert.equal(of('{"jsonrpc":"2.0","id":"a\\"b","method":"m","params":{"x":"'), 'a"b')
    assert.equal(of(' { "method" : "id", "id" : -12 , "params":'), -12)
    assert.equal(of('{"params":{"id":1,"a":[{"id":2}]},"id":3,"x'), 3)
    assert.equal(
      bigIdLiteral(of('{"id":12345678901234567890123,"method":"m"')),
      '12345678901234567890123',
    )
  })
  it('gives none for a nested, cut, null, batch or non-JSON id', () => {
    for (const text of [
      '{"params":{"id":1},"method":"m","params2":"',
      '{"jsonrpc":"2.0","id":"cut',
      '{"jsonrpc":"2.0","id":12',
      '{"id":null,"method":"m"',
      '[{"id":1,"method":"m"}',
      '{"id":tru,"method":"m"',
      '{"a":"}","b":{"id":4}}, "id":5',
      'x{"id":1,',
    ]) {
      assert.equal(of(text), undefined, text)
    }
    // Past the first 4 KB it is not looked for.
    assert.equal(of(`{"pad":"${'y'.repeat(5000)}","id":1,"m":1}`), undefined)
  })
})

describe('TopLevelIdScanner: the id of a message read in pieces, kept alone', () => {
  const scan = (pieces: readonly string[]) => {
    const scanner = new TopLevelIdScanner()
    for (const piece of pieces) scanner.push(piece)
    return { id: scanner.id, hasMethod: scanner.hasMethod, done: scanner.done }
  }
  it('finds the top-level id wherever it is, cut anywhere, strings and nesting read past', () => {
    for (const [text, id, hasMethod] of [
      [
        '{"result":{"id":9,"s":"\\"id\\":1,\\\\","a":["id"]},"jsonrpc":"2.0","id":"x1"}',
        'x1',
        false,
      ],
      ['{"jsonrpc":"2.0","id":7,"method":"m","params":{"method":"no"}}', 7, true],
      [' {"x":"method","id" : -1.5e3 }', -1500, false],
      ['{"id":"a\\"b","result":{}}', 'a"b', false],
    ] as const) {
      assert.equal(JSON.parse(text).id, id, 'the case is JSON')
      for (let cut = 0; cut <= text.length; cut++) {
        const got = scan([text.slice(0, cut), text.slice(cut)])
        assert.deepEqual(got, { id, hasMethod, done: true }, `${text} cut at ${cut}`)
      }
      assert.deepEqual(scan([...text]), { id, hasMethod, done: true }, `${text} char by char`)
    }
  })
  it('gives none for an id nested, escaped, too long, of another type, or cut', () => {
    for (const text of [
      '{"result":{"id":1}}',
      '{"\\u0069d":1}',
      `{"id":"${'i'.repeat(1100)}"}`,
      '{"id":true}',
      '{"id":12',
      '[{"id":1}]',
    ]) {
      assert.equal(scan([text]).id, undefined, text)
    }
  })
})

describe('encodeValues and encodeJson: a message nested deeper than JSON.stringify can write', () => {
  const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`) as unknown

  it("refuses a request's values as invalid params, and an answer as a bad response", () => {
    const cases = [
      [
        encodeValues,
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { deep } },
        'invalid_params',
      ],
      [encodeJson, { jsonrpc: '2.0', id: 1, result: { deep } }, 'upstream_bad_response'],
    ] as const
    for (const [encode, message, reason] of cases) {
      assert.throws(
        () => encode(message),
        (error: unknown) =>
          error instanceof PorticoError &&
          error.reason === reason &&
          /nested too deeply/.test(error.message),
      )
    }
  })

  it('leaves other errors as they are', () => {
    assert.throws(() => encodeValues({ n: 1n }), TypeError)
  })

  it('jsonTextOf gives the text, or undefined where JSON.stringify cannot write', () => {
    assert.equal(jsonTextOf({ a: [1] }), '{"a":[1]}')
    assert.equal(jsonTextOf({ deep }), undefined)
  })
})

describe('nestedDeeperThan', () => {
  it('counts objects and arrays, not scalars, and walks any depth without recursion', () => {
    assert.equal(nestedDeeperThan('text', 0), false)
    assert.equal(nestedDeeperThan({ a: [1, { b: 'c' }] }, 3), false)
    assert.equal(nestedDeeperThan({ a: [1, { b: {} }] }, 3), true)
    const deep = JSON.parse(`${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`) as unknown
    assert.equal(nestedDeeperThan(deep, 256), true)
    assert.equal(nestedDeeperThan(deep, 1_000_000), false)
  })
})

describe('caseVariantMember: members a case-insensitive reader takes for the judged ones', () => {
  const message = (text: string) => JSON.parse(text) as JsonRpcMessage
  it('finds ASCII and Unicode case variants, at the top, in params, ref and notifications', () => {
    for (const [text, variant] of [
      ['{"jsonrpc":"2.0","id":1,"Method":"x","method":"y"}', 'Method'],
      ['{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","NAME":"b"}}', 'NAME'],
      // Go folds a long s (ſ, upper case S) and a Kelvin sign (K, lower case k) as Unicode does.
      ['{"jsonrpc":"2.0","id":1,"method":"m","params":{},"paramſ":{"name":"secret"}}', 'paramſ'],
      [
        '{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"notifications":{"reſourceSubscriptions":["s://x"]}}}',
        'reſourceSubscriptions',
      ],
      [
        '{"jsonrpc":"2.0","id":1,"method":"m","params":{"ref":{"type":"ref/prompt","TYPE":1}}}',
        'TYPE',
      ],
      ['{"jsonrpc":"2.0","id":1,"method":"m","params":{"name":"a","other":1}}', undefined],
      // What decides whether a call may share a cached answer, spelt as Go reads it: refused.
      ['{"jsonrpc":"2.0","id":1,"method":"m","params":{"Task":{}}}', 'Task'],
      ['{"jsonrpc":"2.0","id":1,"method":"m","params":{"tas\u212A":{}}}', 'tas\u212A'],
      // Go 1.21+ folds each rune as ToUpper(ToLower(r)): the dotless ı and the dotted İ are i
      // to it (before: kept, and a Go server read `urı` as the uri the roles never judged).
      ['{"jsonrpc":"2.0","id":1,"method":"m","params":{"ur\u0131":"x"}}', 'ur\u0131'],
      ['{"jsonrpc":"2.0","id":1,"method":"m","params":{"\u0130D":"x","URI":"y"}}', 'URI'],
      ['{"jsonrpc":"2.0","id":1,"method":"m","params":{"ur\u0130":"x"}}', 'ur\u0130'],
      // No Go folds a ligature into two letters: another member, kept.
      ['{"jsonrpc":"2.0","id":1,"method":"m","params":{"noti\uFB01cations":1}}', undefined],
    ] as const) {
      assert.equal(caseVariantMember(message(text)), variant, text)
    }
  })
})
