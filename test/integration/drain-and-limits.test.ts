/**
 * Shutdown and connection bounds, with a real `portico run` process: on SIGTERM health probes
 * answer "draining" while in-flight calls finish, idle GET streams end at once and new work is
 * refused 503; a client that sends its headers too slowly (slowloris) or connects and says
 * nothing is cut off by `client_header_timeout`.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { runCli, startCli } from '../helpers/cli.ts'
import { MCP_ACCEPT, openSession, sessionHeaders } from '../helpers/mcp-http.ts'
import { exitOf } from '../helpers/processes.ts'
import { until } from '../helpers/wait.ts'

/** Sends `bytes` on a new connection and gives what came back once Portico closed it (10 s). */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    const deadline = setTimeout(() => {
      socket.destroy()
      reject(new Error('the connection was still open after 10 s'))
    }, 10_000)
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      answer += chunk
    })
    socket.on('close', () => {
      clearTimeout(deadline)
      resolve(answer)
    })
    socket.on('error', () => {})
    if (bytes) socket.write(bytes)
  })
}

describe('drain and connection limits', () => {
  let demo: DemoServer
  let dir: string

  before(async () => {
    demo = await startDemoServer()
    dir = mkdtempSync(join(tmpdir(), 'portico-drain-'))
  })
  after(async () => {
    await demo?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  async function run(extra: string) {
    const file = join(dir, `portico-${Math.random().toString(36).slice(2)}.toml`)
    writeFileSync(
      file,
      `upstream = "${demo.url}"\nport = 0\ndrain_timeout = "20s"\n${extra}\n[store]\nenabled = false\n`,
    )
    return startCli(['run', '--config', file])
  }

  it('drains: probes say draining, idle streams end, new work is refused, the call in flight finishes', async () => {
    const portico = await run('')
    const origin = new URL(portico.url).origin
    try {
      // An idle standalone stream, as every Streamable HTTP client keeps open.
      const session = await openSession(portico.url)
      const stream = await fetch(portico.url, {
        headers: { accept: 'text/event-stream', 'mcp-session-id': session },
      })
      assert.equal(stream.status, 200)
      const streamEnded = stream.text()
      // A call that takes about 2 s, in flight when the signal comes.
      const client = new Client({ name: 'drain', version: '1' })
      await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
      let progressed = false
      const call = client.callTool(
        { name: 'slow_task', arguments: { steps: 5, step_ms: 400 } },
        undefined,
        {
          onprogress: () => {
            progressed = true
          },
        },
      )
      await until(() => progressed || undefined, 10_000, 'the slow call to report progress')
      portico.child.kill('SIGTERM')
      await until(
        async () => ((await fetch(`${origin}/healthz`)).status === 503 ? true : undefined),
        5000,
        '/healthz to answer 503 while draining',
      )
      const health = (await (await fetch(`${origin}/healthz`)).json()) as { status: string }
      assert.equal(health.status, 'draining')
      await streamEnded // the idle stream was ended by the drain, not by the test
      const refused = await fetch(portico.url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, 'mcp-session-id': session },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
      })
      assert.equal(refused.status, 503)
      const refusal = (await refused.json()) as { id: unknown; error: { message: string } }
      assert.equal(refusal.error.message, 'Portico is shutting down')
      assert.equal(refusal.id, 9, 'the refusal answers the request by its id')
      const batch = await fetch(portico.url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, 'mcp-session-id': session },
        body: JSON.stringify([
          { jsonrpc: '2.0', id: 'a', method: 'tools/list' },
          { jsonrpc: '2.0', id: 'b', method: 'ping' },
        ]),
      })
      const answers = (await batch.json()) as Array<{ id: unknown; error?: { message: string } }>
      assert.deepEqual(
        answers.map((a) => [a.id, a.error?.message]),
        [
          ['a', 'Portico is shutting down'],
          ['b', 'Portico is shutting down'],
        ],
      )
      const result = await call
      assert.match(
        JSON.stringify(result.content),
        /done after 5 steps/,
        'the call in flight finished',
      )
      await client.close().catch(() => undefined)
      const { code } = await exitOf(portico.child, 20_000, 'portico run after SIGTERM')
      assert.equal(code, 0, portico.output())
    } finally {
      await portico.stop()
    }
  })

  it('answers and records the calls the drain deadline cuts off, and the streams it ends', async () => {
    const db = join(dir, 'cut.db')
    const file = join(dir, 'cut.toml')
    writeFileSync(file, `upstream = "${demo.url}"\nport = 0\ndrain_timeout = "500ms"\n`)
    const portico = await startCli(['run', '--config', file, '--db', db])
    try {
      const session = await openSession(portico.url)
      // Three slow calls answered as SSE (progress first), read until their stream ends.
      const calls = [1, 2, 3].map(async (n) => {
        const body = JSON.stringify({
          jsonrpc: '2.0',
          id: n,
          method: 'tools/call',
          params: {
            name: 'slow_task',
            arguments: { steps: 20, step_ms: 500 },
            _meta: { progressToken: n },
          },
        })
        const answer = await fetch(portico.url, {
          method: 'POST',
          headers: sessionHeaders(session),
          body,
        })
        const reader = answer.body?.getReader()
        let text = ''
        const started = until(() => /progress/.test(text) || undefined, 10_000, `call ${n}`)
        const read = (async () => {
          try {
            for (;;) {
              const chunk = await reader?.read()
              if (!chunk || chunk.done) {
                if (/"result"/.test(text)) return 'finished'
                // Cut, with an answer for its id (an SDK client would wait for ever without).
                return text.includes(`"id":${n},"error"`) && /shutting down/.test(text)
                  ? 'cut'
                  : `cut with no answer: ${text.slice(-300)}`
              }
              text += new TextDecoder().decode(chunk.value)
            }
          } catch {
            return 'cut'
          }
        })()
        await started
        return read
      })
      // An idle standalone stream, which the drain ends at once (its upstream stream let go).
      const stream = await fetch(portico.url, {
        headers: { accept: 'text/event-stream', 'mcp-session-id': session },
      })
      assert.equal(stream.status, 200)
      const streamEnded = stream.text()
      await new Promise((resolve) => setTimeout(resolve, 600)) // every call under way
      portico.child.kill('SIGTERM')
      await streamEnded
      assert.deepEqual(await Promise.all(calls), ['cut', 'cut', 'cut'])
      const { code } = await exitOf(portico.child, 10_000, 'portico run after SIGTERM')
      assert.equal(code, 0, portico.output())
      const logged = await runCli(['logs', '--db', db, '--method', 'tools/call', '--json'])
      const rows = logged.stdout.trim().split('\n').filter(Boolean)
      assert.equal(rows.length, 3, logged.stdout + logged.stderr)
      for (const row of rows) {
        const { status, reason } = JSON.parse(row) as { status: string; reason: string }
        assert.deepEqual({ status, reason }, { status: 'error', reason: 'shutting_down' }, row)
      }
      const streams = await runCli(['logs', '--db', db, '--method', 'GET', '--json'])
      assert.equal(streams.stdout.trim().split('\n').filter(Boolean).length, 1, streams.stdout)
    } finally {
      await portico.stop()
    }
  })

  it('cuts off a client that sends its headers too slowly, or nothing at all', async () => {
    const portico = await run('client_header_timeout = "1s"')
    const port = Number(new URL(portico.url).port)
    try {
      const closed = (bytes: string) => rawExchange(port, bytes)
      const dripped = await closed('POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
      assert.match(dripped, /^HTTP\/1\.1 408|^$/, `a slow header is cut off: ${dripped}`)
      await closed('')
      assert.equal((await fetch(`${new URL(portico.url).origin}/healthz`)).status, 200)
    } finally {
      await portico.stop()
    }
  })

  it('answers what the HTTP parser refuses with a JSON-RPC body; max_header_size raises the bound', async () => {
    const big = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'j'.repeat(20_000)}\r\n\r\n`
    const strict = await run('')
    const roomy = await run('max_header_size = 65536')
    try {
      const port = (url: string) => Number(new URL(url).port)
      const refused = await rawExchange(port(strict.url), big)
      assert.match(refused, /^HTTP\/1\.1 431 /)
      const body = JSON.parse(refused.slice(refused.indexOf('\r\n\r\n') + 4)) as {
        error?: { code?: number; message?: string }
      }
      assert.equal(body.error?.code, -32600)
      assert.match(body.error?.message ?? '', /max_header_size/)
      const malformed = await rawExchange(port(strict.url), 'HELLO\r\n\r\n')
      assert.match(malformed, /^HTTP\/1\.1 400 [\s\S]*"code":-32600/)
      const served = await rawExchange(
        port(roomy.url),
        big.replace('HTTP/1.1\r\n', 'HTTP/1.1\r\nConnection: close\r\n'),
      )
      assert.match(served, /^HTTP\/1\.1 200 /)
      assert.equal((await fetch(`${new URL(strict.url).origin}/healthz`)).status, 200)
      // Never a call, so never recorded: the warning is the operator's trace of each.
      await until(
        () =>
          /refused a request the HTTP parser could not read: 400 Bad Request/.test(
            strict.stderr(),
          ) || undefined,
        5000,
        'the warning',
      )
      assert.match(strict.stderr(), /refused a request the HTTP parser could not read: 431 /)
    } finally {
      await strict.stop()
      await roomy.stop()
    }
  })
})
