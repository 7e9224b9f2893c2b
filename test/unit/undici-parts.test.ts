/**
 * util/undici: the Pool and errors Portico requires from undici's own files must be the very
 * objects undici's index exports (an upgrade that moves them fails here), a proxy must not load
 * the index (the point: 3 MB of heap for fetch, WebSocket and the rest, never used), and `post`
 * must report the status of a real answer, and fail on a real endpoint that never answers.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { createServer, type Server, type ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { errors, Pool, post } from '../../src/util/undici.ts'
import { settlesWithin } from '../helpers/wait.ts'

const require = createRequire(import.meta.url)

describe('util/undici', () => {
  it("is undici's own Pool and errors", () => {
    const undici = require('undici') as typeof import('undici')
    assert.equal(Pool, undici.Pool)
    assert.equal(errors, undici.errors)
    assert.equal(typeof errors.HeadersTimeoutError, 'function')
  })

  it("keeps undici's index out of a process that sends upstream requests and batches", () => {
    const modules = ['upstream/http-client.js', 'observe/batch-post.js'].map(
      (path) => new URL(`../../src/${path}`, import.meta.url).href,
    )
    const script = `
      import { createRequire } from 'node:module'
      ${modules.map((url) => `await import(${JSON.stringify(url)})`).join('\n')}
      const loaded = Object.keys(createRequire(import.meta.url).cache)
      console.log(JSON.stringify(loaded.filter((path) => path.includes('/undici/'))))
    `
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      encoding: 'utf8',
    })
    assert.equal(run.status, 0, run.stderr)
    const loaded = JSON.parse(run.stdout) as string[]
    assert.ok(
      loaded.some((path) => path.endsWith('/undici/lib/dispatcher/pool.js')),
      'the Pool is loaded',
    )
    const index = loaded.filter((path) => /\/undici\/index(-fetch)?\.js$/.test(path))
    assert.deepEqual(index, [], 'no undici index loaded')
    assert.ok(!loaded.some((path) => path.includes('/undici/lib/web/')), 'no fetch/WebSocket code')
  })

  describe('post', () => {
    let server: Server
    let origin = ''
    const seen: Array<{ path: string; type: string; body: string }> = []

    before(async () => {
      server = createServer((req, res) => {
        const chunks: Buffer[] = []
        req.on('data', (chunk: Buffer) => chunks.push(chunk))
        req.on('end', () => {
          seen.push({
            path: req.url ?? '',
            type: req.headers['content-type'] ?? '',
            body: Buffer.concat(chunks).toString('utf8'),
          })
          if (req.url === '/silent') return // never answers
          if (req.url === '/endless') return endless(res)
          res.writeHead(req.url === '/busy' ? 503 : 202).end('a body nobody reads')
        })
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    after(async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    })

    it('sends the body and headers and resolves with the status, whatever it is', async () => {
      const pool = new Pool(origin)
      try {
        const options = { headers: { 'content-type': 'application/x-protobuf' }, timeoutMs: 5000 }
        const taken = await post(pool, {
          ...options,
          path: '/v1/traces?x=1',
          body: Buffer.from('a'),
        })
        const refused = await post(pool, { ...options, path: '/busy', body: Buffer.from('b') })
        assert.equal(taken.status, 202)
        assert.equal(refused.status, 503)
        assert.deepEqual(seen.slice(-2), [
          { path: '/v1/traces?x=1', type: 'application/x-protobuf', body: 'a' },
          { path: '/busy', type: 'application/x-protobuf', body: 'b' },
        ])
      } finally {
        await pool.destroy()
      }
    })

    it('takes the status and hangs up on an answer that never ends (no CPU spent reading it)', async () => {
      const pool = new Pool(origin)
      try {
        const hungUp = once(hangUps, 'closed')
        const posted = post(pool, {
          path: '/endless',
          headers: {},
          body: Buffer.from('e'),
          timeoutMs: 60_000,
        })
        // It read the endless body up to its own 60 s deadline, at full speed, then retried.
        assert.equal((await settlesWithin(posted, 10_000, 'the POST')).status, 200)
        await settlesWithin(hungUp, 10_000, 'the connection to close')
      } finally {
        await pool.destroy()
      }
    })

    it('fails with a timeout when the endpoint never answers', async () => {
      const pool = new Pool(origin)
      try {
        await assert.rejects(
          post(pool, { path: '/silent', headers: {}, body: Buffer.from('c'), timeoutMs: 200 }),
          // undici's wait for the head, or the whole exchange's deadline: both are 200 ms.
          (error: unknown) =>
            error instanceof errors.HeadersTimeoutError ||
            /no complete answer within 200 ms/.test(String(error)),
        )
      } finally {
        await pool.destroy()
      }
    })
  })
})

/** Told when a client hung up on an endless answer. */
const hangUps = new EventEmitter()

/** Answers 200 with a body that never ends (64 KB chunks) until the client hangs up. */
function endless(res: ServerResponse): void {
  const chunk = Buffer.alloc(64 * 1024, 0x78)
  res.writeHead(200, { 'content-type': 'application/octet-stream' })
  const more = (): void => {
    while (!res.destroyed && res.write(chunk)) {}
    if (!res.destroyed) res.once('drain', more)
  }
  res.once('close', () => hangUps.emit('closed'))
  more()
}
