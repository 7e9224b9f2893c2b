/**
 * The user's path: three npm MCP servers listed in portico.toml, `portico check`, then
 * `portico run`; a client sees one endpoint; SIGTERM stops Portico and its backends.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { serverBin } from '../helpers/mcp-servers.ts'
import { until } from '../helpers/wait.ts'

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js')
const dir = mkdtempSync(join(tmpdir(), 'portico-gw-cli-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function toml(extra = ''): string {
  const node = JSON.stringify(process.execPath)
  const stdio = (name: string, args: string[], more = '') =>
    `[[backends]]\nname = "${name}"\ntransport = "stdio"\ncommand = ${node}\nargs = ${JSON.stringify(args)}\n${more}`
  return [
    'port = 0',
    'log_level = "warn"',
    extra,
    // Never record into the user's own store from a test.
    `[store]\npath = "${join(dir, 'store.db')}"`,
    stdio('everything', [serverBin('everything'), 'stdio']),
    stdio(
      'memory',
      [serverBin('memory')],
      `env = { MEMORY_FILE_PATH = "${join(dir, 'm.jsonl')}" }\n`,
    ),
    stdio('files', [serverBin('filesystem'), dir]),
  ].join('\n')
}

it('portico check reports gateway problems with line and key', () => {
  const file = join(dir, 'bad.toml')
  writeFileSync(file, `${toml()}\n[[backends]]\nname = "files"\ntransport = "http"\n`)
  const result = spawnSync(process.execPath, [MAIN, 'check', '--config', file], {
    encoding: 'utf8',
  })
  assert.equal(result.status, 1)
  assert.match(result.stderr, /backends\[3\]\.name: duplicate backend name/)
  assert.match(result.stderr, /backends\[3\]\.url: http backends need a url/)
  const good = join(dir, 'good.toml')
  writeFileSync(good, toml())
  const ok = spawnSync(process.execPath, [MAIN, 'check', '--config', good], { encoding: 'utf8' })
  assert.equal(ok.status, 0, ok.stderr)
})

it('portico run serves three npm servers on one endpoint and stops them on SIGTERM', async () => {
  const file = join(dir, 'portico.toml')
  writeFileSync(file, toml())
  const child = spawn(process.execPath, [MAIN, 'run', '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  try {
    const url = await until(() => /listening on (\S+)/.exec(stdout)?.[1], 15_000, 'listening line')
    assert.match(stdout, /gateway: everything, memory, files/)
    const client = new Client({ name: 'cli-test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(url)))
    const names = (await client.listTools()).tools.map((t) => t.name)
    for (const prefix of ['everything__', 'memory__', 'files__']) {
      assert.ok(
        names.some((n) => n.startsWith(prefix)),
        `${prefix} missing`,
      )
    }
    const prompts = (await client.listPrompts()).prompts.map((p) => p.name)
    assert.ok(prompts.includes('everything__simple-prompt'))
    const resources = (await client.listResources()).resources
    assert.ok(resources.some((r) => r.uri.startsWith('demo://everything__')))
    await client.close()
  } finally {
    child.kill('SIGTERM')
    const [code] = await once(child, 'exit')
    assert.equal(code, 0)
  }
})
