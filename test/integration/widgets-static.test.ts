/**
 * `widgets = "<folder>"`: built widget files served by Portico with content types, validators
 * and caching headers; paths escaping the folder refused; anything else forwarded upstream.
 */
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type RunningApp, startCspApp } from '../fixtures/csp-app.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

/** A raw GET that keeps the path exactly as written (fetch would normalize `..`). */
function rawGet(origin: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(origin)
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: 'GET' }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.setTimeout(5000, () => req.destroy(new Error(`no answer to GET ${path} within 5000 ms`)))
    req.on('error', reject)
    req.end()
  })
}

describe('static widget folder', () => {
  const base = mkdtempSync(join(tmpdir(), 'portico-widgets-'))
  const folder = join(base, 'dist')
  let app: RunningApp
  let portico: RunningPortico

  before(async () => {
    mkdirSync(join(folder, 'assets'), { recursive: true })
    mkdirSync(join(folder, 'pay'))
    writeFileSync(join(folder, 'index.html'), '<!doctype html><p>home</p>')
    writeFileSync(join(folder, 'pay', 'index.html'), '<!doctype html><p>pay</p>')
    writeFileSync(join(folder, 'assets', 'app-B1x9.js'), 'console.log(1)')
    writeFileSync(join(folder, 'assets', 'style.css'), 'p{color:red}')
    writeFileSync(join(folder, 'assets', 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
    writeFileSync(join(folder, 'assets', 'font.woff2'), Buffer.from([0x77, 0x4f, 0x46, 0x32]))
    writeFileSync(join(base, 'secret.txt'), 'secret')
    symlinkSync(join(base, 'secret.txt'), join(folder, 'leak.txt'))
    app = await startCspApp({ json: true })
    portico = await startPortico({ upstream: app.url, widgets: folder })
  })
  after(async () => {
    await portico?.close()
    await app?.close()
    rmSync(base, { recursive: true, force: true })
  })

  /** Request path, the file it must serve (relative to the folder), type and caching. */
  const types: Array<[string, string, string, string]> = [
    ['/', 'index.html', 'text/html; charset=utf-8', 'no-cache'],
    ['/pay/', 'pay/index.html', 'text/html; charset=utf-8', 'no-cache'],
    [
      '/assets/app-B1x9.js',
      'assets/app-B1x9.js',
      'text/javascript; charset=utf-8',
      'public, max-age=3600',
    ],
    [
      '/assets/style.css?v=2',
      'assets/style.css',
      'text/css; charset=utf-8',
      'public, max-age=3600',
    ],
    ['/assets/logo.svg', 'assets/logo.svg', 'image/svg+xml', 'public, max-age=3600'],
    ['/assets/font.woff2', 'assets/font.woff2', 'font/woff2', 'public, max-age=3600'],
  ]
  for (const [path, file, type, cache] of types) {
    it(`GET ${path} → ${type}`, async () => {
      const response = await fetch(`${portico.origin}${path}`)
      assert.equal(response.status, 200)
      assert.equal(response.headers.get('content-type'), type)
      assert.equal(response.headers.get('cache-control'), cache)
      assert.equal(response.headers.get('access-control-allow-origin'), '*')
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff')
      assert.ok(response.headers.get('etag'))
      const body = Buffer.from(await response.arrayBuffer())
      assert.equal(Number(response.headers.get('content-length')), body.length)
      assert.deepEqual(body, readFileSync(join(folder, file)), 'the file, byte for byte')
    })
  }

  it('serves index.html of a folder and answers HEAD without a body', async () => {
    assert.equal(await (await fetch(`${portico.origin}/pay/`)).text(), '<!doctype html><p>pay</p>')
    const head = await fetch(`${portico.origin}/assets/app-B1x9.js`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.headers.get('content-length'), '14')
    assert.equal(await head.text(), '')
  })

  it('answers 304 to a matching If-None-Match or If-Modified-Since', async () => {
    const first = await fetch(`${portico.origin}/assets/style.css`)
    await first.arrayBuffer()
    const etag = first.headers.get('etag') ?? ''
    const byTag = await fetch(`${portico.origin}/assets/style.css`, {
      headers: { 'if-none-match': etag },
    })
    assert.equal(byTag.status, 304)
    assert.equal(await byTag.text(), '')
    const byDate = await fetch(`${portico.origin}/assets/style.css`, {
      headers: { 'if-modified-since': first.headers.get('last-modified') ?? '' },
    })
    assert.equal(byDate.status, 304)
    assert.equal(await byDate.text(), '')
    const changed = await fetch(`${portico.origin}/assets/style.css`, {
      headers: { 'if-none-match': '"another"' },
    })
    assert.equal(changed.status, 200)
    assert.equal(await changed.text(), 'p{color:red}')
  })

  // Dot segments never reach the folder: the router refuses them (400) for every path. What
  // is a dot segment only once decoded, a NUL, a link out or a bad escape: the folder (403).
  const escapes: Array<[string, number]> = [
    ['/../secret.txt', 400],
    ['/assets/../../secret.txt', 400],
    ['/assets/%2e%2e/%2e%2e/secret.txt', 400],
    ['/%2e%2e%2fsecret.txt', 403],
    ['/..%5csecret.txt', 403],
    ['/assets/%00.js', 403],
    ['/leak.txt', 403],
    ['/%E0%A4%A', 403],
  ]
  for (const [path, expected] of escapes) {
    it(`refuses ${path} with ${expected} and never reads outside the folder`, async () => {
      const { status, body } = await rawGet(portico.origin, path)
      assert.equal(status, expected)
      assert.doesNotMatch(body, /secret|leak/)
      if (expected === 403) assert.equal(body, 'Forbidden\n')
    })
  }

  it('forwards a missing file and non-GET requests to the upstream origin', async () => {
    const missing = await fetch(`${portico.origin}/missing.js`)
    assert.equal(missing.status, 404)
    assert.equal(await missing.text(), 'app origin: /missing.js')
    const post = await fetch(`${portico.origin}/assets/app-B1x9.js`, { method: 'POST', body: 'x' })
    assert.equal(await post.text(), 'app origin: /assets/app-B1x9.js')
  })

  it('records each served file as an exchange', async () => {
    await (await fetch(`${portico.origin}/assets/logo.svg`)).arrayBuffer()
    await portico.sink.waitFor((events) =>
      events.some(
        (e) => e.type === 'exchange' && e.path === '/assets/logo.svg' && e.httpStatus === 200,
      ),
    )
  })
})
