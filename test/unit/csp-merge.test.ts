import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { cspSchema } from '../../src/config/csp.ts'
import { parseConfig } from '../../src/config/schema.ts'
import { DIRECTIVE_SPECS, DIRECTIVES, type Directive, type Mode } from '../../src/csp/directives.ts'
import { buildHostCsp, fromUiMeta } from '../../src/csp/host-policy.ts'
import { dedupe, hostPortOf, isPrivateHost, localSourceTest } from '../../src/csp/merge.ts'
import { compileCspPolicy, cspFor, type DirectiveLists } from '../../src/csp/policy.ts'
import { selfUrlsOf } from '../../src/csp/setup.ts'
import { globTest } from '../../src/util/glob.ts'

const PUBLIC = 'https://mcp.example.com'
const UP = 'https://up.example.com'
const LOCAL = 'http://localhost:5173'
const G = 'https://g.example.com'
const W = 'https://w.example.com'

function empty(): DirectiveLists {
  return { connect: [], resource: [], frame: [], baseUri: [], redirect: [] }
}

function declaredFor(directive: Directive, sources: string[]): DirectiveLists {
  return { ...empty(), [directive]: sources }
}

/** Policy with one global rule and (optionally) one widget rule on `directive`. */
function policyFor(
  directive: Directive,
  globalMode: Mode,
  widgetMode: Mode | 'none',
  publicUrl?: string,
) {
  const key = `${directive}Domains`
  const widget =
    widgetMode === 'none' ? [] : [{ match: 'ui://w/*', [key]: [W], [`${key}Mode`]: widgetMode }]
  const csp = cspSchema.parse({ [key]: { domains: [G], mode: globalMode }, widget })
  return compileCspPolicy(publicUrl ? { csp, publicUrl } : { csp })
}

// Declared upstream: [UP, LOCAL]. Lead = directives that always start with the public origin.
const TABLE: Array<{ global: Mode; widget: Mode | 'none'; lead: string[]; other: string[] }> = [
  { global: 'extend', widget: 'none', lead: [PUBLIC, UP, G], other: [UP, PUBLIC, G] },
  { global: 'extend', widget: 'extend', lead: [PUBLIC, UP, G, W], other: [UP, PUBLIC, G, W] },
  { global: 'extend', widget: 'replace', lead: [PUBLIC, W], other: [W] },
  { global: 'replace', widget: 'none', lead: [PUBLIC, G], other: [G] },
  { global: 'replace', widget: 'extend', lead: [PUBLIC, G, W], other: [G, W] },
  { global: 'replace', widget: 'replace', lead: [PUBLIC, W], other: [W] },
]

describe('CSP merge: every directive × global mode × widget override', () => {
  for (const directive of DIRECTIVES) {
    const lead = DIRECTIVE_SPECS[directive].includesPublicOrigin
    for (const row of TABLE) {
      it(`${directive}: global ${row.global}, widget ${row.widget}`, () => {
        const policy = policyFor(directive, row.global, row.widget, PUBLIC)
        const out = cspFor(policy, 'ui://w/card', declaredFor(directive, [UP, LOCAL]))
        assert.deepEqual(out[directive], lead ? row.lead : row.other)
        // A URI the widget glob does not match gets the global result only.
        const global = TABLE.find((r) => r.global === row.global && r.widget === 'none')
        const other = cspFor(policy, 'ui://other/x', declaredFor(directive, [UP, LOCAL]))
        assert.deepEqual(other[directive], lead ? global?.lead : global?.other)
      })
      it(`${directive}: global ${row.global}, widget ${row.widget}, no public origin`, () => {
        const policy = policyFor(directive, row.global, row.widget)
        const out = cspFor(policy, 'ui://w/card', declaredFor(directive, [UP, LOCAL]))
        const expected = row.other.filter((source) => source !== PUBLIC)
        assert.deepEqual(out[directive], expected)
      })
    }
  }
})

describe('CSP merge: defaults', () => {
  it('keeps declared sources except frames (fail-closed), strips local ones', () => {
    const policy = compileCspPolicy({ publicUrl: `${PUBLIC}/mcp` })
    const declared: DirectiveLists = {
      connect: [LOCAL, 'https://api.example.com'],
      resource: ['https://cdn.example.com', 'http://127.0.0.1:8080'],
      frame: ['https://maps.example.com'],
      baseUri: ['http://localhost:5173'],
      redirect: ['https://checkout.example.com'],
    }
    assert.deepEqual(cspFor(policy, 'ui://x', declared), {
      connect: [PUBLIC, 'https://api.example.com'],
      resource: [PUBLIC, 'https://cdn.example.com'],
      frame: [],
      baseUri: [PUBLIC],
      redirect: ['https://checkout.example.com'],
    })
  })

  it('with nothing configured and nothing declared, lists are empty but connect/resource lead with the public origin', () => {
    const out = cspFor(compileCspPolicy({ publicUrl: PUBLIC }), undefined, empty())
    assert.deepEqual(out, {
      connect: [PUBLIC],
      resource: [PUBLIC],
      frame: [],
      baseUri: [],
      redirect: [],
    })
    assert.deepEqual(cspFor(compileCspPolicy({}), undefined, empty()), empty())
  })

  it('applies matching widget rules in config order', () => {
    const csp = cspSchema.parse({
      connectDomains: { domains: [G] },
      widget: [
        { match: 'ui://*', connectDomains: ['https://a.example.com'] },
        {
          match: 'ui://pay/*',
          connectDomains: ['https://stripe.example.com'],
          connectDomainsMode: 'replace',
        },
        { match: 'ui://pay/checkout?', connectDomains: ['https://b.example.com'] },
      ],
    })
    const policy = compileCspPolicy({ csp })
    assert.deepEqual(cspFor(policy, 'ui://pay/checkout2', empty()).connect, [
      'https://stripe.example.com',
      'https://b.example.com',
    ])
    assert.deepEqual(cspFor(policy, 'ui://pay/checkout', empty()).connect, [
      'https://stripe.example.com',
    ])
    assert.deepEqual(cspFor(policy, 'ui://news', empty()).connect, [G, 'https://a.example.com'])
  })

  it('a widget rule with only `replace` clears the directive', () => {
    const csp = cspSchema.parse({ widget: [{ match: 'ui://*', resourceDomainsMode: 'REPLACE' }] })
    const out = cspFor(compileCspPolicy({ csp }), 'ui://x', declaredFor('resource', [UP]))
    assert.deepEqual(out.resource, [])
  })

  it('legacy flat mode/domains apply to connect and resource; a directive table wins', () => {
    const csp = cspSchema.parse({
      mode: 'override',
      domains: [G],
      resourceDomains: { domains: [W] },
    })
    const policy = compileCspPolicy({ csp })
    const declared: DirectiveLists = { ...empty(), connect: [UP], resource: [UP] }
    const out = cspFor(policy, undefined, declared)
    assert.deepEqual(out.connect, [G])
    assert.deepEqual(out.resource, [UP, W])
  })

  it('mcpr csp.domain gives the public origin and the widget domain; public_url wins', () => {
    const csp = cspSchema.parse({ domain: 'proxy.example.com' })
    const alias = compileCspPolicy({ csp })
    assert.equal(alias.publicOrigin, 'https://proxy.example.com')
    assert.equal(alias.widgetDomain, 'proxy.example.com')
    const both = compileCspPolicy({ csp, publicUrl: 'https://mcp.example.com/mcp' })
    assert.equal(both.publicOrigin, 'https://mcp.example.com')
  })

  it('keeps a public upstream host: the widget may call it directly', () => {
    const policy = compileCspPolicy({ publicUrl: PUBLIC, selfUrls: ['https://api.myapp.com/mcp'] })
    const declared = declaredFor('connect', ['https://api.myapp.com'])
    assert.deepEqual(cspFor(policy, undefined, declared).connect, [PUBLIC, 'https://api.myapp.com'])
  })

  it('treats private upstream and widget dev server addresses as local', () => {
    const policy = compileCspPolicy({
      publicUrl: PUBLIC,
      selfUrls: ['http://10.0.0.5:9000/mcp', 'http://10.0.0.5:4444'],
    })
    const declared = declaredFor('connect', [
      'http://10.0.0.5:9000',
      'http://10.0.0.5:4444/api',
      'http://10.0.0.5:9001',
    ])
    assert.deepEqual(cspFor(policy, undefined, declared).connect, [PUBLIC, 'http://10.0.0.5:9001'])
  })
})

describe("an upstream's own private address", () => {
  it('is a development source however the widget spells it: default port, IPv6 form', () => {
    // Before: matched by its exact text only.
    const isLocal = localSourceTest([
      hostPortOf('http://10.0.0.1:80/mcp'),
      hostPortOf('http://[fe80::1]:3000/mcp'),
    ])
    assert.equal(isLocal('http://10.0.0.1'), true)
    assert.equal(isLocal('http://[fe80:0::1]:3000'), true)
    assert.equal(isLocal('http://10.0.0.1:8080'), false, 'another port of that host is kept')
  })

  it('is a development source written IPv4-mapped or with a zero-padded port', () => {
    // Before: `[::ffff:a01:203]` and `:05173` were compared as written, and a widget server's
    // private address reached every client.
    const isLocal = localSourceTest([hostPortOf('http://10.1.2.3:5173')])
    for (const spelling of [
      'http://[::ffff:10.1.2.3]:5173',
      'http://[::ffff:a01:203]:5173',
      'http://10.1.2.3:05173',
      'http://10.1.2.3:000000000000005173',
      'http://167838211:5173',
    ]) {
      assert.equal(isLocal(spelling), true, spelling)
    }
    assert.equal(isLocal('http://[::ffff:a01:204]:5173'), false, 'another host is kept')
    assert.equal(isLocal('http://10.1.2.3:51730'), false, 'another port is kept')
    const mapped = localSourceTest([hostPortOf('http://[::ffff:a00:1]:80/mcp')])
    assert.equal(mapped('http://10.0.0.1'), true, 'a mapped self is the IPv4 host too')
  })

  it('is a development source whether or not its URL carries user:password@', () => {
    // Before: the credentials stayed in its host:port, which read as an IPv6 literal.
    const upstream = 'http://user:secret@vm:9000/mcp'
    const isLocal = localSourceTest([hostPortOf(upstream)])
    assert.equal(isLocal('http://vm:9000'), true)
    assert.equal(hostPortOf(upstream), 'vm:9000')
  })
})

describe('local development sources', () => {
  const isLocal = localSourceTest()
  const cases: Array<[string, boolean]> = [
    ['http://localhost:3000', true],
    ['https://localhost', true],
    ['localhost:8080', true],
    ['localhost', true],
    ['ws://localhost:5173', true],
    ['HTTP://LOCALHOST:3000/', true],
    ['http://127.0.0.1:9000', true],
    ['http://127.0.0.1', true],
    ['http://127.1.2.3:80', true],
    ['http://[::1]:3000', true],
    ['[::1]', true],
    ['::1', true],
    ['http://0.0.0.0:8080', true],
    ['http://app.localhost:3000', true],
    // Other spellings a browser reads as loopback (before: kept as the app's own sources).
    ['http://localhost.:5173', true],
    ['http://[0:0:0:0:0:0:0:1]:5173', true],
    ['http://[::ffff:127.0.0.1]:5173', true],
    ['http://127.1:9000', true],
    ['http://2130706433', true],
    ['https://localhost.example.com', false],
    ['http://[::ffff:10.0.0.1]:80', false],
    ['https://example.com/localhost', false],
    ['https://api.example.com', false],
    ['https://*.example.com', false],
    ['http://127.0.0.1.nip.io', false],
    ['http://[::2]:3000', false],
  ]
  for (const [source, expected] of cases) {
    it(`${source} → ${expected ? 'local' : 'kept'}`, () => assert.equal(isLocal(source), expected))
  }
})

describe('private hosts', () => {
  const cases: Array<[string, boolean]> = [
    ['10.1.2.3', true],
    ['172.16.0.1', true],
    ['172.31.255.1', true],
    ['172.32.0.1', false],
    ['192.168.1.10', true],
    ['169.254.1.1', true],
    ['app', true],
    ['mcp-server', true],
    ['localhost', true],
    ['8.8.8.8', false],
    ['api.example.com', false],
    ['[2001:db8::1]', false],
    // IPv6 link-local and unique local (before: kept, and the address went to every client).
    ['[fe80::1]', true],
    ['[FEBF::1]', true],
    ['[fd12:3456::1]', true],
    ['[fec0::1]', false],
    // RFC 1918 however spelt: IPv4-mapped, one decimal number (before: public).
    ['[::ffff:10.0.0.1]', true],
    ['[::ffff:192.168.1.1]', true],
    ['[::ffff:169.254.169.254]', true],
    ['167772161', true],
    ['[::ffff:8.8.8.8]', false],
  ]
  for (const [host, expected] of cases) {
    it(`${host} → ${expected ? 'private' : 'public'}`, () =>
      assert.equal(isPrivateHost(host), expected))
  }
})

describe('dedupe and globs', () => {
  it('keeps the first occurrence and the order, case- and trailing-slash-insensitive', () => {
    assert.deepEqual(
      dedupe([
        'https://b.example.com',
        'https://a.example.com',
        'HTTPS://B.example.com/',
        'https://a.example.com',
      ]),
      ['https://b.example.com', 'https://a.example.com'],
    )
  })

  const globs: Array<[string, string, boolean]> = [
    ['ui://widget/payment*', 'ui://widget/payment', true],
    ['ui://widget/payment*', 'ui://widget/payment/form.html', true],
    ['ui://widget/payment*', 'ui://widget/pay', false],
    ['ui://widget/?.html', 'ui://widget/a.html', true],
    ['ui://widget/?.html', 'ui://widget/ab.html', false],
    ['ui://widget/a.html', 'ui://widget/aXhtml', false],
    ['ui://w/(x)+[y]', 'ui://w/(x)+[y]', true],
    ['*', 'anything at all', true],
  ]
  for (const [glob, uri, expected] of globs) {
    it(`${glob} ${expected ? 'matches' : 'does not match'} ${uri}`, () =>
      assert.equal(globTest(glob)(uri), expected))
  }
})

describe('the origins widget CSP treats as Portico itself', () => {
  it('include the upstream, the widget server and every HTTP or SSE gateway backend', () => {
    const config = parseConfig({
      public_url: 'https://mcp.example.com',
      widgets: 'http://10.0.0.9:5173',
      backends: [
        { name: 'api', transport: 'http', url: 'http://10.0.0.7:9000/mcp' },
        { name: 'old', transport: 'sse', url: 'http://10.0.0.8:9001/sse' },
        { name: 'local', transport: 'stdio', command: 'node' },
      ],
    })
    const urls = selfUrlsOf(config)
    assert.deepEqual(urls, [
      'http://10.0.0.9:5173',
      'http://10.0.0.7:9000/mcp',
      'http://10.0.0.8:9001/sse',
    ])
    // A widget of the private backend naming its own origin gets the public one instead.
    const policy = compileCspPolicy({ publicUrl: 'https://mcp.example.com', selfUrls: urls })
    const declared = declaredFor('connect', ['http://10.0.0.7:9000', 'https://api.example.com'])
    assert.deepEqual(cspFor(policy, undefined, declared).connect, [
      'https://mcp.example.com',
      'https://api.example.com',
    ])
  })
})

describe('the studio host policy built from a server metadata', () => {
  it('takes each domain as one source: a value that would start another directive is dropped', () => {
    const input = fromUiMeta({
      ui: {
        csp: {
          connectDomains: [
            'https://api.example.com',
            'x; sandbox allow-same-origin',
            'a b',
            "'none'",
          ],
        },
      },
    })
    assert.deepEqual(input.connect, ['https://api.example.com'])
    const policy = buildHostCsp(input)
    assert.match(policy, /connect-src https:\/\/api\.example\.com;/)
    assert.doesNotMatch(policy, /sandbox/)
  })
})
