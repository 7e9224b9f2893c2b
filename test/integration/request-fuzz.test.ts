/**
 * Seeded random input from both sides, in both modes: a client sending random methods, bodies,
 * headers and ids, and an upstream answering calls with random bytes shaped like SSE or JSON
 * (cut off, never ended, other ids, comments, huge events). What must hold whatever comes:
 * every request gets an HTTP answer in bounded time, a lone request with an id gets that id
 * back, and Portico keeps serving. A failure prints the seed and the case to replay it.
 */
import assert from 'node:assert/strict'
import type { ServerResponse } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { type RunningApp, startLegacyCspApp } from '../fixtures/csp-app.ts'
import { openSession, sessionHeaders, toolCallBody } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type Random, seeded } from '../helpers/random.ts'
import { type RawUpstream, startRawUpstream } from '../helpers/raw-upstream.ts'

const ACCEPT_BOTH = 'application/json, text/event-stream'

/** Sends `count` requests, `width` at a time. */
async function inWaves(count: number, width: number, one: (i: number) => Promise<void>) {
  for (let i = 0; i < count; i += width) {
    await Promise.all(Array.from({ length: Math.min(width, count - i) }, (_, k) => one(i + k)))
  }
}

/** The text of an answer; an SSE answer is read until its event with an id, or 2 s. */
async function answerText(response: Response): Promise<string> {
  if (!(response.headers.get('content-type') ?? '').includes('event-stream')) {
    return response.text()
  }
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let text = ''
  const until = Date.now() + 2000
  while (Date.now() < until) {
    const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 300))
    const read = await Promise.race([reader.read(), timeout])
    if (read === undefined || read.done) break
    text += decoder.decode(read.value)
    if (text.includes('"id"') && text.endsWith('\n\n')) break
  }
  await reader.cancel().catch(() => {})
  return text
}

const METHODS = [
  'initialize',
  'tools/list',
  'tools/call',
  'resources/read',
  'prompts/get',
  'ping',
  'completion/complete',
  'logging/setLevel',
  'notifications/initialized',
  'unknown/method',
  '',
]
const IDS: unknown[] = [1, 0, -7, 'a', '', 'x'.repeat(300), 1.5, null, true, {}, []]
const PARAMS: unknown[] = [
  undefined,
  null,
  {},
  [],
  7,
  { name: 'echo', arguments: { text: 'hi' } },
  { name: 'demo__echo', arguments: { text: 'hi' } },
  { name: 'echo', arguments: [] },
  { uri: 'x://nothing' },
  { _meta: { progressToken: 5, traceparent: 'junk' } },
  { protocolVersion: 'zzz', capabilities: {}, clientInfo: { name: 'f', version: '1' } },
]

function randomMessage(random: Random): Record<string, unknown> {
  const message: Record<string, unknown> = {
    jsonrpc: random.pick(['2.0', '2.0', '2.0', '1.0']),
    method: random.pick(METHODS),
  }
  if (random.next(5) > 0) message.id = random.pick(IDS)
  const params = random.pick(PARAMS)
  if (params !== undefined) message.params = params
  return message
}

function randomBody(random: Random): string {
  switch (random.next(8)) {
    case 0:
      return '{"jsonrpc":"2.0","id":1,"method":"tools/list"'
    case 1:
      return JSON.stringify([randomMessage(random), randomMessage(random)])
    case 2:
      return 'x'.repeat(random.next(100))
    default:
      return JSON.stringify(randomMessage(random))
  }
}

/** The id a lone request in `body` carries, when it is a request a server must answer. */
function answerableId(body: string): string | number | undefined {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const { id, method } = value as { id?: unknown; method?: unknown }
  if (typeof method !== 'string') return undefined
  return typeof id === 'string' || typeof id === 'number' ? id : undefined
}

interface Mode {
  name: string
  portico: () => RunningPortico
}

async function fuzzClient(mode: Mode, seed: number, count: number): Promise<void> {
  const random = seeded(seed)
  const { url } = mode.portico()
  let session: string | undefined
  const failures: string[] = []
  await inWaves(count, 8, async (i) => {
    const method = random.pick(['POST', 'POST', 'POST', 'GET', 'DELETE', 'PUT', 'OPTIONS'])
    const body = method === 'POST' || method === 'PUT' ? randomBody(random) : undefined
    const headers: Record<string, string> = {
      'content-type': random.pick(['application/json', 'application/json', 'text/plain']),
      accept: random.pick([ACCEPT_BOTH, ACCEPT_BOTH, 'application/json', 'text/html']),
    }
    if (random.next(3) === 0) {
      headers['mcp-protocol-version'] = random.pick(['2025-11-25', '2026-07-28', 'bogus'])
    }
    if (session !== undefined && random.next(2) === 0) {
      headers['mcp-session-id'] = random.next(4) === 0 ? 'unknown-session' : session
    }
    if (random.next(6) === 0) headers.origin = random.pick(['https://evil.example', 'null'])
    const label = `${mode.name} seed ${seed} #${i}: ${method} ${JSON.stringify(headers)} ${body ?? ''}`
    let response: Response
    try {
      response = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(10_000) })
    } catch (error) {
      failures.push(`${label} → ${String(error)}`)
      return
    }
    session = response.headers.get('mcp-session-id') ?? session
    const text = await answerText(response)
    const id = method === 'POST' && body !== undefined ? answerableId(body) : undefined
    // The upstream's own refusal of a request outside a session (400 without an id, 404 with
    // `"id": null`, as MCP SDK servers write them) passes through transparent mode as written.
    const upstreamSessionError =
      mode.name === 'transparent' &&
      /"message":"(Bad Request: no session|Session not found)"/.test(text)
    if (id !== undefined && !upstreamSessionError && !text.includes(`"id":${JSON.stringify(id)}`)) {
      failures.push(`${label} → ${response.status} ${text.slice(0, 200)}`)
    }
  })
  assert.deepEqual(failures, [])
  await stillServes(url, mode.name === 'gateway' ? 'demo__echo' : 'echo')
}

/** A new session, a tool call, the answer: Portico kept serving. */
async function stillServes(url: string, tool: string): Promise<void> {
  const call = await fetch(url, {
    method: 'POST',
    headers: sessionHeaders(await openSession(url)),
    body: toolCallBody(2, tool, { text: 'still here' }),
  })
  assert.match(await answerText(call), /still here/)
}

describe('random requests from a client', () => {
  let demo: DemoServer
  let transparent: RunningPortico
  let gateway: RunningPortico

  before(async () => {
    demo = await startDemoServer()
    transparent = await startPortico({ upstream: demo.url, max_request_body_size: 4096 })
    gateway = await startPortico({
      backends: [{ name: 'demo', transport: 'http', url: demo.url }],
      max_request_body_size: 4096,
    })
  })
  after(async () => {
    await transparent?.close()
    await gateway?.close()
    await demo?.close()
  })

  it('transparent: every request answered, every lone request with its id', async () => {
    await fuzzClient({ name: 'transparent', portico: () => transparent }, 101, 600)
  })

  it('gateway: every request answered, every lone request with its id', async () => {
    await fuzzClient({ name: 'gateway', portico: () => gateway }, 202, 600)
  })
})

/** Pieces of a random upstream answer to the call with `id`. */
function ssePieces(id: unknown): string[] {
  const literal = JSON.stringify(id)
  return [
    `data: {"jsonrpc":"2.0","id":${literal},"result":{"content":[]}}\n\n`,
    `data: {"jsonrpc":"2.0","id":${literal},"error":{"code":-1,"message":"e"}}\n\n`,
    `data: {"jsonrpc":"2.0","id":${literal},"error":null}\n\n`,
    'data: {"jsonrpc":"2.0","id":999999,"result":{}}\n\n',
    'data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}\n\n',
    'data: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n\n',
    ': ping\n\n',
    'id: 5\ndata:\n\n',
    'event: message\r\ndata: {"a":\r\n\r\n',
    'data: not json\n\n',
    'data: {"jsonrpc":"2.0","id":',
    '\r',
    `data: ${'x'.repeat(70_000)}\n\n`,
    `data: {"jsonrpc":"2.0","id":1,"result":${'['.repeat(5000)}\n\n`,
  ]
}

function jsonPieces(id: unknown): string[] {
  return [
    JSON.stringify({ jsonrpc: '2.0', id, result: {} }),
    JSON.stringify({ jsonrpc: '2.0', id: 'another', result: {} }),
    '{"jsonrpc":"2.0","id":',
    '<html>',
    '[]',
    'null',
  ]
}

function answerAtRandom(res: ServerResponse, id: unknown, random: Random): void {
  const sse = random.next(3) > 0
  const status = random.pick([200, 200, 200, 200, 202, 400, 404, 500])
  const type = sse ? 'text/event-stream' : random.pick(['application/json', 'text/html', ''])
  res.writeHead(status, { 'content-type': type })
  const pieces = sse ? ssePieces(id) : jsonPieces(id)
  const parts = Array.from({ length: random.next(6) }, () => random.pick(pieces))
  if (random.next(5) === 0) return void res.destroy()
  const ending = random.pick(['end', 'end', 'end', 'end', 'end', 'destroy', 'destroy', 'never'])
  let at = 0
  const next = (): void => {
    if (res.destroyed) return
    if (at < parts.length) {
      res.write(parts[at++])
      setTimeout(next, random.next(3))
    } else if (ending === 'end') res.end()
    else if (ending === 'destroy') res.destroy()
  }
  next()
}

describe('random answers from an upstream', () => {
  const TIMEOUT_MS = 500
  let upstream: RawUpstream
  let transparent: RunningPortico
  let gateway: RunningPortico

  before(async () => {
    const random = seeded(303)
    upstream = await startRawUpstream('random', (res, request) =>
      answerAtRandom(res, request.id, random),
    )
    transparent = await startPortico({ upstream: upstream.url, request_timeout: '500ms' })
    gateway = await startPortico({
      backends: [{ name: 'random', transport: 'http', url: upstream.url, timeout: '500ms' }],
    })
  })
  after(async () => {
    await transparent?.close()
    await gateway?.close()
    // Answers that never end hold their connections: closed here, or the server would wait.
    upstream?.server.closeAllConnections()
    await upstream?.close()
  })

  /**
   * In transparent mode two upstream answers without the call's id are passed on as they are,
   * and a client is not left waiting by either: an HTTP error (the client fails the call on
   * its status), and an SSE stream whose events carried ids (SSE polling, SEP-1699: the client
   * resumes it with Last-Event-ID to get the answer).
   */
  let passedOn = (_status: number, _text: string): boolean => false

  async function callsAnswered(portico: RunningPortico, tool: string, count: number) {
    const withSession = sessionHeaders(await openSession(portico.url))
    const failures: string[] = []
    await inWaves(count, 16, async (i) => {
      const id = i % 2 === 0 ? i + 1 : `call-${i}`
      const started = Date.now()
      try {
        const response = await fetch(portico.url, {
          method: 'POST',
          headers: withSession,
          body: toolCallBody(id, tool),
          signal: AbortSignal.timeout(TIMEOUT_MS + 5000),
        })
        const text = await response.text()
        if (!text.includes(`"id":${JSON.stringify(id)}`) && !passedOn(response.status, text)) {
          failures.push(`call ${i} → ${response.status} ${text.slice(0, 200)}`)
        }
      } catch (error) {
        failures.push(`call ${i} after ${Date.now() - started} ms → ${String(error)}`)
      }
    })
    assert.deepEqual(failures, [])
  }

  it('transparent: every call answered with its id (or the upstream error), within the timeout', async () => {
    passedOn = (status, text) => status >= 400 || /^id:/m.test(text)
    await callsAnswered(transparent, 'anything', 150)
  })

  it('gateway: every call answered with its id, within the timeout', async () => {
    passedOn = () => false
    await callsAnswered(gateway, 'random__anything', 150)
  })
})

/** A legacy (2024-11-05) stream through Portico: its message endpoint and a bounded reader. */
async function openLegacyStream(origin: string) {
  const controller = new AbortController()
  const response = await fetch(`${origin}/sse`, {
    headers: { accept: 'text/event-stream' },
    signal: controller.signal,
  })
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let text = ''
  let pending: ReturnType<typeof reader.read> | undefined
  /** Reads until `done` holds or `ms` passed; a read still under way is kept for the next call. */
  const readFor = async (ms: number, done: (seen: string) => boolean): Promise<string> => {
    const until = Date.now() + ms
    while (Date.now() < until && !done(text)) {
      pending ??= reader.read()
      const tick = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 50))
      const read = await Promise.race([pending, tick])
      if (read === undefined) continue
      pending = undefined
      if (read.done) break
      text += decoder.decode(read.value)
    }
    return text
  }
  const opened = await readFor(5000, (seen) => /event: endpoint\ndata: \S+/.test(seen))
  const endpoint = /event: endpoint\ndata: (\S+)/.exec(opened)?.[1]
  assert.ok(endpoint, opened)
  return { endpoint: new URL(endpoint, origin).href, readFor, close: () => controller.abort() }
}

describe('random requests over legacy HTTP+SSE', () => {
  let app: RunningApp
  let portico: RunningPortico

  before(async () => {
    app = await startLegacyCspApp()
    portico = await startPortico({ upstream: app.url, request_timeout: '2s' })
  })
  after(async () => {
    await portico?.close()
    await app?.close()
  })

  it('every request answered on the stream or in its POST, repeated ids included', async () => {
    const random = seeded(404)
    const failures: string[] = []
    for (let round = 0; round < 4; round++) {
      const stream = await openLegacyStream(portico.origin)
      const sent: Array<{ id: string | number; body: string; answer: string }> = []
      await inWaves(30, 30, async () => {
        const message: Record<string, unknown> = {
          jsonrpc: random.pick(['2.0', '2.0', '2.0', '1.0']),
          method: random.pick(['tools/list', 'ping', 'initialize', 'unknown/method', '']),
        }
        if (random.next(4) > 0) message.id = random.pick<string | number>([0, 1, 'a', 7])
        if (random.next(2) === 0) message.params = random.pick<unknown>([{}, [], 1])
        const body = random.next(8) === 0 ? '{"jsonrpc":' : JSON.stringify(message)
        const response = await fetch(stream.endpoint, {
          method: 'POST',
          headers: {
            'content-type': random.pick(['application/json', 'application/json', 'text/plain']),
          },
          body,
          signal: AbortSignal.timeout(10_000),
        })
        const answer = await response.text()
        const id = answerableId(body)
        if (id !== undefined) sent.push({ id, body, answer })
      })
      const answered = (seen: string) =>
        sent.every(({ id, answer }) => `${seen}${answer}`.includes(`"id":${JSON.stringify(id)}`))
      const text = await stream.readFor(4000, answered)
      stream.close()
      for (const { id, body, answer } of sent) {
        if (!`${text}${answer}`.includes(`"id":${JSON.stringify(id)}`)) {
          failures.push(`round ${round}: ${body} → ${answer.slice(0, 100)}`)
        }
      }
    }
    assert.deepEqual(failures, [])
  })
})
