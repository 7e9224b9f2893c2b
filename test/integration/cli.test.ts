/** The `portico` command as users run it: run, check, demo, signals and error messages. */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { runCliSync, startCli } from '../helpers/cli.ts'
import { exitOf } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

function tomlFile(text: string): string {
  const path = join(scratchDir('portico-cli-'), 'portico.toml')
  writeFileSync(path, text)
  return path
}

describe('portico CLI', () => {
  let demo: DemoServer
  before(async () => {
    demo = await startDemoServer()
  })
  after(async () => {
    await demo?.close()
  })

  it('run: prints the URL clients should use and proxies to the upstream', async () => {
    const portico = await startCli(['run', '--upstream', demo.url, '--port', '0'])
    try {
      assert.match(
        portico.output(),
        new RegExp(
          `Portico listening on http://127\\.0\\.0\\.1:\\d+/mcp \\(upstream ${demo.url.replace(/[.]/g, '\\.')}\\)`,
        ),
      )
      const client = new Client({ name: 'cli-test', version: '1' })
      await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
      const result = await client.callTool({ name: 'add', arguments: { a: 20, b: 22 } })
      assert.deepEqual(result.structuredContent, { sum: 42 })
      await client.close()
    } finally {
      await portico.stop()
    }
  })

  it('run: on SIGTERM lets an in-flight call finish, then exits 0', async () => {
    const portico = await startCli(['run', '--upstream', demo.url, '--port', '0'])
    try {
      const client = new Client({ name: 'drain-test', version: '1' })
      await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
      // SIGTERM once the call is running upstream (its first progress step arrived).
      let signalled = false
      const call = client.callTool(
        { name: 'slow_task', arguments: { steps: 3, step_ms: 200 } },
        undefined,
        {
          onprogress: () => {
            if (signalled) return
            signalled = true
            portico.child.kill('SIGTERM')
          },
          // Far above the call's 600 ms, far below the SDK's default 60 s.
          timeout: 15_000,
        },
      )
      const result = await call
      assert.ok(signalled, 'SIGTERM was sent while the call ran')
      assert.deepEqual(result.content, [{ type: 'text', text: 'done after 3 steps' }])
      await client.close().catch(() => undefined)
      const { code } = await exitOf(portico.child, 10_000, 'portico run after SIGTERM')
      assert.equal(code, 0)
      assert.match(portico.output(), /draining/)
    } finally {
      await portico.stop()
    }
  })

  it('run: reads the config file and lets flags override it', async () => {
    // Only the file sets mcp_path and port (the default port, 3000, would not be 0); the flag
    // overrides the file's (dead) upstream.
    const config = tomlFile(
      `mcp = "http://127.0.0.1:1/mcp"\nport = 0\nmcp_path = "/from-file/mcp"\n`,
    )
    const portico = await startCli(['run', '--config', config, '--upstream', demo.url])
    try {
      assert.match(portico.output(), new RegExp(`upstream ${demo.url.replace(/[.]/g, '\\.')}`))
      const url = new URL(portico.url)
      assert.equal(url.pathname, '/from-file/mcp')
      assert.notEqual(url.port, '3000')
      const client = new Client({ name: 'config-test', version: '1' })
      await client.connect(new StreamableHTTPClientTransport(url))
      const result = await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } })
      assert.deepEqual(result.structuredContent, { sum: 3 })
      await client.close()
    } finally {
      await portico.stop()
    }
  })

  it('run: explains a missing upstream without a stack trace', () => {
    const result = runCliSync(['run', '--port', '0'], { PORTICO_UPSTREAM: '' })
    assert.equal(result.status, 2)
    assert.match(result.stderr, /no upstream: pass --upstream URL/)
    assert.doesNotMatch(result.stderr, /at .*\.js:\d+/)
  })

  it('rejects an unknown flag and a bad port value', () => {
    const unknown = runCliSync(['run', '--upstrem', 'x'])
    assert.notEqual(unknown.status, 0)
    assert.match(unknown.stderr, /unknown option '--upstrem'/)
    const port = runCliSync(['run', '--upstream', demo.url, '--port', 'eighty'])
    assert.equal(port.status, 2)
    assert.match(port.stderr, /--port: expected a non-negative integer, got "eighty"/)
    // Beyond 2^53 the number is not exact (SQLite answered "datatype mismatch" to it).
    const huge = runCliSync(['logs', '--tail', '99999999999999999999'])
    assert.equal(huge.status, 2)
    assert.match(huge.stderr, /--tail: expected a non-negative integer, got "99999999999999999999"/)
  })

  it('check: prints every problem with file, line and key, and exits non-zero', () => {
    const path = tomlFile('upstream = "ftp://nope"\nport = 99999\n\n[store]\nretention = 30\n')
    const result = runCliSync(['check', '--config', path])
    assert.equal(result.status, 1)
    assert.match(result.stderr, new RegExp(`${path}:1: upstream: expected an absolute http`))
    assert.match(result.stderr, new RegExp(`${path}:2: port: `))
    assert.match(result.stderr, new RegExp(`${path}:5: store.retention: `))
    assert.match(result.stderr, /3 problems found/)
  })

  it('check: accepts a valid file', () => {
    const result = runCliSync([
      'check',
      '--config',
      tomlFile('upstream = "http://127.0.0.1:9000/mcp"\n'),
    ])
    assert.equal(result.status, 0)
    assert.match(result.stdout, /is valid/)
  })

  it('demo: starts the bundled server behind Portico and prints what to try', async () => {
    const portico = await startCli(['demo', '--port', '0'])
    try {
      assert.match(portico.output(), /the bundled demo server/)
      assert.match(portico.output(), /inspector --cli http:\/\/127\.0\.0\.1:\d+\/mcp/)
      // From a clone `portico` is not on the PATH: the banner says `npx portico` (the clone's own).
      assert.match(portico.output(), /^ {2}npx portico status --db \S+ {4}npx portico logs/m)
      const client = new Client({ name: 'demo-test', version: '1' })
      await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
      const { tools } = await client.listTools()
      assert.deepEqual(tools.map((t) => t.name).sort(), [
        'add',
        'echo',
        'flaky',
        'show_weather',
        'slow_task',
      ])
      const { resources } = await client.listResources()
      assert.ok(resources.some((r) => r.uri === 'ui://widget/weather.html'))
      await client.close()
    } finally {
      await portico.stop()
    }
  })
})
