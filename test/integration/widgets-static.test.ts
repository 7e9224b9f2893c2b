/**
 * `widgets = "<folder>"`: built widget files served by Portico with content types, validators
 * and caching headers; paths escaping the folder refused; anything else forwarded upstream.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { type RunningApp, startCspApp } from '../fixtures/csp-app.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { settlesWithin } from '../helpers/wait.ts'

interface ServedFolder {
  base: string
  /** `base/dist`, Portico's `widgets`. */
  folder: string
  portico: RunningPortico
}

/** A Portico serving a folder `prepare` fills, before the suite's tests (removed after). */
function servedFolder(
  prefix: string,
  prepare: (base: string, folder: string) => void,
): ServedFolder {
  const base = mkdtempSync(join(tmpdir(), prefix))
  const served = { base, folder: join(base, 'dist') } as ServedFolder
  let app: RunningApp | undefined
  before(async () => {
    prepare(base, served.folder)
    app = await startCspApp({ json: true })
    served.portico = await startPortico({ upstream: app.url, widgets: served.folder })
  })
  after(async () => {
    await served.portico?.close()
    await app?.close()
    rmSync(base, { recursive: true, force: true })
  })
  return served
}

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
  const served = servedFolder('portico-widgets-', (base, folder) => {
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
      const response = await fetch(`${served.portico.origin}${path}`)
      assert.equal(response.status, 200)
      assert.equal(response.headers.get('content-type'), type)
      assert.equal(response.headers.get('cache-control'), cache)
      assert.equal(response.headers.get('access-control-allow-origin'), '*')
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff')
      assert.ok(response.headers.get('etag'))
      const body = Buffer.from(await response.arrayBuffer())
      assert.equal(Number(response.headers.get('content-length')), body.length)
      assert.deepEqual(body, readFileSync(join(served.folder, file)), 'the file, byte for byte')
    })
  }

  it('serves index.html of a folder and answers HEAD without a body', async () => {
    assert.equal(
      await (await fetch(`${served.portico.origin}/pay/`)).text(),
      '<!doctype html><p>pay</p>',
    )
    const head = await fetch(`${served.portico.origin}/assets/app-B1x9.js`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.headers.get('content-length'), '14')
    assert.equal(await head.text(), '')
  })

  it('answers 304 to a matching If-None-Match or If-Modified-Since', async () => {
    const first = await fetch(`${served.portico.origin}/assets/style.css`)
    await first.arrayBuffer()
    const etag = first.headers.get('etag') ?? ''
    const byTag = await fetch(`${served.portico.origin}/assets/style.css`, {
      headers: { 'if-none-match': etag },
    })
    assert.equal(byTag.status, 304)
    assert.equal(await byTag.text(), '')
    const byDate = await fetch(`${served.portico.origin}/assets/style.css`, {
      headers: { 'if-modified-since': first.headers.get('last-modified') ?? '' },
    })
    assert.equal(byDate.status, 304)
    assert.equal(await byDate.text(), '')
    const changed = await fetch(`${served.portico.origin}/assets/style.css`, {
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
      const { status, body } = await rawGet(served.portico.origin, path)
      assert.equal(status, expected)
      assert.doesNotMatch(body, /secret|leak/)
      if (expected === 403) assert.equal(body, 'Forbidden\n')
    })
  }

  it('forwards a missing file and non-GET requests to the upstream origin', async () => {
    const missing = await fetch(`${served.portico.origin}/missing.js`)
    assert.equal(missing.status, 404)
    assert.equal(await missing.text(), 'app origin: /missing.js')
    const post = await fetch(`${served.portico.origin}/assets/app-B1x9.js`, {
      method: 'POST',
      body: 'x',
    })
    assert.equal(await post.text(), 'app origin: /assets/app-B1x9.js')
  })

  it('records each served file as an exchange', async () => {
    await (await fetch(`${served.portico.origin}/assets/logo.svg`)).arrayBuffer()
    await served.portico.sink.waitFor((events) =>
      events.some(
        (e) => e.type === 'exchange' && e.path === '/assets/logo.svg' && e.httpStatus === 200,
      ),
    )
  })
})

/**
 * Files that change while Portico serves them (from the tunnel and widgets fuzzer; each failed
 * on the build before): a deploy that points a symlinked folder at a new release, and a file
 * that grows or shrinks while it is sent, whose answer must be exactly the bytes its
 * Content-Length announced (or the connection closed), never spilling into the next answer on
 * the connection nor leaving the client waiting.
 */
describe('a widget folder changed while Portico serves it', () => {
  /** Larger than what loopback sockets buffer: the sending is still going on when it changes. */
  const BIG = 32 * 1024 * 1024
  const served = servedFolder('portico-widgets-live-', (base, folder) => {
    for (const release of ['v1', 'v2']) {
      mkdirSync(join(base, 'releases', release), { recursive: true })
      writeFileSync(join(base, 'releases', release, 'index.html'), `<p>${release}</p>`)
    }
    symlinkSync(join(base, 'releases', 'v1'), folder)
  })
  const { base, folder } = served

  it('serves the new release once the folder link points at it', async () => {
    assert.equal((await rawGet(served.portico.origin, '/index.html')).body, '<p>v1</p>')
    // The deploy: a new link renamed over the old one, in one step.
    symlinkSync(join(base, 'releases', 'v2'), join(base, 'dist-next'))
    renameSync(join(base, 'dist-next'), folder)
    const { status, body } = await rawGet(served.portico.origin, '/index.html')
    assert.equal(status, 200)
    assert.equal(body, '<p>v2</p>')
  })

  it('never answers 403 to a request that overlaps a switch of the link', async () => {
    // Switched every few ms while requests run: each is served from one release or the other
    // (looked up under the link, about half were refused as outside the folder).
    let switching = true
    const switcher = (async () => {
      for (let i = 0; switching; i++) {
        symlinkSync(join(base, 'releases', i % 2 === 0 ? 'v1' : 'v2'), join(base, 'dist-next'))
        renameSync(join(base, 'dist-next'), folder)
        await delay(2)
      }
    })()
    const statuses = new Set<number>()
    try {
      for (let round = 0; round < 20; round++) {
        const answers = await Promise.all(
          Array.from({ length: 10 }, () => rawGet(served.portico.origin, '/index.html')),
        )
        for (const { status, body } of answers) {
          statuses.add(status)
          if (status === 200) assert.match(body, /^<p>v[12]<\/p>$/)
        }
      }
    } finally {
      switching = false
      await switcher
    }
    assert.deepEqual([...statuses], [200])
  })

  it('sends no byte past Content-Length when the file grows meanwhile', async () => {
    writeFileSync(join(folder, 'grows.bin'), Buffer.alloc(BIG, 0x61))
    const socket = await rawSocket(served.portico.origin)
    try {
      socket.get('/grows.bin')
      const head = await socket.readHead()
      assert.match(head, /^HTTP\/1\.1 200/)
      appendFileSync(join(folder, 'grows.bin'), 'EXTRA BYTES')
      const body = await socket.readBytes(Number(/content-length: (\d+)/i.exec(head)?.[1]))
      assert.equal(body.length, BIG)
      socket.get('/index.html')
      const next = await socket.readHead()
      assert.match(next, /^HTTP\/1\.1 200/, `the next answer began ${JSON.stringify(next)}`)
    } finally {
      socket.destroy()
    }
  })

  it('closes the connection when the file shrinks meanwhile, instead of leaving it waiting', async () => {
    writeFileSync(join(folder, 'shrinks.bin'), Buffer.alloc(BIG, 0x62))
    const socket = await rawSocket(served.portico.origin)
    try {
      socket.get('/shrinks.bin')
      assert.match(await socket.readHead(), /^HTTP\/1\.1 200/)
      truncateSync(join(folder, 'shrinks.bin'), 1024 * 1024)
      const received = await settlesWithin(socket.closed(), 10_000, 'the connection to close')
      assert.ok(received < BIG, `${received} bytes of ${BIG}`)
    } finally {
      socket.destroy()
    }
  })
})

interface RawSocket {
  /** Sends a GET of `path` on the connection. */
  get(path: string): void
  /** The next answer's head (through its blank line); what follows stays for later reads. */
  readHead(): Promise<string>
  readBytes(count: number): Promise<Buffer>
  /** Resolves with the body bytes received in all once the server closes the connection. */
  closed(): Promise<number>
  destroy(): void
}

/** A keep-alive connection read by hand: answers are read as the bytes come, none parsed. */
async function rawSocket(origin: string): Promise<RawSocket> {
  const { hostname, port } = new URL(origin)
  const socket = connect(Number(port), hostname)
  await once(socket, 'connect')
  let held = Buffer.alloc(0)
  let total = 0
  let ended = false
  let wake: (() => void) | undefined
  // Read only when asked (paused after each chunk): a file is changed while the server is
  // still held back by the client, as a slow reader holds it.
  socket.on('data', (chunk: Buffer) => {
    socket.pause()
    held = Buffer.concat([held, chunk])
    total += chunk.length
    wake?.()
  })
  socket.on('close', () => {
    ended = true
    wake?.()
  })
  socket.on('error', () => {})
  const until = async <T>(take: () => T | undefined, what: string): Promise<T> => {
    for (;;) {
      const taken = take()
      if (taken !== undefined) return taken
      if (ended) throw new Error(`the connection closed before ${what}`)
      const more = new Promise<void>((resolve) => {
        wake = resolve
      })
      socket.resume()
      await settlesWithin(more, 10_000, what)
    }
  }
  return {
    get: (path) => socket.write(`GET ${path} HTTP/1.1\r\nhost: ${new URL(origin).host}\r\n\r\n`),
    readHead: () =>
      until(() => {
        const end = held.indexOf('\r\n\r\n')
        if (end < 0) return undefined
        const head = held.subarray(0, end).toString('latin1')
        held = held.subarray(end + 4)
        return head
      }, 'an answer head'),
    readBytes: (count) =>
      until(() => {
        if (held.length < count) return undefined
        const bytes = held.subarray(0, count)
        held = held.subarray(count)
        return bytes
      }, `${count} body bytes`),
    closed: async () => {
      // Read on (discarding), so the server is never held back by an unread socket.
      while (!ended) {
        held = Buffer.alloc(0)
        const more = new Promise<void>((resolve) => {
          wake = resolve
        })
        socket.resume()
        await more
      }
      return total
    },
    destroy: () => socket.destroy(),
  }
}
