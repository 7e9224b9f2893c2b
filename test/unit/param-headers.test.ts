import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { missingStandardHeader } from '../../src/protocol/classify.ts'
import {
  decodedParam,
  headerParamsOf,
  headerText,
  paramHeaderMismatch,
  paramHeadersOf,
} from '../../src/protocol/param-headers.ts'

const schema = {
  type: 'object',
  properties: {
    region: { type: 'string', 'x-mcp-header': 'Region' },
    priority: { type: 'integer', 'x-mcp-header': 'Priority' },
    dry: { type: 'boolean', 'x-mcp-header': 'Dry' },
    nested: { type: 'object', properties: { zone: { type: 'string', 'x-mcp-header': 'Zone' } } },
    // Not reachable through `properties` alone, or not a token: never mirrored.
    list: { type: 'array', items: { type: 'string', 'x-mcp-header': 'Item' } },
    spaced: { type: 'string', 'x-mcp-header': 'My Region' },
    query: { type: 'string' },
  },
}

describe('Mcp-Param-* headers (SEP-2243)', () => {
  it('finds the arguments a schema marks, through properties only', () => {
    assert.deepEqual(
      headerParamsOf(schema).map((p) => [p.path.join('.'), p.header, p.type]),
      [
        ['region', 'Region', 'string'],
        ['priority', 'Priority', 'integer'],
        ['dry', 'Dry', 'boolean'],
        ['nested.zone', 'Zone', 'string'],
      ],
    )
    assert.deepEqual(headerParamsOf({ 'x-mcp-header': 'Root' }), [])
    assert.deepEqual(headerParamsOf(undefined), [])
  })

  it('decodes =?base64?…?= values, and refuses a payload that is not canonical Base64 or UTF-8', () => {
    assert.equal(decodedParam('=?base64?SGVsbG8=?='), 'Hello')
    assert.equal(decodedParam('=?base64?w6k=?='), 'é')
    assert.equal(decodedParam('=?base64?SGVsbG8?='), undefined)
    assert.equal(decodedParam('=?base64?SGVs!!!bG8=?='), undefined)
    assert.equal(decodedParam('=?base64?/w==?='), undefined)
    // Without both markers the value is literal.
    assert.equal(decodedParam('SGVsbG8='), 'SGVsbG8=')
    assert.equal(decodedParam('=?base64?SGVsbG8='), '=?base64?SGVsbG8=')
  })

  it('judges each marked argument the body carries against its header', () => {
    const declared = headerParamsOf(schema)
    const args = { region: 'eu', priority: 5, dry: false, nested: { zone: 'a' }, query: 'q' }
    const headers = {
      'mcp-param-region': 'eu',
      'mcp-param-priority': '5.0',
      'mcp-param-dry': 'false',
      'mcp-param-zone': '=?base64?YQ==?=',
    }
    assert.equal(paramHeaderMismatch(declared, args, headers), undefined)
    assert.equal(
      paramHeaderMismatch(declared, args, { ...headers, 'mcp-param-region': 'us' }),
      'the Mcp-Param-Region header does not match the arguments',
    )
    const { 'mcp-param-zone': _zone, ...withoutZone } = headers
    assert.equal(
      paramHeaderMismatch(declared, args, withoutZone),
      'the Mcp-Param-Zone header is absent',
    )
    assert.equal(
      paramHeaderMismatch(declared, args, { ...headers, 'mcp-param-dry': 'False' }),
      'the Mcp-Param-Dry header does not match the arguments',
    )
    // An argument the body lacks, or sends as null, expects no header (one sent is not judged).
    assert.equal(
      paramHeaderMismatch(declared, { region: null }, { 'mcp-param-dry': 'x' }),
      undefined,
    )
  })

  it('names the standard header a 2026-07-28 request lacks; notifications need none', () => {
    const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 't' } } as const
    const all = {
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 't',
    }
    assert.equal(missingStandardHeader(call, all), undefined)
    assert.match(
      missingStandardHeader(call, { ...all, 'mcp-protocol-version': undefined }) ?? '',
      /MCP-Protocol-Version/,
    )
    assert.match(
      missingStandardHeader(call, { ...all, 'mcp-method': undefined }) ?? '',
      /Mcp-Method/,
    )
    assert.match(missingStandardHeader(call, { ...all, 'mcp-name': undefined }) ?? '', /Mcp-Name/)
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' } as const
    assert.equal(
      missingStandardHeader(list, {
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/list',
      }),
      undefined,
    )
    const note = { jsonrpc: '2.0', method: 'notifications/cancelled' } as const
    assert.equal(missingStandardHeader(note, {}), undefined)
  })

  it('writes the headers a client sends, which the check accepts (round trip)', () => {
    const declared = headerParamsOf(schema)
    const args = { region: ' eu-west ', priority: 7, dry: false, nested: { zone: 'zürich' } }
    const headers = paramHeadersOf(declared, args)
    assert.deepEqual(headers, {
      'mcp-param-region': `=?base64?${Buffer.from(' eu-west ').toString('base64')}?=`,
      'mcp-param-priority': '7',
      'mcp-param-dry': 'false',
      'mcp-param-zone': `=?base64?${Buffer.from('zürich').toString('base64')}?=`,
    })
    assert.equal(paramHeaderMismatch(declared, args, headers), undefined)
    // Absent, null or unsafe-integer values are not mirrored.
    assert.deepEqual(paramHeadersOf(declared, { region: null, priority: 2 ** 60 }), {})
  })

  it('writes plain visible ASCII as it is and everything else encoded', () => {
    assert.equal(headerText('us-east-1'), 'us-east-1')
    assert.equal(headerText('a b'), 'a b')
    for (const value of ['', ' a', 'a ', 'tab\there', 'line\nbreak', 'é', '=?base64?x?=']) {
      const written = headerText(value)
      assert.match(written, /^=\?base64\?[A-Za-z0-9+/=]*\?=$/, JSON.stringify(value))
      assert.equal(decodedParam(written), value)
    }
  })
})
