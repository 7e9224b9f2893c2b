import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type BackendConfig, backendSchema } from '../../src/config/gateway.ts'
import { restartDelay } from '../../src/gateway/backends/backend.ts'
import { BackendCatalog } from '../../src/gateway/catalog.ts'
import {
  decodeCursor,
  encodeCursor,
  mergeCapabilities,
  mergeInstructions,
  mergePages,
} from '../../src/gateway/merge.ts'
import {
  globMatcher,
  namespaced,
  namespaceUri,
  unnamespaceUri,
  visibility,
} from '../../src/gateway/names.ts'
import { decodeBody, encodeJson } from '../../src/jsonrpc/message.ts'

function backend(extra: Record<string, unknown> = {}): BackendConfig {
  return backendSchema.parse({ name: 'ev', transport: 'stdio', command: 'x', ...extra })
}

describe('names', () => {
  it('compiles re: patterns in Unicode mode: Rust-only escapes are refused, not read as letters', () => {
    assert.throws(() => globMatcher(['re:\\Adelete']), /Invalid escape/)
    assert.throws(() => globMatcher(['re:\\z$']), /Invalid escape/)
    assert.ok(globMatcher(['re:^\\p{Lu}'])('Delete_all'), 'a Unicode property class works')
    assert.ok(!globMatcher(['re:^\\p{Lu}'])('delete_all'))
  })

  it("matches mcp-proxy's re: patterns unanchored, and globs whole", () => {
    const matches = globMatcher(['re:^get_', 're:delete', 'list*'])
    for (const name of ['get_user', 'bulk_delete_all', 'list_files']) assert.ok(matches(name), name)
    for (const name of ['forget_user', 'ls', 'my_list', 'delet']) assert.ok(!matches(name), name)
    // A hide list of regular expressions hides what they match, and only that.
    const visible = visibility([], ['re:(drop|delete)_'])
    assert.deepEqual(['drop_table', 'delete_row', 'select', 'undelete'].filter(visible), [
      'select',
      'undelete',
    ])
  })

  it('namespaces short names as backend + separator + name', () => {
    assert.equal(namespaced('ev', '__', 'get-sum'), 'ev__get-sum')
    assert.equal(namespaced('a', '-', 'b'), 'a-b')
  })

  it('makes names with characters LLM APIs refuse portable, distinctly, and resolves them back', () => {
    const dotted = namespaced('db', '__', 'db.query')
    const slashed = namespaced('db', '__', 'db/query')
    for (const name of [dotted, slashed]) assert.match(name, /^db__db_query_[0-9a-f]{8}$/)
    assert.notEqual(dotted, slashed)
    assert.equal(dotted, namespaced('db', '__', 'db.query'))
    // The catalog lists the portable name and routes it back to the backend's own.
    const catalog = new BackendCatalog(backend({ name: 'db' }), '__')
    const listed = catalog.tool({ name: 'db.query', inputSchema: { type: 'object' } })
    assert.equal(listed?.name, dotted)
    assert.equal(catalog.resolve('tool', dotted), 'db.query')
  })

  it('shortens names past 64 characters deterministically and distinctly', () => {
    const long = 'x'.repeat(70)
    const a = namespaced('backend', '__', long)
    const b = namespaced('backend', '__', `${long}y`)
    assert.equal(a.length, 64)
    assert.match(a, /^[A-Za-z0-9_-]{1,64}$/)
    assert.equal(a, namespaced('backend', '__', long))
    assert.notEqual(a, b)
    assert.equal(namespaced('b', '__', 'y'.repeat(61)).length, 64) // exactly 64 kept as is
    assert.equal(namespaced('b', '__', 'y'.repeat(61)), `b__${'y'.repeat(61)}`)
  })

  const uris: Array<[string, string]> = [
    ['test://static/resource/1', 'test://ev__static/resource/1'],
    ['file:///tmp/a.txt', 'file://ev__/tmp/a.txt'],
    ['ui://widget/main.html', 'ui://ev__widget/main.html'],
    ['memory:notes', 'memory:ev__notes'],
    ['no-scheme/path', 'ev__no-scheme/path'],
    ['test://static/resource/{id}', 'test://ev__static/resource/{id}'],
  ]
  for (const [uri, exposed] of uris) {
    it(`namespaces ${uri} reversibly`, () => {
      assert.equal(namespaceUri('ev', '__', uri), exposed)
      assert.equal(unnamespaceUri('ev', '__', exposed), uri)
      assert.equal(unnamespaceUri('other', '__', exposed), undefined)
    })
  }

  it('matches globs', () => {
    const match = globMatcher(['read_*', 'exact', 'a?c'])
    assert.equal(match('read_file'), true)
    assert.equal(match('exact'), true)
    assert.equal(match('exactly'), false)
    assert.equal(match('abc'), true)
    assert.equal(match('a.c'), true)
    assert.equal(match('write'), false)
    assert.equal(globMatcher(['a.b'])('axb'), false)
    assert.equal(visibility([], ['write*'])('write_file'), false)
    assert.equal(visibility([], ['write*'])('read_file'), true)
    assert.equal(visibility(['read*'], [])('write_file'), false)
    assert.equal(visibility([], [])('anything'), true)
  })
})

describe('BackendCatalog', () => {
  it('filters, aliases and namespaces tools, and resolves names back', () => {
    const catalog = new BackendCatalog(
      backend({
        hide_tools: ['secret*'],
        aliases: [
          { from: 'echo', to: 'say', description: 'Says it back' },
          { from: 'add', description: 'Adds' },
        ],
      }),
      '__',
    )
    assert.equal(catalog.tool({ name: 'secret-op' }), undefined)
    assert.deepEqual(catalog.tool({ name: 'echo', description: 'Echo' }), {
      name: 'ev__say',
      description: 'Says it back',
    })
    assert.deepEqual(catalog.tool({ name: 'add', description: 'x' }), {
      name: 'ev__add',
      description: 'Adds',
    })
    assert.equal(catalog.resolve('tool', 'ev__say'), 'echo')
    assert.equal(catalog.resolve('tool', 'ev__add'), 'add')
    assert.equal(catalog.resolve('tool', 'ev__secret-op'), undefined)
    assert.equal(catalog.resolve('tool', 'other__add'), undefined)
  })

  it('aliases that swap or chain names list every tool they rename, each reaching its own', () => {
    const swap = new BackendCatalog(
      backend({
        aliases: [
          { from: 'a', to: 'b' },
          { from: 'b', to: 'a' },
        ],
      }),
      '__',
    )
    swap.sawNames('tool', [{ name: 'a' }, { name: 'b' }])
    assert.deepEqual(
      [swap.tool({ name: 'a' })?.name, swap.tool({ name: 'b' })?.name],
      ['ev__b', 'ev__a'],
    )
    assert.deepEqual([swap.resolve('tool', 'ev__a'), swap.resolve('tool', 'ev__b')], ['b', 'a'])
    const chain = new BackendCatalog(
      backend({
        aliases: [
          { from: 'a', to: 'b' },
          { from: 'b', to: 'c' },
        ],
      }),
      '__',
    )
    chain.sawNames('tool', [{ name: 'a' }, { name: 'b' }, { name: 'c' }])
    // c's own name is taken by b: c is the one left out.
    assert.deepEqual(
      ['a', 'b', 'c'].map((name) => chain.tool({ name })?.name),
      ['ev__b', 'ev__c', undefined],
    )
  })

  it("a tool's alias onto a prompt's name leaves the prompt reachable once tools were listed", () => {
    const catalog = new BackendCatalog(backend({ aliases: [{ from: 't', to: 'p' }] }), '__')
    catalog.sawNames('tool', [{ name: 't' }])
    assert.equal(catalog.resolve('tool', 'ev__p'), 't')
    // No prompt listing yet: the tools' listing already says the alias is a tool's.
    assert.equal(catalog.resolve('prompt', 'ev__p'), 'p')
  })

  it('resolves shortened names once they were listed', () => {
    const catalog = new BackendCatalog(backend(), '__')
    const long = 'a'.repeat(80)
    const tool = catalog.tool({ name: long })
    assert.ok(tool && typeof tool.name === 'string' && tool.name.length === 64)
    assert.equal(catalog.resolve('tool', tool.name as string), long)
  })

  it('filters resources and templates by backend URI and namespaces UI links', () => {
    const catalog = new BackendCatalog(backend({ expose_resources: ['test://static/*'] }), '__')
    assert.deepEqual(catalog.resource({ uri: 'test://static/1', name: 'one' }), {
      uri: 'test://ev__static/1',
      name: 'one',
    })
    assert.equal(catalog.resource({ uri: 'test://dynamic/1' }), undefined)
    assert.equal(catalog.resolveUri('test://ev__static/1'), 'test://static/1')
    assert.equal(catalog.resolveUri('test://ev__dynamic/1'), undefined)
    const tool = catalog.tool({
      name: 'show',
      _meta: { ui: { resourceUri: 'ui://w' }, 'ui/resourceUri': 'ui://w' },
    })
    assert.deepEqual(tool?._meta, {
      ui: { resourceUri: 'ui://ev__w' },
      'ui/resourceUri': 'ui://ev__w',
    })
  })

  it('namespaces URIs inside content', () => {
    const catalog = new BackendCatalog(backend(), '__')
    const out = catalog.content({
      content: [
        { type: 'text', text: 'hi' },
        { type: 'resource_link', uri: 'test://a' },
        { type: 'resource', resource: { uri: 'test://b', text: 'x' } },
      ],
    })
    assert.deepEqual(out.content, [
      { type: 'text', text: 'hi' },
      { type: 'resource_link', uri: 'test://ev__a' },
      { type: 'resource', resource: { uri: 'test://ev__b', text: 'x' } },
    ])
    // A result's widget pointers too, as in its tool's definition: clients read them back
    // through the gateway, and [[csp.widget]] rules match the URIs clients see.
    const widget = catalog.content({
      content: [],
      _meta: {
        ui: { resourceUri: 'ui://widget/a.html' },
        'openai/outputTemplate': 'ui://widget/a.html',
        other: 1,
      },
    })
    assert.deepEqual(widget._meta, {
      ui: { resourceUri: 'ui://ev__widget/a.html' },
      'openai/outputTemplate': 'ui://ev__widget/a.html',
      other: 1,
    })
  })

  it('keeps the backend own names and URIs with namespace = false (filters and aliases still apply)', () => {
    const catalog = new BackendCatalog(
      backend({ namespace: false, hide_tools: ['secret'], aliases: [{ from: 'echo', to: 'say' }] }),
      '__',
    )
    assert.deepEqual(catalog.tool({ name: 'test_simple_text' }), { name: 'test_simple_text' })
    assert.deepEqual(catalog.tool({ name: 'echo' }), { name: 'say' })
    assert.equal(catalog.tool({ name: 'secret' }), undefined)
    assert.ok(catalog.owns('test_simple_text'))
    assert.equal(catalog.resolve('tool', 'test_simple_text'), 'test_simple_text')
    assert.equal(catalog.resolve('tool', 'say'), 'echo')
    assert.equal(catalog.resolve('tool', 'secret'), undefined)
    assert.equal(catalog.resolve('prompt', 'ev__test_simple_prompt'), 'ev__test_simple_prompt')
    assert.deepEqual(catalog.resource({ uri: 'test://static-text' }), { uri: 'test://static-text' })
    assert.equal(catalog.resolveUri('test://static-text'), 'test://static-text')
    assert.deepEqual(catalog.content({ content: [{ type: 'resource_link', uri: 'test://a' }] }), {
      content: [{ type: 'resource_link', uri: 'test://a' }],
    })
  })

  it('renames a resource URI to its alias everywhere a client sees it, and routes both back', () => {
    const catalog = new BackendCatalog(
      backend({
        aliases: [
          { from: 'memo://a', to: 'notes://first', description: 'The first note' },
          // Into the backend's own namespace: takes the URI of its resource memo://c.
          { from: 'memo://b', to: 'memo://ev__c' },
          { from: 'echo', to: 'say' },
        ],
      }),
      '__',
    )
    // resources/list: forward, with the alias's description; templates are not aliased.
    assert.deepEqual(catalog.resource({ uri: 'memo://a', name: 'a' }), {
      uri: 'notes://first',
      name: 'a',
      description: 'The first note',
    })
    assert.deepEqual(catalog.resource({ uri: 'memo://b' }), { uri: 'memo://ev__c' })
    assert.equal(catalog.resource({ uri: 'memo://c' }), undefined, 'its URI was taken')
    assert.deepEqual(catalog.resource({ uri: 'memo://d' }), { uri: 'memo://ev__d' })
    assert.deepEqual(catalog.template({ uriTemplate: 'memo://a' }), { uriTemplate: 'memo://ev__a' })
    // resources/read, subscribe: back; the namespaced URI still reaches the resource.
    assert.ok(catalog.ownsUri('notes://first'))
    assert.ok(catalog.aliasesResources)
    assert.equal(catalog.resolveUri('notes://first'), 'memo://a')
    assert.equal(catalog.resolveUri('memo://ev__a'), 'memo://a')
    assert.equal(catalog.resolveUri('memo://ev__c'), 'memo://b')
    assert.equal(catalog.resolveUri('memo://ev__d'), 'memo://d')
    assert.equal(catalog.resolveUri('notes://second'), undefined)
    // notifications/resources/updated and read contents: forward.
    assert.equal(catalog.exposeUri('memo://a'), 'notes://first')
    assert.equal(catalog.namespacedUri('memo://a'), 'memo://ev__a')
    assert.deepEqual(catalog.content({ contents: [{ uri: 'memo://a', text: 'x' }] }), {
      contents: [{ uri: 'notes://first', text: 'x' }],
    })
    // A tool's widget link names the alias, which the client can read.
    const tool = catalog.tool({
      name: 'show',
      _meta: { ui: { resourceUri: 'memo://a' }, 'openai/outputTemplate': 'memo://a' },
    })
    assert.deepEqual(tool?._meta, {
      ui: { resourceUri: 'notes://first' },
      'openai/outputTemplate': 'notes://first',
    })
    // Tool aliases are untouched, and a resource alias renames no tool.
    assert.equal(catalog.tool({ name: 'echo' })?.name, 'ev__say')
    assert.equal(catalog.resolve('tool', 'notes://first'), undefined)
  })

  it('filters a resource alias by the backend own URI, under either name', () => {
    const catalog = new BackendCatalog(
      backend({ hide_resources: ['memo://a'], aliases: [{ from: 'memo://a', to: 'notes://a' }] }),
      '__',
    )
    assert.equal(catalog.resource({ uri: 'memo://a' }), undefined)
    assert.equal(catalog.resolveUri('notes://a'), undefined)
    assert.equal(catalog.resolveUri('memo://ev__a'), undefined)
    const plain = new BackendCatalog(backend(), '__')
    assert.ok(!plain.aliasesResources)
    // An alias taking the namespaced name of the backend's own memo://c: that resource is
    // reached under no spelling a server would read as it.
    const shadow = new BackendCatalog(
      backend({ aliases: [{ from: 'memo://b', to: 'memo://ev__c' }] }),
      '__',
    )
    assert.equal(shadow.resolveUri('memo://ev__c'), 'memo://b')
    for (const uri of ['memo://ev__C', 'memo://ev__u@c', 'memo://ev__%63', 'memo://ev__c?x']) {
      assert.equal(shadow.resolveUri(uri), undefined, uri)
    }
    assert.equal(shadow.resolveUri('memo://ev__d'), 'memo://d')
    assert.ok(!plain.ownsUri('notes://a'))
  })

  it('hides a resource under every spelling a server would read as it', () => {
    const catalog = new BackendCatalog(
      backend({ hide_resources: ['file:///etc/*', 'mem://secret', 'urn:secret'] }),
      '__',
    )
    for (const uri of [
      'file://ev__/etc/passwd',
      'file://ev__/tmp/../etc/passwd',
      'file://ev__/%65tc/passwd',
      'file://ev__//etc/passwd',
      'file://ev__/tmp//../etc/passwd',
      'file://ev__:80/etc/passwd',
      'file://u@ev__/etc/passwd',
      'MEM://ev__secret',
      'mem://ev__%73ecret',
      'urn:ev__%73ecret',
      'file://ev__/etc/passwd?x',
      'file://ev__/etc/passwd#x',
      'mem://ev__u:p@secret',
      'mem://ev__SECRET',
    ]) {
      assert.equal(catalog.resolveUri(uri), undefined, uri)
    }
    assert.equal(catalog.resource({ uri: 'file:///tmp/../etc/passwd' }), undefined)
    assert.equal(catalog.resolveUri('file://ev__/tmp/notes'), 'file:///tmp/notes')
    assert.equal(catalog.resolveUri('mem://ev__public'), 'mem://public')
  })

  describe('argument injection precedence', () => {
    const catalog = new BackendCatalog(
      backend({
        default_args: { timeout: 30, mode: 'default' },
        inject_args: [
          { tool: 'query', args: { mode: 'tool', max_rows: 1000 } },
          { tool: 'query', args: { read_only: true }, overwrite: true },
          { tool: 'danger*', args: { dry_run: true }, overwrite: true },
        ],
      }),
      '__',
    )
    const cases: Array<[string, string, unknown, Record<string, unknown>]> = [
      ['defaults fill missing keys', 'other', { a: 1 }, { timeout: 30, mode: 'default', a: 1 }],
      ['client beats defaults', 'other', { timeout: 5 }, { timeout: 5, mode: 'default' }],
      [
        'per-tool beats defaults, client beats per-tool',
        'query',
        { max_rows: 10 },
        { timeout: 30, mode: 'tool', max_rows: 10, read_only: true },
      ],
      [
        'overwrite beats client',
        'query',
        { read_only: false },
        { timeout: 30, mode: 'tool', max_rows: 1000, read_only: true },
      ],
      [
        'missing arguments still get injected',
        'danger_op',
        undefined,
        { timeout: 30, mode: 'default', dry_run: true },
      ],
      [
        'glob rules with overwrite',
        'danger_x',
        { dry_run: false },
        { timeout: 30, mode: 'default', dry_run: true },
      ],
      [
        // Before: `Read_Only` went on beside it, and a Go backend read the client's value.
        'overwrite drops the client’s key in any case, as Go folds it',
        'query',
        { Read_Only: false, READ_ONLY: false, other: 1 },
        { timeout: 30, mode: 'tool', max_rows: 1000, other: 1, read_only: true },
      ],
    ]
    for (const [title, tool, args, expected] of cases) {
      it(title, () => assert.deepEqual(catalog.injectArgs(tool, args), expected))
    }
  })
})

describe('annotation filters', () => {
  const tools = [
    { name: 'reader', annotations: { readOnlyHint: true } },
    { name: 'additive', annotations: { destructiveHint: false } },
    { name: 'silent', annotations: {} },
    { name: 'bare' },
    { name: 'eraser', annotations: { destructiveHint: true } },
  ]
  const shown = (extra: Record<string, unknown>) => {
    const catalog = new BackendCatalog(backend(extra), '__')
    return tools.filter((t) => catalog.tool(t) !== undefined).map((t) => t.name)
  }

  it('hide_destructive keeps what the spec calls harmless (no annotations: destructive)', () => {
    assert.deepEqual(shown({ hide_destructive: true }), ['reader', 'additive'])
  })

  it('read_only_only keeps readOnlyHint: true only; both together are the stricter', () => {
    assert.deepEqual(shown({ read_only_only: true }), ['reader'])
    assert.deepEqual(shown({ read_only_only: true, hide_destructive: true }), ['reader'])
    assert.equal(shown({}).length, 5)
  })

  it('remembers each verdict for calls, unknown until listed', () => {
    const catalog = new BackendCatalog(backend({ hide_destructive: true }), '__')
    assert.equal(catalog.annotationVerdict('eraser'), undefined)
    for (const tool of tools) catalog.tool(tool)
    assert.equal(catalog.annotationVerdict('eraser'), false)
    assert.equal(catalog.annotationVerdict('additive'), true)
    assert.equal(new BackendCatalog(backend(), '__').annotationVerdict('eraser'), true)
    // A name the backend did not list: unknown until a whole listing was read, then refused
    // without another listing, until the backend says its tools changed.
    assert.equal(catalog.annotationVerdict('made_up'), undefined)
    catalog.namesRead('tool')
    assert.equal(catalog.annotationVerdict('made_up'), false)
    assert.equal(catalog.annotationVerdict('additive'), true)
    catalog.toolsChanged()
    assert.equal(catalog.annotationVerdict('made_up'), undefined)
  })
})

describe('param_overrides', () => {
  const catalog = new BackendCatalog(
    backend({
      param_overrides: [
        { tool: 'query', hide: ['token'], rename: { sql: 'statement', db: 'limit' } },
        { tool: 'plain', defaults: { page: 1 } },
      ],
      inject_args: [{ tool: 'query', args: { timeout: 5 } }],
    }),
    '__',
  )
  const schema = {
    type: 'object',
    properties: { sql: { type: 'string' }, token: {}, db: {}, limit: {}, other: {} },
    required: ['sql', 'token', 'limit'],
    additionalProperties: false,
  }

  it('hides, renames and lets a new name shadow the parameter it equals', () => {
    const tool = catalog.tool({ name: 'query', inputSchema: schema })
    assert.deepEqual(tool?.inputSchema, {
      type: 'object',
      properties: { statement: { type: 'string' }, limit: {}, other: {} },
      required: ['statement'],
      additionalProperties: false,
    })
    // A tool without overrides keeps its schema object as it was.
    assert.equal(catalog.tool({ name: 'other', inputSchema: schema })?.inputSchema, schema)
  })

  const cases: Array<[string, string, unknown, Record<string, unknown>]> = [
    [
      'renamed back, hidden and old names dropped, injection after',
      'query',
      { statement: 'select 1', token: 't', sql: 'old name', limit: 'x', other: 2 },
      { timeout: 5, sql: 'select 1', db: 'x', other: 2 },
    ],
    [
      // Before: `Token` went on, and a Go backend read it as the hidden `token`.
      'a hidden parameter in another case is dropped too',
      'query',
      { statement: 's', Token: 't', TOKEN: 'u', toKen: 'v' },
      { timeout: 5, sql: 's' },
    ],
    ['defaults fill what the call lacks', 'plain', { page: 3 }, { page: 3 }],
    ['defaults fill a call without arguments', 'plain', undefined, { page: 1 }],
    [
      'names an object has by inheritance are parameters like any other',
      'plain',
      JSON.parse('{"constructor": 1, "toString": "t", "__proto__": {"polluted": true}}'),
      JSON.parse('{"constructor": 1, "toString": "t", "__proto__": {"polluted": true}, "page": 1}'),
    ],
  ]
  for (const [title, tool, args, expected] of cases) {
    it(title, () => assert.deepEqual(catalog.injectArgs(tool, args), expected))
  }

  it('drops a hidden parameter spelt with a dotless ı or a dotted İ (Go 1.21+ reads them as i)', () => {
    const hiding = new BackendCatalog(
      backend({ param_overrides: [{ tool: 'read', hide: ['user_id'] }] }),
      '__',
    )
    assert.deepEqual(
      hiding.injectArgs('read', { path: '/a', user_\u0131d: 'root', user_\u0130d: 'root' }),
      { path: '/a' },
    )
  })

  it("keeps a client's 64-bit integers exact through renames, injection and defaults", () => {
    const body =
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query","arguments":{"statement":12345678901234567891,"other":98765432109876543219}}}'
    const message = decodeBody(body).messages[0] as unknown as { params: { arguments: unknown } }
    const params = message.params
    assert.equal(
      encodeJson(catalog.injectArgs('query', params.arguments)),
      '{"timeout":5,"sql":12345678901234567891,"other":98765432109876543219}',
    )
    assert.equal(
      encodeJson(catalog.injectArgs('plain', params.arguments)),
      '{"statement":12345678901234567891,"other":98765432109876543219,"page":1}',
    )
  })
})

describe('merge', () => {
  it('round-trips cursors and rejects foreign ones', () => {
    const position = { a: 'abc', b: '' }
    assert.deepEqual(decodeCursor(encodeCursor('tools/list', position), 'tools/list'), position)
    assert.throws(() => decodeCursor('nope', 'tools/list'), /Invalid cursor/)
    assert.throws(
      () => decodeCursor(Buffer.from('{"v":2}').toString('base64url'), 'tools/list'),
      /Invalid cursor/,
    )
  })

  it('refuses a cursor minted for another list', () => {
    // Before: a tools/list cursor sent to prompts/list handed the backends a position in
    // another list, and the client lost the prompts before it without an error.
    const cursor = encodeCursor('tools/list', { a: '2' })
    for (const method of ['prompts/list', 'resources/list', 'resources/templates/list'] as const) {
      assert.throws(() => decodeCursor(cursor, method), /Invalid cursor/, method)
    }
    const unnamed = Buffer.from('{"v":1,"p":{"a":"2"}}').toString('base64url')
    assert.throws(() => decodeCursor(unnamed, 'tools/list'), /Invalid cursor/, 'no list named')
  })

  it('merges pages in backend order and carries each backend position', () => {
    const a = new BackendCatalog(backend({ name: 'a' }), '__')
    const b = new BackendCatalog(backend({ name: 'b', hide_tools: ['hidden'] }), '__')
    const c = new BackendCatalog(backend({ name: 'c' }), '__')
    const merged = mergePages('tools/list', [
      { catalog: a, result: { tools: [{ name: 'x' }], nextCursor: '2' } },
      { catalog: b, result: { tools: [{ name: 'y' }, { name: 'hidden' }] } },
      { catalog: c, error: 'down' },
    ])
    assert.deepEqual(merged.tools, [{ name: 'a__x' }, { name: 'b__y' }])
    assert.deepEqual(decodeCursor(merged.nextCursor as string, 'tools/list'), { a: '2' })
    const last = mergePages('prompts/list', [{ catalog: a, result: { prompts: [{ name: 'p' }] } }])
    assert.deepEqual(last, { prompts: [{ name: 'a__p' }] })
  })

  it('merges capabilities and instructions', () => {
    const caps = mergeCapabilities([
      { name: 'a', capabilities: { tools: {}, resources: { subscribe: true }, logging: {} } },
      { name: 'b', capabilities: { prompts: {}, completions: {} }, instructions: 'Use b.' },
    ])
    assert.deepEqual(caps, {
      tools: { listChanged: true },
      resources: { listChanged: true, subscribe: true },
      logging: {},
      prompts: { listChanged: true },
      completions: {},
    })
    assert.equal(
      mergeInstructions(
        [
          { name: 'a', instructions: 'Use a.' },
          { name: 'b', instructions: 'Use b.' },
        ],
        undefined,
      ),
      '[a] Use a.\n\n[b] Use b.',
    )
    assert.equal(mergeInstructions([{ name: 'a', instructions: 'x' }], 'mine'), 'mine')
    assert.equal(mergeInstructions([{ name: 'a' }], undefined), undefined)
  })
})

describe('restart backoff', () => {
  const cases: Array<[number, number]> = [
    [1, 0],
    [2, 250],
    [3, 500],
    [4, 1000],
    [9, 30_000],
    [50, 30_000],
  ]
  for (const [failures, delay] of cases) {
    it(`waits ${delay} ms after ${failures} consecutive failure(s)`, () => {
      assert.equal(restartDelay(failures), delay)
    })
  }
})
