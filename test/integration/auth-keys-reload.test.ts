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
import { loadConfig } from '../../src/config/load.ts'
import { Logger } from '../../src/observe/logger.ts'
import { createPortico, type Portico } from '../../src/portico.ts'
import { type FaultyHttp, startFaultyHttp } from '../fixtures/faulty-http.ts'
import { MCP_ACCEPT } from '../helpers/mcp-http.ts'
import { scratchDir } from '../helpers/scratch.ts'

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
      configText(
        upstream.url,
        [['bob', BOB]],
        '[[auth.roles]]\nname = "reader"\nallow_tools = ["echo"]\n',
      ),
    )
    assert.equal(await portico.reloadConfig(), 'rejected')
    assert.match(lines.join('\n'), /\[auth\] or \[security\] changed; restart Portico to apply/)
    assert.deepEqual(
      [await statusWith(ALICE), await statusWith(BOB), await statusWith(CAROL)],
      [200, 401, 200],
    )
  })
})
