import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { cspSchema } from '../../src/config/csp.ts'
import { ListedDeclarations } from '../../src/csp/listed.ts'
import { compileCspPolicy } from '../../src/csp/policy.ts'
import { cspRewriter, rewriteResult } from '../../src/csp/rewriter.ts'
import {
  encodeJson,
  type JsonObject,
  type JsonRpcResponse,
  parseMessage,
} from '../../src/jsonrpc/message.ts'
import type { Call } from '../../src/pipeline/call.ts'
import { requestCall } from '../helpers/calls.ts'

const PUBLIC = 'https://mcp.example.com'

const policy = compileCspPolicy({
  publicUrl: `${PUBLIC}/mcp`,
  csp: cspSchema.parse({
    connectDomains: { domains: ['https://api.example.com'] },
    resourceDomains: { domains: ['https://cdn.example.com'] },
    redirectDomains: { domains: ['https://checkout.example.com'] },
    widget: [{ match: 'ui://widget/pay*', connectDomains: ['https://api.stripe.com'] }],
  }),
})

/** Both shapes as Portico writes them for the global policy (no widget override). */
function bothShapes(connect = [PUBLIC, 'https://api.example.com']): JsonObject {
  const resource = [PUBLIC, 'https://cdn.example.com']
  return {
    ui: {
      csp: {
        connectDomains: connect,
        resourceDomains: resource,
        frameDomains: [],
        baseUriDomains: [],
      },
    },
    'openai/widgetCSP': {
      connect_domains: connect,
      resource_domains: resource,
      frame_domains: [],
      redirect_domains: ['https://checkout.example.com'],
    },
  }
}

/** Walks into parsed JSON (`at(x, 'contents', 0, '_meta')`); undefined where a step is missing. */
function at(value: unknown, ...path: Array<string | number>): unknown {
  let current = value
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined
    current = (current as Record<string | number, unknown>)[key]
  }
  return current
}

function call(method: string): Call {
  return requestCall(method)
}

describe('CSP rewriter: where widget metadata sits', () => {
  it('resources/list: synthesizes both shapes on a ui:// entry without _meta; leaves others alone', () => {
    const result = {
      resources: [
        { uri: 'ui://widget/card.html', name: 'card', mimeType: 'text/html;profile=mcp-app' },
        { uri: 'file:///notes.txt', name: 'notes', _meta: { x: 1 } },
      ],
    }
    const out = rewriteResult('resources/list', result, policy)
    assert.deepEqual(out, {
      resources: [
        { ...result.resources[0], _meta: bothShapes() },
        { uri: 'file:///notes.txt', name: 'notes', _meta: { x: 1 } },
      ],
    })
  })

  it('knows a widget by its scheme and media type in any case, a quoted parameter too', () => {
    // Before: none of these was a widget, and no CSP was written for it.
    for (const [uri, mimeType] of [
      ['UI://widget/card.html', 'text/plain'],
      ['https://x.example/card', 'TEXT/HTML+SKYBRIDGE'],
      ['https://x.example/card', 'text/html;profile="mcp-app"'],
      ['https://x.example/card', 'Text/HTML; Profile=mcp-app'],
    ]) {
      const out = rewriteResult(
        'resources/list',
        { resources: [{ uri, name: 'w', mimeType }] },
        policy,
      )
      assert.deepEqual(
        (out?.resources as JsonObject[] | undefined)?.[0]?._meta,
        bothShapes(),
        `${uri} ${mimeType}`,
      )
    }
    const plain = {
      resources: [{ uri: 'https://x.example/page', name: 'p', mimeType: 'text/html' }],
    }
    assert.equal(rewriteResult('resources/list', plain, policy), undefined)
  })

  it('resources/read: merges a content item declared in one shape, emits both, keeps other keys', () => {
    const item = {
      uri: 'ui://widget/payment.html',
      mimeType: 'text/html+skybridge',
      text: '<html></html>',
      _meta: {
        'openai/widgetCSP': {
          connect_domains: ['http://localhost:8000', 'https://api.partner.com'],
          resource_domains: ['http://localhost:5173'],
          frame_domains: ['https://youtube.com'],
        },
        'openai/widgetPrefersBorder': true,
        ui: { prefersBorder: true },
      },
    }
    const out = rewriteResult('resources/read', { contents: [item] }, policy)
    const connect = [
      PUBLIC,
      'https://api.partner.com',
      'https://api.example.com',
      'https://api.stripe.com',
    ]
    const shapes = bothShapes(connect)
    assert.deepEqual(out, {
      contents: [
        {
          ...item,
          _meta: {
            ...shapes,
            'openai/widgetPrefersBorder': true,
            ui: { prefersBorder: true, ...(shapes.ui as JsonObject) },
          },
        },
      ],
    })
  })

  it('resources/templates/list: matches widget globs against uriTemplate', () => {
    const result = { resourceTemplates: [{ uriTemplate: 'ui://widget/pay/{id}', name: 't' }] }
    const out = rewriteResult('resources/templates/list', result, policy) as JsonObject
    const [entry] = out.resourceTemplates as JsonObject[]
    const meta = entry?._meta as JsonObject
    assert.deepEqual((meta['openai/widgetCSP'] as JsonObject).connect_domains, [
      PUBLIC,
      'https://api.example.com',
      'https://api.stripe.com',
    ])
  })

  it('tools/list: rewrites a CSP the app put on a tool (glob via outputTemplate), never creates one', () => {
    const withCsp = {
      name: 'pay',
      _meta: {
        'openai/outputTemplate': 'ui://widget/payment.html',
        'openai/widgetCSP': { connect_domains: ['http://127.0.0.1:8000'] },
      },
    }
    const pointerOnly = { name: 'time', _meta: { ui: { resourceUri: 'ui://widget/time.html' } } }
    const out = rewriteResult('tools/list', { tools: [withCsp, pointerOnly] }, policy) as JsonObject
    const [pay, time] = out.tools as JsonObject[]
    assert.deepEqual(at(pay, '_meta', 'ui', 'csp'), {
      connectDomains: [PUBLIC, 'https://api.example.com', 'https://api.stripe.com'],
      resourceDomains: [PUBLIC, 'https://cdn.example.com'],
      frameDomains: [],
      baseUriDomains: [],
    })
    assert.equal(time, pointerOnly)
    assert.equal(rewriteResult('tools/list', { tools: [pointerOnly] }, policy), undefined)
  })

  it('tools/call: rewrites result _meta and embedded widget resources', () => {
    const result = {
      content: [
        { type: 'text', text: 'ok' },
        { type: 'resource', resource: { uri: 'ui://widget/card.html', text: '<p>' } },
      ],
      _meta: { ui: { csp: { connectDomains: ['http://[::1]:3000'] } } },
    }
    const out = rewriteResult('tools/call', result, policy) as JsonObject
    assert.deepEqual(out._meta, bothShapes())
    const [text, embedded] = out.content as JsonObject[]
    assert.equal(text, result.content[0])
    assert.deepEqual(at(embedded, 'resource', '_meta'), bothShapes())
  })

  it('drops declared sources that would break out of the directive a host builds', () => {
    const item = {
      uri: 'ui://widget/card.html',
      _meta: {
        ui: {
          csp: {
            connectDomains: [
              "https://a.example.com; script-src 'unsafe-eval'",
              42,
              'https://ok.example.com',
            ],
          },
        },
      },
    }
    const out = rewriteResult('resources/read', { contents: [item] }, policy)
    assert.deepEqual(at(out, 'contents', 0, '_meta', 'ui', 'csp', 'connectDomains'), [
      PUBLIC,
      'https://ok.example.com',
      'https://api.example.com',
    ])
  })

  it('returns undefined when the metadata is already exactly the policy (bytes pass through)', () => {
    const entry = { uri: 'ui://widget/card.html', _meta: bothShapes() }
    assert.equal(rewriteResult('resources/read', { contents: [entry] }, policy), undefined)
    assert.equal(rewriteResult('resources/list', { resources: [] }, policy), undefined)
    assert.equal(rewriteResult('prompts/list', { prompts: [] }, policy), undefined)
  })
})

describe('CSP rewriter: listing and content item', () => {
  const listing = {
    resources: [
      {
        uri: 'ui://widget/card.html',
        _meta: { ui: { csp: { connectDomains: ['https://api.partner.com'] } } },
      },
    ],
  }

  it('a content item without CSP starts from what the listing declared', () => {
    const listed = new ListedDeclarations()
    rewriteResult('resources/list', listing, policy, listed)
    const out = rewriteResult(
      'resources/read',
      { contents: [{ uri: 'ui://widget/card.html' }] },
      policy,
      listed,
    )
    assert.deepEqual(at(out, 'contents', 0, '_meta', 'ui', 'csp', 'connectDomains'), [
      PUBLIC,
      'https://api.partner.com',
      'https://api.example.com',
    ])
  })

  it("keeps one caller's listing to that caller, and forgets it when a listing drops it", () => {
    const listed = new ListedDeclarations()
    const read = (scope: string) =>
      at(
        rewriteResult(
          'resources/read',
          { contents: [{ uri: 'ui://widget/card.html' }] },
          policy,
          listed,
          scope,
        ),
        'contents',
        0,
        '_meta',
        'ui',
        'csp',
        'connectDomains',
      )
    rewriteResult('resources/list', listing, policy, listed, 'tenant-a')
    // Before: one table for every caller, and tenant A's partner domain reached tenant B.
    assert.deepEqual(read('tenant-b'), [PUBLIC, 'https://api.example.com'])
    assert.deepEqual(read('tenant-a'), [
      PUBLIC,
      'https://api.partner.com',
      'https://api.example.com',
    ])
    const without = { resources: [{ uri: 'ui://widget/card.html' }] }
    rewriteResult('resources/list', without, policy, listed, 'tenant-a')
    // Before: kept until restart.
    assert.deepEqual(read('tenant-a'), [PUBLIC, 'https://api.example.com'])
  })

  it("a content item's own CSP wins over the listing's", () => {
    const listed = new ListedDeclarations()
    rewriteResult('resources/list', listing, policy, listed)
    const item = {
      uri: 'ui://widget/card.html',
      _meta: { 'openai/widgetCSP': { connect_domains: ['https://other.example.com'] } },
    }
    const out = rewriteResult('resources/read', { contents: [item] }, policy, listed)
    assert.deepEqual(at(out, 'contents', 0, '_meta', 'openai/widgetCSP', 'connect_domains'), [
      PUBLIC,
      'https://other.example.com',
      'https://api.example.com',
    ])
  })

  it('remembers a bounded number of widgets, oldest forgotten first', () => {
    const listed = new ListedDeclarations(2)
    const lists = { connect: ['a'], resource: [], frame: [], baseUri: [], redirect: [] }
    listed.remember('ui://1', lists)
    listed.remember('ui://2', lists)
    listed.remember('ui://3', lists)
    assert.equal(listed.size, 2)
    assert.equal(listed.get('ui://1'), undefined)
    assert.deepEqual(listed.get('ui://3'), lists)
  })

  it('remembers a bounded number of bytes, and never one declaration too large', () => {
    const listed = new ListedDeclarations(1024, 200_000)
    const domains = (n: number) => Array.from({ length: n }, (_, i) => `https://d${i}.example.com`)
    const lists = (n: number) => ({
      connect: domains(n),
      resource: [],
      frame: [],
      baseUri: [],
      redirect: [],
    })
    for (let i = 0; i < 100; i++) listed.remember(`ui://${i}`, lists(100))
    // Each is about 8 KB: 200 KB holds some twenty of them, the newest.
    assert.ok(listed.size > 10 && listed.size < 30, `${listed.size} kept`)
    assert.ok(listed.get('ui://99'))
    assert.equal(listed.get('ui://0'), undefined)
    // Over 64 KB alone: not kept, and an older declaration of its URI is forgotten with it.
    listed.remember('ui://99', lists(2000))
    assert.equal(listed.get('ui://99'), undefined)
  })
})

describe('CSP rewriter: openai/widgetDomain', () => {
  const read = (meta: JsonObject, p = policy) => {
    const out = rewriteResult('resources/read', { contents: [{ uri: 'ui://w', _meta: meta }] }, p)
    return at(out, 'contents', 0, '_meta', 'openai/widgetDomain')
  }

  it('replaces a local value with the public origin and keeps a real one', () => {
    assert.equal(read({ 'openai/widgetDomain': 'http://localhost:3000' }), PUBLIC)
    assert.equal(
      read({ 'openai/widgetDomain': 'https://app.example.com' }),
      'https://app.example.com',
    )
  })

  it('writes the configured value; removes a local value when there is no public origin', () => {
    const configured = compileCspPolicy({
      csp: cspSchema.parse({ widgetDomain: 'https://w.example.com' }),
    })
    assert.equal(read({}, configured), 'https://w.example.com')
    assert.equal(
      read({ 'openai/widgetDomain': 'http://localhost:3000' }, compileCspPolicy({})),
      undefined,
    )
  })
})

describe('cspRewriter', () => {
  const rewriter = cspRewriter(policy)

  it('applies to the five widget methods only', () => {
    for (const method of [
      'tools/list',
      'tools/call',
      'resources/list',
      'resources/templates/list',
      'resources/read',
    ]) {
      assert.equal(rewriter.appliesTo(call(method)), true, method)
    }
    for (const method of ['initialize', 'prompts/list', 'resources/subscribe', 'ping']) {
      assert.equal(rewriter.appliesTo(call(method)), false, method)
    }
  })

  it('keeps id and jsonrpc, and leaves error responses alone', () => {
    const response = { jsonrpc: '2.0' as const, id: 7, result: { contents: [{ uri: 'ui://a' }] } }
    const out = rewriter.rewrite(call('resources/read'), response)
    assert.equal(out?.id, 7)
    assert.equal(out?.jsonrpc, '2.0')
    assert.ok(out?.result?.contents)
    const error = { jsonrpc: '2.0' as const, id: 8, error: { code: -32602, message: 'nope' } }
    assert.equal(rewriter.rewrite(call('resources/read'), error), undefined)
  })
})

describe('CSP rewriter: what it must not change', () => {
  const rewriter = cspRewriter(policy)

  it('writes back a big integer id and big integers beside what it rewrote, exactly as they came', () => {
    const text =
      '{"jsonrpc":"2.0","id":12345678901234567890,"result":{"contents":[{"uri":"ui://w",' +
      '"mimeType":"text/html;profile=mcp-app","text":"<p>","rowId":98765432109876543210,' +
      '"_meta":{"rowId":-12345678901234567891,"ui":{"csp":{"connectDomains":[],"n":10000000000000000001}}}}]}}'
    const response = parseMessage(text) as JsonRpcResponse
    const out = rewriter.rewrite(requestCall('resources/read', {}, response.id as string), response)
    assert.ok(out !== undefined, 'a widget: rewritten')
    const written = encodeJson(out)
    for (const literal of [
      '"id":12345678901234567890',
      '"rowId":98765432109876543210',
      '"rowId":-12345678901234567891',
      '"n":10000000000000000001',
    ]) {
      assert.ok(written.includes(literal), `${literal} in ${written}`)
    }
  })

  it('drops declared sources with control characters, as it drops those with ";" or quotes', () => {
    const meta = {
      ui: {
        csp: {
          connectDomains: [
            'https://ok.example',
            'https://a.example\u0000',
            'https://b\u0085.example',
          ],
        },
      },
    }
    const result = rewriteResult(
      'resources/read',
      { contents: [{ uri: 'ui://widget/x', mimeType: 'text/html;profile=mcp-app', _meta: meta }] },
      policy,
    )
    const connect = at(result, 'contents', 0, '_meta', 'ui', 'csp', 'connectDomains') as string[]
    assert.ok(connect.includes('https://ok.example'))
    assert.ok(
      connect.every((source) => /^[\x21-\x7e]+$/.test(source)),
      JSON.stringify(connect),
    )
  })
})
