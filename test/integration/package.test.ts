/**
 * The package entry point as a library user imports it: `import … from 'portico'` (by name,
 * through package.json `exports`, not a relative path), with the README's embedding example:
 * `createPortico`, `listen`, and `handler` mounted in the user's own node:http server.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { listenOnZero } from '../helpers/ports.ts'

/** A variable, so TypeScript does not resolve it at build time (dist/ is rebuilt then). */
const PACKAGE = 'portico'
type Api = typeof import('../../src/index.ts')

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

async function callAdd(url: string): Promise<unknown> {
  const client = new Client({ name: 'package-test', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  try {
    return (await client.callTool({ name: 'add', arguments: { a: 40, b: 2 } })).structuredContent
  } finally {
    await client.close()
  }
}

describe("import … from 'portico'", () => {
  let demo: DemoServer
  let api: Api

  before(async () => {
    demo = await startDemoServer()
    api = (await import(PACKAGE)) as Api
  })
  after(async () => {
    await demo?.close()
  })

  it('resolves through package.json exports to dist/src/index.js, with its types', () => {
    const resolved = fileURLToPath(import.meta.resolve(PACKAGE))
    assert.equal(resolved, join(ROOT, 'dist', 'src', 'index.js'))
    assert.ok(existsSync(join(ROOT, 'dist', 'src', 'index.d.ts')), 'the exported types exist')
  })

  it('exports the library API', () => {
    for (const name of [
      'createPortico',
      'loadConfig',
      'ConfigError',
      'PorticoError',
      'EventBus',
      'Logger',
    ]) {
      assert.equal(typeof api[name as keyof Api], 'function', name)
    }
    assert.equal(typeof api.REASONS, 'object')
    assert.equal(api.configSchema.parse({ upstream: 'http://127.0.0.1:9/mcp' }).mcp_path, '/mcp')
  })

  it('createPortico listens and proxies, and its handler mounts in another server', async () => {
    const events: string[] = []
    const portico = api.createPortico(
      { upstream: demo.url, host: '127.0.0.1', port: 0, access_log: false },
      {
        logger: new api.Logger({ level: 'silent' }),
        sinks: [
          {
            name: 'test',
            write: (batch) => {
              for (const e of batch) if (e.type === 'exchange') events.push(e.method)
            },
            close: async () => {},
          },
        ],
      },
    )
    try {
      const { url } = await portico.listen()
      assert.deepEqual(await callAdd(url), { sum: 42 })
      const host = createServer(portico.handler)
      const port = await listenOnZero(host)
      try {
        assert.deepEqual(await callAdd(`http://127.0.0.1:${port}/mcp`), { sum: 42 })
      } finally {
        host.closeAllConnections()
        host.close()
      }
    } finally {
      await portico.close()
    }
    assert.ok(events.includes('tools/call'), `the sink saw ${events.join(', ')}`)
  })
})
