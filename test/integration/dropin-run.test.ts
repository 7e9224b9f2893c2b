/**
 * mcp-proxy's quick start (shared/seeds/003, test/fixtures/seeds/mcp-proxy-quickstart.toml)
 * run by `portico run --config`: the filesystem server's tools are served under `files/`, as
 * the seed promises, to a real MCP SDK client. The only edits: the backend is started with
 * this Node (`process.execPath` and the installed server-filesystem, not `npx -y` from the
 * network) on a scratch folder instead of /tmp, and `--port 0` instead of 8080.
 */
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { runCliSync, startCli } from '../helpers/cli.ts'
import { serverBin } from '../helpers/mcp-servers.ts'
import { exitOf, type Spawned } from '../helpers/processes.ts'
import { until } from '../helpers/wait.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const QUICKSTART = join(ROOT, 'test', 'fixtures', 'seeds', 'mcp-proxy-quickstart.toml')

describe('portico run with mcp-proxy’s quick start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-quickstart-'))
  const served = join(dir, 'served')
  let portico: Spawned & { url: string }
  let client: Client

  before(async () => {
    mkdirSync(served)
    writeFileSync(join(served, 'hello.txt'), 'hello from the quick start\n')
    const text = readFileSync(QUICKSTART, 'utf8')
      .replace('command = "npx"', `command = ${JSON.stringify(process.execPath)}`)
      .replace(
        'args = ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]',
        `args = ${JSON.stringify([serverBin('filesystem'), served])}`,
      )
    assert.notEqual(text, readFileSync(QUICKSTART, 'utf8'))
    const config = join(dir, 'proxy.toml')
    writeFileSync(config, text)
    portico = await startCli(['run', '--config', config, '--port', '0'], {
      PORTICO_DB: join(dir, 'store.db'),
    })
    client = new Client({ name: 'quickstart-test', version: '1' })
    await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
  })

  after(async () => {
    await client?.close()
    await portico?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('listens on the URL it prints, on [proxy.listen] host, and names itself "my-proxy"', () => {
    assert.match(portico.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/)
    assert.equal(client.getServerVersion()?.name, 'my-proxy')
  })

  it('a client still pointed at mcp-proxy’s `/` is told where the MCP endpoint is', async () => {
    // mcp-proxy's code served MCP at `/` (its README says /mcp): clients that worked with it
    // post there. The 404 names the endpoint rather than a bare "Not Found".
    const root = new URL('/', portico.url)
    const answer = await fetch(root, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    })
    assert.equal(answer.status, 404)
    const body = (await answer.json()) as { error: { message: string } }
    assert.match(body.error.message, /the MCP endpoint is \/mcp \(mcp_path\)/)
  })

  it('lists every tool of the filesystem server, and only those, under "files/"', async () => {
    const direct = new Client({ name: 'direct', version: '1' })
    await direct.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [serverBin('filesystem'), served],
        stderr: 'ignore',
      }),
    )
    const own = (await direct.listTools()).tools.map((t) => t.name).sort()
    await direct.close()
    assert.ok(own.length > 5, `the filesystem server lists its tools (${own.length})`)
    const listed = (await client.listTools()).tools.map((t) => t.name)
    const backendTools = listed.filter((name) => !name.startsWith('portico/'))
    assert.deepEqual(
      backendTools.sort(),
      own.map((name) => `files/${name}`),
    )
  })

  it('calls files/read_text_file through the gateway, recorded under the proxy name my-proxy', async () => {
    const result = await client.callTool({
      name: 'files/read_text_file',
      arguments: { path: join(served, 'hello.txt') },
    })
    assert.equal(result.isError, undefined)
    assert.deepEqual(result.content, [{ type: 'text', text: 'hello from the quick start\n' }])
    const rows = await until(
      () => {
        const out = runCliSync([
          'logs',
          '--db',
          join(dir, 'store.db'),
          '--method',
          'tools/call',
          '--json',
        ])
        const found = out.stdout.split('\n').filter((line) => line !== '')
        return found.length > 0
          ? found.map((line) => JSON.parse(line) as Record<string, unknown>)
          : undefined
      },
      10_000,
      'the tools/call row',
    )
    assert.deepEqual(
      rows.map((row) => [row.proxy, row.name, row.status]),
      [['my-proxy', 'files/read_text_file', 'ok']],
    )
  })
})

describe('[proxy] shutdown_timeout_seconds is the drain budget', () => {
  let demo: DemoServer
  const dir = mkdtempSync(join(tmpdir(), 'portico-shutdown-'))

  before(async () => {
    demo = await startDemoServer()
  })
  after(async () => {
    await demo?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('SIGTERM waits for the call in flight at most that long, then exits', async () => {
    const config = join(dir, 'proxy.toml')
    writeFileSync(
      config,
      `upstream = "${demo.url}"\nport = 0\n[store]\nenabled = false\n[proxy]\nshutdown_timeout_seconds = 1\n`,
    )
    const portico = await startCli(['run', '--config', config])
    const client = new Client({ name: 'shutdown', version: '1' })
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
      let progressed = false
      // About 6 s of work: far longer than the 1 s budget.
      const call = client
        .callTool({ name: 'slow_task', arguments: { steps: 12, step_ms: 500 } }, undefined, {
          onprogress: () => {
            progressed = true
          },
          timeout: 30_000,
        })
        .then(
          () => 'finished',
          () => 'cut off',
        )
      await until(() => progressed || undefined, 10_000, 'the slow call to report progress')
      const signalled = Date.now()
      portico.child.kill('SIGTERM')
      const exit = await exitOf(portico.child, 10_000, 'portico run after SIGTERM')
      const took = Date.now() - signalled
      assert.equal(exit.code, 0, portico.output())
      assert.ok(took >= 900 && took < 4000, `exited ${took} ms after SIGTERM (budget 1 s)`)
      assert.equal(await call, 'cut off')
    } finally {
      await client.close().catch(() => undefined)
      await portico.stop()
    }
  })
})
