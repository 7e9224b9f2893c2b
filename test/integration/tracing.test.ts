/**
 * OpenTelemetry traces end to end: Portico exports OTLP/HTTP (binary protobuf by default, JSON
 * when asked) to a real receiver in the test, which decodes the payload (protobufjs for
 * protobuf); a gateway call from a real SDK client carrying a W3C
 * `traceparent` gives a SERVER span (child of the client's) with the MCP semantic-convention
 * attributes and a CLIENT span per backend attempt; the attempt's context reaches the stdio
 * backend in `_meta.traceparent` and the HTTP backend in its `traceparent` header. Also: the
 * client's `_meta.traceparent`, sampling, an unsampled parent passed on unchanged, errors,
 * and transparent mode.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { parseTraceparent } from '../../src/pipeline/trace-context.ts'
import { SPAN_KIND, Tracer } from '../../src/tracing/tracer.ts'
import { startProbeHttp } from '../fixtures/probe-server.ts'
import type { Served } from '../fixtures/serve.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import type { OtlpPayload, OtlpSpan } from '../helpers/otlp-proto.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { Receiver } from '../helpers/receiver.ts'

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'

function spansOf(receiver: Receiver): OtlpSpan[] {
  return (receiver.accepted() as OtlpPayload[]).flatMap((p) =>
    p.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)),
  )
}

function attrs(span: OtlpSpan | undefined): Record<string, string | boolean | undefined> {
  const out: Record<string, string | boolean | undefined> = {}
  for (const a of span?.attributes ?? [])
    out[a.key] = a.value.stringValue ?? a.value.intValue ?? a.value.boolValue
  return out
}

function text(result: unknown): string {
  return (result as { content: Array<{ text: string }> }).content[0]?.text ?? ''
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'trace-client', version: '1.0.0' })
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }),
  )
  return client
}

describe('tracing over OTLP/HTTP', () => {
  let receiver: Receiver
  let http: Served
  let gateway: RunningPortico

  before(async () => {
    receiver = await new Receiver().start()
    http = await startProbeHttp()
    gateway = await startPortico({
      backends: [
        {
          name: 'p',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('probe-stdio')],
        },
        { name: 'h', transport: 'http', url: http.url },
      ],
      observability: {
        tracing: {
          enabled: true,
          endpoint: receiver.url,
          service_name: 'portico-test',
          flush_interval_ms: 50,
        },
      },
    })
  })

  after(async () => {
    await gateway?.close()
    await http?.close()
    await receiver?.close()
  })

  it('exports the span tree of a gateway call and passes the context to both backends', async () => {
    const traceparent = `00-${TRACE_ID}-${CLIENT_SPAN}-01`
    const client = await connect(gateway.url, { traceparent })
    const meta = JSON.parse(text(await client.callTool({ name: 'p__meta', arguments: {} })))
    const headers = JSON.parse(text(await client.callTool({ name: 'h__headers', arguments: {} })))
    await client.close()
    const inTrace = () => spansOf(receiver).filter((s) => s.traceId === TRACE_ID)
    await receiver.waitFor('the spans of both calls', () =>
      inTrace().some((s) => s.name === 'tools/call headers'),
    )
    const post = receiver.posts.find((p) => p.status === 200)
    assert.equal(post?.path, '/v1/traces')
    assert.equal(post?.headers['content-type'], 'application/x-protobuf')
    const payload = post?.body as OtlpPayload | undefined
    const resource = attrs({
      attributes: payload?.resourceSpans[0]?.resource.attributes ?? [],
    } as OtlpSpan)
    assert.equal(resource['service.name'], 'portico-test')

    const server = inTrace().find((s) => s.name === 'tools/call p__meta')
    assert.ok(server, `no server span among ${inTrace().map((s) => s.name)}`)
    assert.equal(server.kind, 2)
    assert.equal(server.parentSpanId, CLIENT_SPAN)
    const a = attrs(server)
    assert.equal(a['mcp.method.name'], 'tools/call')
    assert.equal(a['gen_ai.tool.name'], 'p__meta')
    assert.equal(a['gen_ai.operation.name'], 'execute_tool')
    assert.equal(a['jsonrpc.request.id'], '1')
    assert.match(String(a['mcp.session.id']), /^[0-9a-f-]{36}$/)
    assert.equal(a['mcp.protocol.version'], '2025-11-25')
    assert.equal(a['portico.backend'], 'p')
    assert.equal(a['portico.outcome'], 'ok')
    assert.equal(a['http.response.status_code'], '200')
    assert.equal(a['client.address'], '127.0.0.1')
    assert.ok(BigInt(server.endTimeUnixNano) >= BigInt(server.startTimeUnixNano))

    const attempt = inTrace().find((s) => s.parentSpanId === server.spanId)
    assert.ok(attempt, 'no attempt span under the server span')
    assert.equal(attempt.kind, 3)
    assert.equal(attempt.name, 'tools/call meta')
    assert.equal(attrs(attempt)['portico.backend'], 'p')
    assert.equal(attrs(attempt)['gen_ai.tool.name'], 'meta')
    assert.ok(BigInt(attempt.startTimeUnixNano) >= BigInt(server.startTimeUnixNano))
    assert.ok(BigInt(attempt.endTimeUnixNano) <= BigInt(server.endTimeUnixNano))
    // The stdio backend got the attempt's context in _meta.
    assert.equal(meta.traceparent, `00-${TRACE_ID}-${attempt.spanId}-01`)

    const httpServer = inTrace().find((s) => s.name === 'tools/call h__headers')
    const httpAttempt = inTrace().find((s) => s.parentSpanId === httpServer?.spanId)
    assert.equal(httpAttempt?.name, 'tools/call headers')
    // The HTTP backend got it as its traceparent header.
    assert.equal(headers.traceparent, `00-${TRACE_ID}-${httpAttempt?.spanId}-01`)
  })

  it('takes the parent from _meta.traceparent, and marks errors', async () => {
    const trace = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
    const client = await connect(gateway.url)
    await client.callTool({
      name: 'p__cwd',
      arguments: {},
      _meta: { traceparent: `00-${trace}-bbbbbbbbbbbbbbbb-01` },
    })
    await assert.rejects(
      client.callTool({
        name: 'zz__nope',
        arguments: {},
        _meta: { traceparent: `00-${trace}-cccccccccccccccc-01` },
      }),
    )
    await client.close()
    const inTrace = () => spansOf(receiver).filter((s) => s.traceId === trace)
    await receiver.waitFor('the _meta-parented spans', () => inTrace().length >= 3)
    const ok = inTrace().find((s) => s.name === 'tools/call p__cwd')
    assert.equal(ok?.parentSpanId, 'bbbbbbbbbbbbbbbb')
    const failed = inTrace().find((s) => s.name === 'tools/call zz__nope')
    assert.equal(failed?.parentSpanId, 'cccccccccccccccc')
    assert.equal(failed?.status.code, 2)
    assert.equal(attrs(failed)['error.type'], 'invalid_params')
    assert.equal(attrs(failed)['rpc.response.status_code'], '-32602')
    // Refused before any backend: no attempt span under it.
    assert.ok(!inTrace().some((s) => s.parentSpanId === failed?.spanId))
  })

  it('passes an unsampled parent on unchanged and records nothing for it', async () => {
    const trace = 'dddddddddddddddddddddddddddddddd'
    const unsampled = `00-${trace}-eeeeeeeeeeeeeeee-00`
    const client = await connect(gateway.url, { traceparent: unsampled })
    const headers = JSON.parse(text(await client.callTool({ name: 'h__headers', arguments: {} })))
    await client.close()
    assert.equal(headers.traceparent, unsampled)
    assert.ok(!spansOf(receiver).some((s) => s.traceId === trace))
  })
})

describe('tracing in transparent mode, and sampling', () => {
  it('replaces the forwarded traceparent with the attempt span (exported as OTLP/JSON); ratio 0 starts no trace', async () => {
    const receiver = await new Receiver().start()
    const http = await startProbeHttp()
    const traced = await startPortico({
      upstream: http.url,
      observability: {
        tracing: {
          enabled: true,
          endpoint: `${receiver.url}/otlp/v1/traces`,
          protocol: 'http/json',
          flush_interval_ms: 50,
        },
      },
    })
    const unsampledPortico = await startPortico({
      upstream: http.url,
      observability: {
        tracing: { enabled: true, endpoint: receiver.url, sample_ratio: 0, flush_interval_ms: 50 },
      },
    })
    try {
      const trace = '11111111111111111111111111111111'
      const client = await connect(traced.url, { traceparent: `00-${trace}-2222222222222222-01` })
      const headers = JSON.parse(text(await client.callTool({ name: 'headers', arguments: {} })))
      await client.close()
      const spans = () => spansOf(receiver).filter((s) => s.traceId === trace)
      await receiver.waitFor('the transparent call spans', () =>
        spans().some((s) => s.kind === 3 && s.name === 'tools/call headers'),
      )
      const server = spans().find((s) => s.kind === 2 && s.name === 'tools/call headers')
      const attempt = spans().find((s) => s.kind === 3 && s.parentSpanId === server?.spanId)
      assert.equal(receiver.posts[0]?.path, '/otlp/v1/traces')
      assert.equal(receiver.posts[0]?.headers['content-type'], 'application/json')
      assert.equal(attempt?.kind, 3)
      assert.equal(headers.traceparent, `00-${trace}-${attempt?.spanId}-01`)
      const before = receiver.posts.length
      const quiet = await connect(unsampledPortico.url)
      const seen = JSON.parse(text(await quiet.callTool({ name: 'headers', arguments: {} })))
      await quiet.close()
      assert.equal(seen.traceparent, undefined)
      await unsampledPortico.close()
      assert.equal(receiver.posts.length, before)
    } finally {
      await traced.close()
      await unsampledPortico.close()
      await http.close()
      await receiver.close()
    }
  })
})

describe('the tracer at shutdown', () => {
  it('exports spans that ended just before close, in both encodings', async () => {
    const receiver = await new Receiver().start()
    try {
      for (const protocol of ['http/protobuf', 'http/json'] as const) {
        const tracer = new Tracer({
          protocol,
          serviceName: 'shutdown',
          serviceVersion: '0',
          endpoint: receiver.url,
          sampleRatio: 1,
          maxQueue: 100,
          batchSize: 50,
          flushIntervalMs: 60_000,
        })
        const trace = protocol === 'http/json' ? 'a'.repeat(32) : 'b'.repeat(32)
        for (let i = 0; i < 3; i++) {
          const span = tracer.startDescribed(
            SPAN_KIND.internal,
            parseTraceparent(`00-${trace}-${'c'.repeat(16)}-01`),
            i,
            (n, attributes) => {
              attributes.add('n', n)
              return `span ${n}`
            },
          )
          tracer.end(span)
        }
        // No turn of the loop between the ends and close: the spans still wait to be encoded.
        await tracer.close()
        const names = spansOf(receiver)
          .filter((s) => s.traceId === trace)
          .map((s) => s.name)
        assert.deepEqual(names, ['span 0', 'span 1', 'span 2'], protocol)
      }
    } finally {
      await receiver.close()
    }
  })
})
