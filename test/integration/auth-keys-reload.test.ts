/**
 * API keys rotated by a hot reload: a key removed from the file is refused from the next request
 * on, a key added is served, the others go on, without a restart (before, any change to
 * `[auth]` refused the whole reload, so a leaked key stayed good until Portico restarted). Any
 * other change to `[auth]` still refuses the reload whole, and the keys then in force stay.
 * A real Portico in process, its config file edited on disk, reloaded as SIGHUP does.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { loadConfig } from '../../src/config/load.ts'
import { createPortico, type Portico } from '../../src/index.ts'
import { Logger } from '../../src/observe/logger.ts'
import { type CancelUpstream, startCancelUpstream } from '../fixtures/cancel-upstream.ts'
import { type FaultyHttp, startFaultyHttp } from '../fixtures/faulty-http.ts'
import { type ModernServer, startModernServer } from '../fixtures/modern-server.ts'
import { openListenStream } from '../helpers/listen.ts'
import {
  initializeBody,
  MCP_ACCEPT,
  sessionHeaders,
  sessionStream,
  streamEnded,
} from '../helpers/mcp-http.ts'
import { type Spawned, startEverything } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { settlesWithin, until } from '../helpers/wait.ts'

const ALICE = 'alice-key-0123456789abcdef'
const BOB = 'bob-key-0123456789abcdef00'
const CAROL = 'carol-key-0123456789abcdef'

function configText(upstream: string, keys: Array<[string, string]>, extra = ''): string {
  const entries = keys.map(([name, key]) => `  { name = "${name}", key = "${key}" },`).join('\n')
  return `upstream = "${upstream}"\nport = 0\naccess_log = false\n[store]\nenabled = false\n[auth]\napi_keys = [\n${entries}\n]\n${extra}`
}

describe('API keys rotated by a hot reload', () => {
  const dir = scratchDir('portico-keys-reload-')
  const file = join(dir, 'portico.toml')
  const lines: string[] = []
  let upstream: FaultyHttp
  let portico: Portico
  let url: string

  before(async () => {
    upstream = await startFaultyHttp('keys')
    writeFileSync(
      file,
      configText(upstream.url, [
        ['alice', ALICE],
        ['bob', BOB],
      ]),
    )
    const load = () => loadConfig({ file, again: true }).config
    const loaded = load()
    portico = createPortico(loaded, {
      logger: new Logger({ level: 'info', write: (line) => lines.push(line) }),
      reload: { file, loaded, load },
    })
    url = (await portico.listen({ port: 0 })).url
  })
  after(async () => {
    await portico?.close()
    await upstream?.close()
  })

  /** The HTTP status of a `tools/list` with `key`. */
  async function statusWith(key: string): Promise<number> {
    const response = await fetch(url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, authorization: `Bearer ${key}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    })
    await response.arrayBuffer()
    return response.status
  }

  it('a removed key is refused at once, an added one served, the others go on', async () => {
    assert.deepEqual([await statusWith(ALICE), await statusWith(BOB)], [200, 200])
    assert.equal(await statusWith(CAROL), 401)
    writeFileSync(
      file,
      configText(upstream.url, [
        ['alice', ALICE],
        ['carol', CAROL],
      ]),
    )
    assert.equal(await portico.reloadConfig(), 'applied')
    assert.deepEqual(
      [await statusWith(ALICE), await statusWith(BOB), await statusWith(CAROL)],
      [200, 401, 200],
    )
    const reloaded = lines.find((line) => /config reloaded/.test(line)) ?? ''
    assert.match(reloaded, /auth\.api_keys/)
    assert.ok(!lines.join('\n').includes(CAROL), 'no key is ever logged')
  })

  it('any other change to [auth] refuses the reload whole; the keys in force stay', async () => {
    writeFileSync(
      file,
      configText(upstream.url, [['bob', BOB]], '[auth.identity]\nheader = "x-caller"\n'),
    )
    assert.equal(await portico.reloadConfig(), 'rejected')
    assert.match(lines.join('\n'), /\[auth\] or \[security\] changed; restart Portico to apply/)
    assert.deepEqual(
      [await statusWith(ALICE), await statusWith(BOB), await statusWith(CAROL)],
      [200, 401, 200],
    )
  })
})

describe('the admin token rotated by a hot reload', () => {
  const OLD = 'old-admin-token-0123456789'
  const NEW = 'new-admin-token-9876543210'
  const dir = scratchDir('portico-admin-token-reload-')
  const file = join(dir, 'portico.toml')
  const lines: string[] = []
  let upstream: FaultyHttp
  let portico: Portico
  let base: string
  const text = (security: string) =>
    `${configText(upstream.url, [['alice', ALICE]])}[security]\n${security}\n[admin]\nenabled = true\n[observability.metrics]\nenabled = true\n`

  before(async () => {
    upstream = await startFaultyHttp('admin-token')
    writeFileSync(file, text(`admin_token = "${OLD}"`))
    const load = () => loadConfig({ file, again: true }).config
    const loaded = load()
    portico = createPortico(loaded, {
      logger: new Logger({ level: 'info', write: (line) => lines.push(line) }),
      reload: { file, loaded, load },
    })
    base = new URL((await portico.listen({ port: 0 })).url).origin
  })
  after(async () => {
    await portico?.close()
    await upstream?.close()
  })

  /** The statuses of the admin API and /metrics with `token`. */
  async function statusesWith(token: string): Promise<number[]> {
    const statuses: number[] = []
    for (const path of ['/admin/health', '/metrics']) {
      const response = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } })
      await response.arrayBuffer()
      statuses.push(response.status)
    }
    return statuses
  }

  it('the admin API and /metrics refuse the old token at once and take the new one', async () => {
    assert.deepEqual(await statusesWith(OLD), [200, 200])
    assert.deepEqual(await statusesWith(NEW), [401, 401])
    writeFileSync(file, text(`admin_token = "${NEW}"`))
    assert.equal(await portico.reloadConfig(), 'applied')
    assert.deepEqual(await statusesWith(OLD), [401, 401])
    assert.deepEqual(await statusesWith(NEW), [200, 200])
    assert.match(lines.join('\n'), /config reloaded.*security\.admin_token/)
    assert.ok(!lines.join('\n').includes(NEW), 'no token is ever logged')
  })

  it('removing the admin token is refused whole: the admin routes stay guarded by the one in force', async () => {
    writeFileSync(file, text(''))
    assert.equal(await portico.reloadConfig(), 'rejected')
    assert.deepEqual(await statusesWith(NEW), [200, 200])
    assert.deepEqual(await statusesWith('anything-else-0123456789'), [401, 401])
  })
})

type ModeText = (upstream: string, keys: Array<[string, string]>) => string

/** Transparent mode's config with these keys, or gateway mode's with the upstream a backend. */
const MODES: Record<string, ModeText> = {
  transparent: (upstream, keys) => configText(upstream, keys),
  gateway: (upstream, keys) =>
    configText(
      upstream,
      keys,
      `[[backends]]\nname = "up"\ntransport = "http"\nurl = "${upstream}"\n`,
    ).replace(/^upstream = .*\n/, ''),
}

/** A Portico of `text`'s mode before `upstream`, with alice's and bob's keys in its file. */
async function withAliceAndBob(
  mode: string,
  text: ModeText,
  upstream: string,
): Promise<{ portico: Portico; url: string; file: string }> {
  const file = join(scratchDir(`portico-keys-${mode}-`), 'portico.toml')
  writeFileSync(
    file,
    text(upstream, [
      ['alice', ALICE],
      ['bob', BOB],
    ]),
  )
  const load = () => loadConfig({ file, again: true }).config
  const loaded = load()
  const portico = createPortico(loaded, {
    logger: new Logger({ level: 'silent' }),
    reload: { file, loaded, load },
  })
  return { portico, url: (await portico.listen({ port: 0 })).url, file }
}

for (const [mode, text] of Object.entries(MODES))
  describe(`a key revoked by a reload, with a GET stream it opened (${mode} mode)`, () => {
    let upstream: CancelUpstream
    let portico: Portico
    let url: string
    let file: string

    before(async () => {
      upstream = await startCancelUpstream()
      ;({ portico, url, file } = await withAliceAndBob(mode, text, upstream.url))
    })
    after(async () => {
      await portico?.close()
      await upstream?.close()
    })

    it('ends that stream at once; streams of the keys still good stay open', async () => {
      const alices = await sessionStream(url, { authorization: `Bearer ${ALICE}` })
      const bobs = await sessionStream(url, { authorization: `Bearer ${BOB}` })
      writeFileSync(file, text(upstream.url, [['alice', ALICE]]))
      assert.equal(await portico.reloadConfig(), 'applied')
      // It stayed open, and went on carrying the server's messages to whoever held the key.
      assert.equal(
        await settlesWithin(streamEnded(bobs), 5000, "the revoked key's stream to end"),
        true,
      )
      const alice = await Promise.race([streamEnded(alices), delay(300).then(() => 'open')])
      assert.equal(alice, 'open')
      await alices.cancel()
    })
  })

for (const [mode, text] of Object.entries(MODES))
  describe(`a key revoked by a reload, with a subscriptions/listen stream it opened (${mode} mode)`, () => {
    let upstream: ModernServer
    let portico: Portico
    let url: string
    let file: string

    before(async () => {
      upstream = await startModernServer()
      ;({ portico, url, file } = await withAliceAndBob(mode, text, upstream.url))
    })
    after(async () => {
      await portico?.close()
      await upstream?.close()
    })

    /** A listen stream opened with `key`, open: its acknowledgement was read. */
    async function listenWith(key: string, batch = false) {
      const stream = await openListenStream(
        url,
        `listen-${key.slice(0, 5)}`,
        { toolsListChanged: true },
        { authorization: `Bearer ${key}` },
        batch,
      )
      await stream.until((all) => all.some((m) => m.method?.endsWith('/acknowledged')))
      return stream
    }

    it('ends that stream at once; streams of the keys still good stay open', async () => {
      const alices = await listenWith(ALICE)
      const bobs = await listenWith(BOB)
      writeFileSync(file, text(upstream.url, [['alice', ALICE]]))
      assert.equal(await portico.reloadConfig(), 'applied')
      // It stayed open and went on carrying list changes to whoever held the revoked key.
      assert.equal(await bobs.endsWithin(5000), true, "the revoked key's listen stream ended")
      assert.equal(await alices.endsWithin(300), false, "the kept key's stream stays open")
      alices.close()
    })

    it('ends it when it was sent in a batch too', async () => {
      writeFileSync(
        file,
        text(upstream.url, [
          ['alice', ALICE],
          ['bob', BOB],
        ]),
      )
      assert.equal(await portico.reloadConfig(), 'applied')
      const bobs = await listenWith(BOB, true)
      writeFileSync(file, text(upstream.url, [['alice', ALICE]]))
      assert.equal(await portico.reloadConfig(), 'applied')
      assert.equal(await bobs.endsWithin(5000), true, "the revoked key's batched stream ended")
    })
  })

/** mcp-proxy's `tokens` in `text`'s mode: the same file as `withAliceAndBob`'s, unnamed keys. */
function tokensText(text: ModeText, upstream: string, tokens: string[]): string {
  const quoted = tokens.map((token) => `"${token}"`).join(', ')
  return text(upstream, []).replace(/api_keys = \[\n*\]\n/, `tokens = [${quoted}]\n`)
}

for (const [mode, text] of Object.entries(MODES))
  describe(`mcp-proxy tokens, one removed by a reload (${mode} mode)`, () => {
    let upstream: CancelUpstream
    let portico: Portico
    let url: string
    const file = join(scratchDir(`portico-tokens-${mode}-`), 'portico.toml')

    before(async () => {
      upstream = await startCancelUpstream()
      writeFileSync(file, tokensText(text, upstream.url, [ALICE, BOB]))
      const load = () => loadConfig({ file, again: true }).config
      const loaded = load()
      portico = createPortico(loaded, {
        logger: new Logger({ level: 'silent' }),
        reload: { file, loaded, load },
      })
      url = (await portico.listen({ port: 0 })).url
    })
    after(async () => {
      await portico?.close()
      await upstream?.close()
    })

    /** A session opened with `key`: its id. */
    async function sessionOf(key: string): Promise<string> {
      const init = await fetch(url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, authorization: `Bearer ${key}` },
        body: initializeBody(),
      })
      await init.arrayBuffer()
      assert.equal(init.status, 200)
      return init.headers.get('mcp-session-id') ?? ''
    }

    /** The HTTP status of a `tools/list` on `session` with `key`. */
    async function listOn(session: string, key: string): Promise<number> {
      const response = await fetch(url, {
        method: 'POST',
        headers: { ...sessionHeaders(session), authorization: `Bearer ${key}` },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
      })
      await response.arrayBuffer()
      return response.status
    }

    it("the token left keeps its own sessions and never gets the removed one's", async () => {
      const alices = await sessionOf(ALICE)
      const bobs = await sessionOf(BOB)
      assert.equal(await listOn(alices, BOB), 403)
      writeFileSync(file, tokensText(text, upstream.url, [BOB]))
      assert.equal(await portico.reloadConfig(), 'applied')
      // Named by their place, bob's token became "token-0", alice's principal: it took her
      // session and lost its own.
      assert.deepEqual([await listOn(alices, BOB), await listOn(bobs, BOB)], [403, 200])
    })
  })

describe('a key revoked while its legacy SSE session still owes an answer', () => {
  let everything: Spawned & { url: string }
  let portico: Portico
  let origin: string
  const file = join(scratchDir('portico-keys-legacy-'), 'portico.toml')

  before(async () => {
    everything = await startEverything('sse')
    const keys: Array<[string, string]> = [
      ['alice', ALICE],
      ['bob', BOB],
    ]
    writeFileSync(file, configText(everything.url, keys))
    const load = () => loadConfig({ file, again: true }).config
    const loaded = load()
    portico = createPortico(loaded, {
      logger: new Logger({ level: 'silent' }),
      reload: { file, loaded, load },
    })
    origin = new URL((await portico.listen({ port: 0 })).url).origin
  })
  after(async () => {
    await portico?.close()
    await everything?.stop()
  })

  it('writes the answer of the call admitted before, then ends the stream', async () => {
    const authorization = `Bearer ${BOB}`
    const stream = await fetch(`${origin}/sse`, {
      headers: { accept: 'text/event-stream', authorization },
    })
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader()
    let text = ''
    const decoder = new TextDecoder()
    const ended = (async () => {
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        text += decoder.decode(read.value, { stream: true })
      }
      return true
    })()
    const endpoint = await until(() => /event: endpoint\ndata: (\S+)/.exec(text)?.[1])
    const post = (body: object) =>
      fetch(new URL(endpoint, origin), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify({ jsonrpc: '2.0', ...body }),
      }).then(async (response) => {
        await response.arrayBuffer()
        return response.status
      })
    assert.equal(await post({ id: 1, method: 'initialize', params: INITIALIZE }), 202)
    await until(() => text.includes('"id":1'))
    assert.equal(await post({ method: 'notifications/initialized' }), 202)
    const slow = { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 1 } }
    assert.equal(await post({ id: 13, method: 'tools/call', params: slow }), 202)
    writeFileSync(file, configText(everything.url, [['alice', ALICE]]))
    assert.equal(await portico.reloadConfig(), 'applied')
    // Before, the stream ended at the reload and the admitted call's answer never came.
    assert.equal(await settlesWithin(ended, 6000, 'the stream to end'), true)
    assert.match(text, /Long running operation completed.*"id":13\}/)
  })
})

const INITIALIZE = {
  protocolVersion: '2024-11-05',
  capabilities: {},
  clientInfo: { name: 'revoked-legacy', version: '1.0.0' },
}
