/**
 * `list_timeout` bounds a merged list page as a whole, with real stdio backends: a backend
 * that never answers `tools/list`, with retries configured, is left out after one
 * `list_timeout`, not after one per attempt, and its attempt in flight is cancelled.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { modernHeaders } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

let gateway: RunningPortico
let client: Client
let dir: string
let listLog: string

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portico-list-deadline-'))
  listLog = join(dir, 'lists')
  gateway = await startPortico({
    proxy: { admin_tools: false, list_timeout: '1s' },
    backends: [
      {
        name: 'fast',
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('paged-server')],
      },
      {
        name: 'slow',
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('paged-server')],
        env: { PAGED_SLOW_LIST: '1', PAGED_LIST_LOG: listLog },
        retry: { max_retries: 3, initial_backoff_ms: 10, max_backoff_ms: 20 },
      },
    ],
  })
  client = new Client({ name: 'list-deadline', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
})

after(async () => {
  await client?.close()
  await gateway?.close()
  rmSync(dir, { recursive: true, force: true })
})

it('leaves a backend out of a merged list after one list_timeout, whatever its retries', async () => {
  // `initialize` does not wait for backends to start; on a busy machine the fast one may take
  // longer than list_timeout to start, which is not what this test is about.
  await until(
    async () => {
      const ready = (await (await fetch(new URL('/readyz', gateway.origin))).json()) as {
        backends: Array<{ name: string; state: string }>
      }
      return ready.backends.find((b) => b.name === 'fast')?.state === 'up' || undefined
    },
    20_000,
    'the fast backend up',
  )
  const names = (await client.listTools()).tools.map((t) => t.name)
  assert.ok(names.includes('fast__alpha'), names.join(', '))
  assert.ok(!names.some((n) => n.startsWith('slow__')), names.join(', '))
  // Each attempt would get the whole list_timeout: only the first fits in the page's.
  // (Per attempt, the merged list waited for four: 4.1 s for a 1 s limit.)
  assert.equal(readFileSync(listLog, 'utf8'), 'tools/list\n')
  const ready = (await (await fetch(new URL('/readyz', gateway.origin))).json()) as {
    backends: Array<{ name: string; lastFailure?: { message: string } }>
  }
  const slow = ready.backends.find((b) => b.name === 'slow')
  assert.match(slow?.lastFailure?.message ?? '', /tools\/list: .*within 1000 ms/)
})

it("refuses a 2026-07-28 call carrying Mcp-Param-* headers when its tool's list cannot be read", async () => {
  const call = async (headers: Record<string, string>) => {
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...modernHeaders('tools/call', 'slow__alpha'),
        ...headers,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'p1',
        method: 'tools/call',
        params: {
          name: 'slow__alpha',
          arguments: { region: 'eu' },
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientCapabilities': {},
          },
        },
      }),
      signal: AbortSignal.timeout(20_000),
    })
    const answer = (await response.json()) as { id?: unknown; error?: { code: number } }
    return [response.status, answer.id, answer.error?.code]
  }
  // What the tool marks x-mcp-header is unknown (its backend never answers tools/list): a
  // header it carries cannot be checked against the arguments, so a router's reading of it
  // cannot be vouched for.
  assert.deepEqual(await call({ 'mcp-param-region': 'us' }), [400, 'p1', -32020])
  // Without such headers there is nothing to disagree: the call goes.
  assert.deepEqual(await call({}), [200, 'p1', undefined])
})
