/**
 * No secret leaks and no unbounded log, with real processes: a stdio backend does not inherit
 * Portico's environment (other backends' secrets), unless `inherit_env`; the config admin tool
 * hides argument and injected values; the start-up line hides URL credentials; `/readyz`
 * shows pids and error texts only to the local admin surface; a backend flooding stderr
 * gets a bounded share of Portico's log.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { startCli } from '../helpers/cli.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { until } from '../helpers/wait.ts'

function text(result: unknown): string {
  const content = (result as { content?: Array<{ text?: string }> }).content ?? []
  return content.map((c) => c.text ?? '').join('')
}

/** An address of this machine other loopback, to reach Portico as a remote client would. */
function externalAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) if (info.family === 'IPv4' && !info.internal) return info.address
  }
  throw new Error('this machine has no non-loopback IPv4 address to test a remote client with')
}

describe('secrets and bounds', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portico-secrets-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  function config(name: string, body: string, top = ''): string {
    const file = join(dir, `${name}.toml`)
    writeFileSync(file, `port = 0\n${top}\n[store]\nenabled = false\n${body}`)
    return file
  }

  const backend = (name: string, extra = '', env = 'PROBE_VISIBLE = "yes"') => `
[[backends]]
name = "${name}"
transport = "stdio"
command = "${process.execPath}"
args = ["${fixture('probe-stdio')}", "--api-key=sk-live-123"]
env = { ${env} }
default_args = { api_key = "sk-default-456" }
${extra}`

  it("gives a stdio backend a minimal environment, its own env and, opted in, Portico's", async () => {
    const file = config('env', `${backend('plain')}${backend('inherit', 'inherit_env = true')}`)
    const portico = await startCli(['run', '--config', file], {
      PORTICO_TEST_SECRET: 'do-not-leak',
    })
    try {
      const client = new Client({ name: 'env', version: '1' })
      await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
      const plain = JSON.parse(text(await client.callTool({ name: 'plain__env' }))) as string[]
      const inherited = JSON.parse(
        text(await client.callTool({ name: 'inherit__env' })),
      ) as string[]
      assert.ok(plain.includes('PATH') && plain.includes('PROBE_VISIBLE'))
      assert.ok(!plain.includes('PORTICO_TEST_SECRET'), `leaked: ${plain.join(' ')}`)
      assert.ok(inherited.includes('PORTICO_TEST_SECRET'))
      const shown = text(await client.callTool({ name: 'portico__config' }))
      assert.doesNotMatch(shown, /sk-live-123|sk-default-456/)
      assert.match(shown, /api_key/, 'the names stay, the values go')
      await client.close()
    } finally {
      await portico.stop()
    }
  })

  it('hides URL credentials in the start-up line', async () => {
    const portico = await startCli([
      'run',
      '--upstream',
      'http://user:hunter2@127.0.0.1:1/mcp?token=abc123&mode=x',
      '--port',
      '0',
      '--db',
      join(dir, 'creds.db'),
    ])
    try {
      assert.doesNotMatch(portico.output(), /hunter2|abc123/)
      assert.match(portico.output(), /mode=x/)
    } finally {
      await portico.stop()
    }
  })

  it('shows backend pids and errors only to a local client of /readyz', async () => {
    const file = config('readyz', backend('probe'), 'host = "0.0.0.0"')
    const portico = await startCli(['run', '--config', file])
    try {
      const port = new URL(portico.url).port
      const local = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as {
        backends: Array<Record<string, unknown>>
      }
      await until(
        async () => {
          const body = (await (
            await fetch(`http://127.0.0.1:${port}/readyz`)
          ).json()) as typeof local
          return body.backends[0]?.pid !== undefined || undefined
        },
        10_000,
        'the shared process to start',
      )
      assert.ok('transport' in (local.backends[0] ?? {}), 'the full health record locally')
      const remote = (await (
        await fetch(`http://${externalAddress()}:${port}/readyz`)
      ).json()) as typeof local
      assert.deepEqual(Object.keys(remote.backends[0] ?? {}).sort(), [
        'connections',
        'name',
        'state',
      ])
    } finally {
      await portico.stop()
    }
  })

  it('bounds the log share of a backend that floods stderr, and counts what it held back', async () => {
    const file = config('flood', backend('noisy', '', 'PROBE_STDERR_FLOOD = "1"'))
    const portico = await startCli(['run', '--config', file])
    try {
      await until(
        () => /stderr lines not logged/.test(portico.stderr()) || undefined,
        10_000,
        'the count of held-back stderr lines',
      )
      const client = new Client({ name: 'flood', version: '1' })
      await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
      assert.equal(JSON.parse(text(await client.callTool({ name: 'noisy__cwd' }))), process.cwd())
      await client.close()
      const lines = portico
        .stderr()
        .split('\n')
        .filter((l) => l.includes('[noisy]'))
      // The backend wrote megabytes meanwhile; the log got a trickle (50 a second at most).
      const written = lines.filter((l) => !l.includes('not logged')).length
      assert.ok(written < 50 * 30, `${written} lines logged`)
    } finally {
      await portico.stop()
    }
  })
})
