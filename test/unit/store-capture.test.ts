/** Schema capture (diffs, pages), client platform labels and report formatting. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatBytes, formatLatency, formatPct, renderTable } from '../../src/cli/format.ts'
import { renderSchema } from '../../src/cli/schema.ts'
import { renderSession } from '../../src/cli/session.ts'
import { renderStatus } from '../../src/cli/status.ts'
import { durationLabel } from '../../src/cli/store-options.ts'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { formatExchange } from '../../src/observe/stderr-sink.ts'
import { platformOf } from '../../src/store/platform.ts'
import type { ExchangeRow } from '../../src/store/report-logs.ts'
import type { SchemaReport } from '../../src/store/report-schema.ts'
import {
  canonicalJson,
  diffItems,
  diffServer,
  hashOf,
  ItemsPager,
} from '../../src/store/schema-capture.ts'

describe('schema diff', () => {
  const before = [
    { name: 'a', description: 'A', inputSchema: { type: 'object' } },
    { name: 'b', description: 'B' },
  ]
  it('reports added, removed and modified items with the fields that changed', () => {
    const after = [
      { name: 'a', description: 'A!', inputSchema: { type: 'object', required: ['x'] } },
      { name: 'c', description: 'C' },
    ]
    assert.deepEqual(diffItems('tools/list', before, after), [
      { change: 'tool_modified', item: 'a', detail: 'description, inputSchema' },
      { change: 'tool_added', item: 'c' },
      { change: 'tool_removed', item: 'b' },
    ])
  })
  it('keys resources by uri and templates by uriTemplate', () => {
    assert.deepEqual(diffItems('resources/list', [], [{ uri: 'x://1', name: 'one' }]), [
      { change: 'resource_added', item: 'x://1' },
    ])
    assert.deepEqual(
      diffItems('resources/templates/list', [{ uriTemplate: 'x://{id}', name: 't' }], []),
      [{ change: 'resource_template_removed', item: 'x://{id}' }],
    )
  })
  it('hashes content, not key order', () => {
    assert.equal(hashOf({ a: 1, b: [1, { c: 2, d: 3 }] }), hashOf({ b: [1, { d: 3, c: 2 }], a: 1 }))
    assert.equal(canonicalJson({ b: 1, a: null }), '{"a":null,"b":1}')
  })
  it('describes server identity changes', () => {
    const detail = diffServer(
      { serverInfo: { name: 's', version: '1.0.0' }, protocolVersion: '2025-06-18' },
      { serverInfo: { name: 's', version: '1.1.0' }, protocolVersion: '2025-11-25' },
    )
    // The negotiated revision is its client's choice, not the server's change: not named.
    assert.equal(detail, 'serverInfo.version: 1.0.0 → 1.1.0')
  })
})

describe('ItemsPager', () => {
  it('merges pages from the first (no cursor) to the last (no nextCursor)', () => {
    const pager = new ItemsPager()
    assert.equal(pager.page('k', undefined, [{ name: 'a' }], true), undefined)
    assert.equal(pager.page('k', 'c1', [{ name: 'b' }], true), undefined)
    assert.deepEqual(pager.page('k', 'c2', [{ name: 'c' }], false), {
      complete: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
    })
  })
  it('ignores a page whose listing it did not see start, and single pages complete at once', () => {
    const pager = new ItemsPager()
    assert.equal(pager.page('k', 'c9', [{ name: 'z' }], false), undefined)
    assert.deepEqual(pager.page('k', undefined, [{ name: 'a' }], false), {
      complete: [{ name: 'a' }],
    })
  })
  it('gives up a listing that pages for ever, and bounds the items all open listings hold', () => {
    const pager = new ItemsPager(1000, 5, 6)
    const items = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `t${i}` }))
    assert.equal(pager.page('endless', undefined, items(2), true), undefined)
    assert.equal(pager.page('endless', 'c1', items(2), true), undefined)
    assert.deepEqual(pager.page('endless', 'c2', items(2), true), {
      tooLarge: 'more than 5 items over its pages',
    })
    assert.equal(pager.page('endless', 'c3', items(1), false), undefined, 'given up: forgotten')
    // Two listings of 4 each exceed 6 held in all: the older one is given up.
    assert.equal(pager.page('a', undefined, items(4), true), undefined)
    assert.equal(pager.page('b', undefined, items(4), true), undefined)
    assert.equal(pager.page('a', 'c1', items(1), false), undefined, 'a was let go')
    assert.equal(
      (pager.page('b', 'c1', items(1), false) as { complete: unknown[] }).complete.length,
      5,
    )
    // A page too large to spread into push() is counted, not a stack overflow.
    const huge = new ItemsPager(10, 300_000, 300_000)
    const outcome = huge.page('h', undefined, items(200_000), false) as { complete: unknown[] }
    assert.equal(outcome.complete.length, 200_000)
  })
})

describe('platformOf', () => {
  const cases: Array<[string | undefined, string | undefined, string]> = [
    ['claude-ai', undefined, 'claude'],
    ['Claude Desktop', undefined, 'claude'],
    ['claude-code', undefined, 'claude'],
    ['openai-mcp', undefined, 'chatgpt'],
    ['ChatGPT', undefined, 'chatgpt'],
    ['cursor-vscode', undefined, 'cursor'],
    ['Visual Studio Code', undefined, 'vscode'],
    ['GitHub Copilot', undefined, 'vscode'],
    ['mcp-inspector', undefined, 'inspector'],
    ['inspector-client', undefined, 'inspector'],
    ['Windsurf', undefined, 'windsurf'],
    ['my-agent', 'Cursor/0.48 (darwin)', 'cursor'],
    [undefined, 'node', 'unknown'],
    ['my-agent', undefined, 'unknown'],
  ]
  for (const [name, agent, expected] of cases) {
    it(`${name ?? '(none)'} / ${agent ?? '(no UA)'} → ${expected}`, () => {
      assert.equal(platformOf(name, agent), expected)
    })
  }
})

describe('report formatting', () => {
  it('formats latencies, sizes, percentages and windows', () => {
    assert.equal(formatLatency(142), '142µs')
    assert.equal(formatLatency(4200), '4.2ms')
    assert.equal(formatLatency(45_000), '45ms')
    assert.equal(formatLatency(2_400_000), '2.40s')
    assert.equal(formatBytes(0), '—')
    assert.equal(formatBytes(512), '512 B')
    assert.equal(formatBytes(49_357), '48.2 KB')
    assert.equal(formatBytes(1_258_291), '1.2 MB')
    assert.equal(formatPct(0), '0%')
    assert.equal(formatPct(2.345), '2.3%')
    assert.equal(durationLabel(3_600_000), '1h')
    assert.equal(durationLabel(7 * 86_400_000), '7d')
    assert.equal(durationLabel(90_000), '90s')
  })
  it('portico status shows the 100 most called of each kind, and says how many more', () => {
    const stats = (i: number) => ({
      method: 'tools/call',
      name: `made-up-${i}`,
      calls: 1000 - i,
      errors: 0,
      error_pct: 0,
      avg_us: 1,
      min_us: 1,
      p50_us: 1,
      p95_us: 1,
      p99_us: 1,
      max_us: 1,
      bytes_in: 1,
      bytes_out: 1,
    })
    const text = renderStatus(
      {
        proxy: 'p',
        since: 0,
        total_requests: 250,
        errors: 0,
        error_pct: 0,
        sessions: { total: 1, active: 1 },
        tools: Array.from({ length: 250 }, (_, i) => stats(i)),
        resources: [],
        prompts: [],
        methods: [],
      },
      '1h',
      false,
    )
    assert.equal(text.match(/^made-up-/gm)?.length, 100)
    assert.match(text, /^made-up-99 /m)
    assert.doesNotMatch(text, /^made-up-100 /m)
    assert.match(text, /… and 150 more \(portico status --json lists them all\)/)
  })

  it('aligns tables: first column left, the rest right', () => {
    const out = renderTable(
      ['TOOL', 'CALLS'],
      [
        ['get_weather', '412'],
        ['run', '7'],
      ],
    )
    assert.equal(out, 'TOOL         CALLS\nget_weather    412\nrun              7\n')
  })
})

/** A schema report of one proxy whose server listed `items` as its tools. */
function toolsReport(
  items: Array<{ key: string; description: string }>,
  server: { name: string; version?: string },
): SchemaReport {
  return {
    proxy: 'p',
    server: { ...server, capabilities: ['tools'], captured_at: 0 },
    status: 'complete',
    last_captured: 0,
    lists: [{ method: 'tools/list', captured_at: 0, stale: false, items }],
  } as SchemaReport
}

describe('what a client chose, printed', () => {
  it('escapes control characters in portico schema and portico session (server and client words)', () => {
    const evil = 'x\u001b[2J\u001b]0;pwned\u0007\nFAKE LINE'
    const schema = renderSchema(
      toolsReport([{ key: evil, description: evil }], { name: evil, version: evil }),
      false,
    )
    const session = renderSession(
      {
        proxy: 'p',
        session_id: evil,
        era: 'legacy',
        client_name: evil,
        client_version: evil,
        platform: null,
        user_agent: null,
        protocol_version: null,
        started_at: 0,
        last_seen_at: 0,
        ended_at: null,
        calls: 0,
        errors: 0,
        active: true,
        grouped: false,
      },
      [],
      false,
    )
    for (const text of [schema, session]) {
      // No control character but the line breaks the report itself writes, and no forged line.
      assert.doesNotMatch(text, /\p{Cc}(?<!\n)/u)
      assert.doesNotMatch(text, /^FAKE LINE/m)
      assert.match(text, /x\\x1B\[2J\\x1B\]0;pwned\\x07\\x0AFAKE LINE/)
    }
  })

  it('lines the descriptions of portico schema up whatever control characters a name holds', () => {
    const schema = renderSchema(
      toolsReport(
        [
          { key: 'plain_name', description: 'one' },
          { key: 'esc\u001b[31mred', description: 'two' },
        ],
        { name: 's' },
      ),
      false,
    )
    // Before: the name was padded before its escape showed as `\x1B`, three cells wider.
    const columns = schema
      .split('\n')
      .filter((line) => line.includes('  —  '))
      .map((line) => line.indexOf('  —  '))
    assert.equal(columns.length, 2)
    assert.equal(columns[0], columns[1], schema)
  })

  it('a session row whose time a damaged store lost shows ? as its offset, not NaN', () => {
    const row = (id: number, ts: number) =>
      ({
        id,
        ts,
        proxy: 'p',
        session_id: 's',
        client_name: null,
        platform: null,
        era: 'legacy',
        kind: 'request',
        method: 'tools/list',
        target_kind: null,
        name: null,
        jsonrpc_id: String(id),
        status: 'ok',
        outcome: 'ok',
        error_code: null,
        error_message: null,
        reason: null,
        http_status: 200,
        latency_us: 100,
        bytes_in: 1,
        bytes_out: 1,
        subject: null,
        auth_client: null,
        via: null,
      }) satisfies ExchangeRow
    const session = {
      proxy: 'p',
      session_id: 's',
      era: 'legacy',
      client_name: 'c',
      client_version: '1',
      platform: null,
      user_agent: null,
      protocol_version: null,
      started_at: 1_000,
      last_seen_at: 2_000,
      ended_at: null,
      calls: 2,
      errors: 0,
      active: true,
      grouped: false,
    }
    // A time hand-edited into text reads back as no number at all.
    const text = renderSession(session, [row(1, 1_000), row(2, Number.NaN)], false)
    assert.doesNotMatch(text, /NaN/)
    assert.match(text, /\+0\.000s/)
  })

  it('escapes control characters in report tables and access lines (no terminal control, no forged lines)', () => {
    const evil = 'get\u001b]0;pwned\u0007\r\nFORGED 200 ok'
    const table = renderTable(['NAME'], [[evil]])
    assert.doesNotMatch(table, /\p{Cc}(?<!\n)/u)
    assert.equal(table.split('\n').filter(Boolean).length, 2, 'header and one row')
    assert.match(table, /get\\x1B\]0;pwned\\x07\\x0D\\x0AFORGED 200 ok/)
    const line = formatExchange({
      type: 'exchange',
      ts: 0,
      proxy: 'p',
      transport: 'streamable-http',
      kind: 'request',
      method: 'tools/call',
      name: evil,
      outcome: 'ok',
      httpStatus: 200,
      durationUs: 10,
      bytesIn: 1,
      bytesOut: 1,
    } as ExchangeEvent)
    assert.doesNotMatch(line, /\p{Cc}/u)
  })
})
