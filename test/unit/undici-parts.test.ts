/**
 * util/undici: the Pool and errors Portico requires from undici's own files must be the very
 * objects undici's index exports (an upgrade that moves them fails here), a proxy must not load
 * the index (the point: 3 MB of heap for fetch, WebSocket and the rest, never used), and `post`
 * must report the status of a real answer, and fail on a real endpoint that never answers.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { errors, Pool, post } from '../../src/util/undici.ts'

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
