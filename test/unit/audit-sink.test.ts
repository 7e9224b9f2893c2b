/**
 * The audit log's two formats carry the same fields: the text line is written straight from
 * the event (no intermediate record, for speed), so it is checked here against the JSON
 * record, field by field, including the quoting of client-chosen text.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { auditSink } from '../../src/observe/audit-sink.ts'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { Logger } from '../../src/observe/logger.ts'

function event(overrides: Partial<ExchangeEvent> = {}): ExchangeEvent {
  return {
    type: 'exchange',
    ts: Date.UTC(2026, 11, 1, 14, 20, 12, 345),
    proxy: 'portico',
    transport: 'streamable-http',
    era: 'legacy',
    kind: 'request',
    method: 'tools/call',
    outcome: 'error',
    httpStatus: 200,
    durationUs: 12_345,
    firstByteUs: 11_000,
    bytesIn: 120,
    bytesOut: 180,
    name: 'say "hi"=now',
    targetKind: 'tool',
    backend: 'weather',
    reason: 'upstream_timeout',
    errorCode: -32001,
    jsonrpcId: 7,
    subject: 'alice smith',
    authClient: 'cli-app',
    clientAddress: '127.0.0.1',
    via: 'tunnel',
    sessionId: 'a1b2c3d4e5f6a7b8',
    client: { name: 'Claude Desktop', version: '1.2.3' },
    userAgent: 'undici/7',
    ...overrides,
  }
}

async function linesOf(json: boolean, events: ExchangeEvent[]): Promise<string[]> {
  const written: string[] = []
  const sink = auditSink(new Logger({ level: 'info', json, write: (line) => written.push(line) }))
  sink.write(events)
  await sink.close()
  return written.join('').trimEnd().split('\n')
}

/** `key=value` pairs of a text line, quoted values decoded. */
function fieldsOfText(line: string): Record<string, unknown> {
  const fields: Record<string, unknown> = {}
  const rest = line.replace(/^\d\d:\d\d:\d\d\.\d{3} audit /, '')
  for (const match of rest.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
    const [, key, raw] = match as unknown as [string, string, string]
    fields[key] = raw.startsWith('"') ? JSON.parse(raw) : raw
  }
  return fields
}

describe('audit sink', () => {
  it('writes the same fields as text and as JSON, quoting what needs it', async () => {
    const [text] = await linesOf(false, [event()])
    const [json] = await linesOf(true, [event()])
    assert.ok(text?.startsWith('14:20:12.345 audit method=tools/call tool="say \\"hi\\"=now" '))
    const record = JSON.parse(json ?? '{}') as Record<string, unknown>
    const { time, level, target, ...fields } = record
    assert.equal(time, '2026-12-01T14:20:12.345Z')
    assert.equal(level, 'info')
    assert.equal(target, 'audit')
    const expected = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]))
    assert.deepEqual(fieldsOfText(text ?? ''), expected)
    assert.equal(expected.user, 'alice smith')
    assert.equal(expected.session, 'a1b2c3d4')
    assert.equal(expected.duration_ms, '12.3')
  })

  it('never writes a control character a client chose: escapes and C1 codes are shown, not sent', async () => {
    // clientInfo comes from the client's initialize body: any character at all.
    const lines = await linesOf(false, [
      event({
        client: { name: 'evil\u001b[2J\u001b[1A\u0007', version: '1\u009b31m' },
        name: 'a tool\u001b[31m \u0085x\u007f',
        userAgent: 'ua',
      }),
    ])
    assert.equal(lines.length, 1)
    const line = lines[0] ?? ''
    assert.doesNotMatch(line, /\p{Cc}/u, JSON.stringify(line))
    assert.match(line, / client=evil\\x1B\[2J\\x1B\[1A\\x07 client_version=1\\x9B31m /)
    assert.match(line, / tool="a tool\\u001b\[31m \\x85x\\x7F" /)
    // JSON lines too: JSON.stringify escapes C0 only; C1 (CSI, NEL) went out raw.
    const [json] = await linesOf(true, [
      event({ client: { name: 'evil\u009b2J', version: '1' }, name: 'n\u0085x' }),
    ])
    assert.doesNotMatch(json ?? '', /\p{Cc}/u, JSON.stringify(json))
    const record = JSON.parse(json ?? '{}') as { client?: string; tool?: string }
    assert.equal(record.client, 'evil\u009b2J', 'the same value once parsed')
  })

  it('names a later call with the client its session announced in initialize', async () => {
    const { client: _client, ...call } = event({ outcome: 'ok' })
    const lines = await linesOf(false, [event({ method: 'initialize', name: undefined }), call])
    assert.equal(lines.length, 2)
    assert.match(
      lines[1] ?? '',
      / client="Claude Desktop" client_version=1\.2\.3 session=a1b2c3d4 /,
    )
  })
})
