/**
 * An embedding application's mistakes and Portico's lifecycle, with real sockets and a real SDK
 * upstream: a Portico listens once and closes once (a second listen() or one after close() is
 * refused, a second close() waits for the first); a middleware returning something that is not
 * a Reply, or a map that throws on a streamed answer, fails its call with its id (logged as
 * Portico's failure, not the upstream's); bad options and a bad config object are named. And
 * what a client sees at the HTTP edge: a request pipelined before bytes the parser refuses is
 * answered first, such refusals are logged 20 a second at most, and `/readyz` gives its details
 * to a local client asking by one of the listener's names only.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { ConfigError, createPortico, Logger, type Middleware, mapAnswer } from 'portico'
import { type StoreUpstream, startStoreUpstream } from '../fixtures/store-upstream.ts'
import { initializeBody, MCP_ACCEPT, openSession } from '../helpers/mcp-http.ts'
import { captureSink } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

let upstream: StoreUpstream
before(async () => {
  upstream = await startStoreUpstream()
})
after(async () => {
  await upstream?.close()
})

/** A Portico in front of the SDK upstream (answers in SSE), its log lines kept. */
function porticoWith(options: { middleware?: Middleware[] } = {}) {
  const lines: string[] = []
  const portico = createPortico(
    { upstream: upstream.url, port: 0, access_log: false, drain_timeout: 1 },
    {
      ...options,
      logger: new Logger({ level: 'warn', write: (line) => lines.push(line) }),
      sinks: [captureSink()],
    },
  )
  return { portico, lines }
}

async function callFast(url: string, id: number): Promise<{ status: number; text: string }> {
  const session = await openSession(url)
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'fast', arguments: {} },
    }),
    signal: AbortSignal.timeout(5000),
  })
  return { status: response.status, text: await response.text() }
}

describe('a Portico listens once and closes once', () => {
  it('refuses a second listen(), and close() then closes the one listener', async () => {
    const { portico } = porticoWith()
    const { url } = await portico.listen()
    await assert.rejects(portico.listen(), /listen\(\) was called already/)
    await portico.close()
    // Before, the second listener replaced the first in close()'s eyes: the first stayed open.
    await assert.rejects(fetch(url, { signal: AbortSignal.timeout(2000) }))
  })

  it('refuses listen() after close()', async () => {
    const { portico } = porticoWith()
    await portico.listen()
    await portico.close()
    await assert.rejects(portico.listen(), /listen\(\) after close\(\)/)
  })

  it('lets a second close() resolve only once the first is done', async () => {
    const { portico } = porticoWith()
    await portico.listen()
    let firstDone = false
    const first = portico.close().then(() => {
      firstDone = true
    })
    await portico.close()
    assert.ok(firstDone, 'the second close() resolved while the first still ran')
    await first
  })

  it('lets listen() be tried again on another port after a port in use', async () => {
    const holder = porticoWith()
    const { port } = await holder.portico.listen()
    const { portico } = porticoWith()
    try {
      await assert.rejects(portico.listen({ port }), /EADDRINUSE/)
      const { url } = await portico.listen({ port: 0 })
      assert.equal((await fetch(url.replace(/\/mcp$/, '/healthz'))).status, 200)
    } finally {
      await portico.close()
      await holder.portico.close()
    }
  })
})

describe("an embedding application's mistakes", () => {
  it('answers a call whose middleware returned no Reply with its id, and logs why', async () => {
    for (const returned of [{ foo: 1 }, undefined]) {
      const bad: Middleware = async (call, next) =>
        call.method === 'tools/call' ? (returned as never) : next(call)
      const { portico, lines } = porticoWith({ middleware: [bad] })
      const { url } = await portico.listen()
      try {
        // Before: an object left the client waiting for ever; undefined lost the id.
        const answer = await callFast(url, 7)
        const message = JSON.parse(answer.text.replace(/^[\s\S]*?data: /, '')) as {
          id: number
          error: { code: number }
        }
        assert.equal(message.id, 7, answer.text)
        assert.equal(message.error.code, -32603, answer.text)
        assert.ok(
          lines.some((line) => /middleware\[0\] returned .*not a Reply/.test(line)),
          lines.join('\n'),
        )
      } finally {
        await portico.close()
      }
    }
  })

  it("records and logs a map that throws on a streamed answer as Portico's failure", async () => {
    const throwing: Middleware = async (call, next) =>
      mapAnswer(call, await next(call), (response) => {
        if (call.method === 'tools/call') throw new Error('map boom')
        return response
      })
    const { portico, lines } = porticoWith({ middleware: [throwing] })
    const { url } = await portico.listen()
    try {
      const answer = await callFast(url, 8)
      assert.match(answer.text, /"id":8/)
      // Before: "Upstream ended its answer without a response", and nothing logged.
      assert.match(answer.text, /Internal error/)
      assert.doesNotMatch(answer.text, /Upstream/)
      await until(() => lines.some((line) => /call failed.*map boom/.test(line)), 2000, 'the log')
    } finally {
      await portico.close()
    }
  })

  it('names a bad option and a bad config key instead of failing later', () => {
    assert.throws(
      () => createPortico({ upstream: upstream.url }, { middleware: 5 as never }),
      /options\.middleware must be an array of functions/,
    )
    assert.throws(
      () => createPortico({ upstream: upstream.url }, { sinks: [5 as never] }),
      /options\.sinks\[0\] must be an object with write/,
    )
    assert.throws(
      () => createPortico({ upstream: upstream.url, port: 70_000 }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.some((problem) => problem.path === 'port') &&
        /^config: port: /.test(error.message),
    )
  })
})

describe('the HTTP edge', () => {
  it('answers a request pipelined before bytes the parser refuses, then refuses them', async () => {
    const { portico } = porticoWith()
    const { port } = await portico.listen()
    try {
      const post = (id: number) => {
        const body = initializeBody({ id })
        return `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`
      }
      const socket = connect(port, '127.0.0.1')
      // Three requests, then bytes the parser refuses: each is answered, in order.
      socket.write(`${post(1)}${post(2)}${post(3)}THIS IS NOT HTTP\r\n\r\n`)
      let received = ''
      socket.on('data', (chunk) => {
        received += chunk
      })
      await new Promise((resolve) => socket.once('close', resolve))
      // Before: the 400 came first, in the ping's place, and the ping's answer was lost.
      const first = received.indexOf('HTTP/1.1 ')
      assert.notEqual(first, -1, received)
      assert.ok(!received.startsWith('HTTP/1.1 400'), received)
      // Before: the 400 went out after the first answer, and the other two were lost.
      assert.match(received, /"id":1[\s\S]*"id":2[\s\S]*"id":3[\s\S]*HTTP\/1\.1 400/)
      assert.match(received, /HTTP\/1\.1 400 Bad Request[\s\S]*not valid HTTP/)
    } finally {
      await portico.close()
    }
  })

  it('answers 408 to a request whose body stalls past client_request_timeout, and closes', async () => {
    const portico = createPortico(
      {
        upstream: upstream.url,
        port: 0,
        access_log: false,
        client_header_timeout: 1,
        client_request_timeout: 1,
      },
      { logger: new Logger({ level: 'silent' }) },
    )
    const { port } = await portico.listen()
    try {
      const socket = connect(port, '127.0.0.1')
      socket.write(
        'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
      )
      let received = ''
      socket.on('data', (chunk) => {
        received += chunk
      })
      // Before: the answer waited for the stalled request's own, which never came (the test's
      // own timeout ended it).
      await new Promise((resolve) => socket.once('close', resolve))
      assert.match(received, /^HTTP\/1\.1 408 Request Timeout/)
    } finally {
      await portico.close()
    }
  })

  it('logs requests the parser refused 20 a second at most, and counts the rest', async () => {
    const { portico, lines } = porticoWith()
    const { port } = await portico.listen()
    try {
      await Promise.all(
        Array.from(
          { length: 100 },
          () =>
            new Promise<void>((resolve) => {
              const socket = connect(port, '127.0.0.1', () => socket.write('NOT HTTP\r\n\r\n'))
              socket.on('data', () => {})
              socket.once('close', () => resolve())
              socket.once('error', () => resolve())
            }),
        ),
      )
      const refused = lines.filter((line) => /HTTP parser could not read/.test(line))
      // Before: one line each (100).
      assert.ok(refused.length <= 41, `${refused.length} lines`)
      assert.ok(refused.length >= 1)
    } finally {
      await portico.close()
    }
  })

  it('shows /readyz details to a local client only when it asks by a listener name', async () => {
    const { portico } = porticoWith()
    const { port } = await portico.listen()
    try {
      const readyz = async (host: string) => {
        const socket = connect(port, '127.0.0.1')
        socket.write(`GET /readyz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
        let text = ''
        socket.on('data', (chunk) => {
          text += chunk
        })
        await new Promise((resolve) => socket.once('close', resolve))
        return text
      }
      assert.match(await readyz(`127.0.0.1:${port}`), /"upstream"/)
      // A DNS-rebinding page's request: answered (a probe), without the local details.
      const foreign = await readyz('attacker.example')
      assert.match(foreign, /^HTTP\/1\.1 200/)
      assert.doesNotMatch(foreign, /"upstream"/)
    } finally {
      await portico.close()
    }
  })
})
