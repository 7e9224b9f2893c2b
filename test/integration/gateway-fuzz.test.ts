/**
 * Seeded fuzzing of a running gateway, both ways, with real processes:
 * - clients send malformed and odd JSON-RPC (wrong types everywhere, weird ids, batches, bodies
 *   that are not JSON): every request with a valid id is answered with that id, none hangs, and
 *   Portico keeps serving;
 * - a backend writes garbage (lines that are not JSON, answers for ids nobody asked, malformed
 *   errors and notifications, sometimes no answer): every call of real SDK clients settles
 *   within the backend's timeout, and the other backends are unaffected.
 * The sequences are fixed (seeded), so a failure reproduces.
 */
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { MCP_ACCEPT, openSession } from '../helpers/mcp-http.ts'
import { fixture, serverBin } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { ODD_VALUES, type Seeded, seeded } from '../helpers/seeded.ts'

let gateway: RunningPortico

before(async () => {
  gateway = await startPortico({
    proxy: { list_timeout: '3s' },
    backends: [
      {
        name: 'ev',
        transport: 'stdio',
        command: process.execPath,
        args: [serverBin('everything'), 'stdio'],
      },
      {
        name: 'sub',
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('subscribable-stdio')],
      },
      {
        name: 'junk',
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('garbage-stdio')],
        env: { GARBAGE_SEED: '11' },
        timeout: 1,
      },
    ],
  })
})

after(async () => {
  await gateway?.close()
})

const ODD: readonly unknown[] = [
  ...ODD_VALUES,
  '../..',
  'ev__echo',
  'sub__state',
  'demo://x',
  'memo://sub__a',
]
const METHODS = [
  'ping',
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'resources/subscribe',
  'resources/unsubscribe',
  'completion/complete',
  'logging/setLevel',
  'server/discover',
  'notifications/cancelled',
  'nope',
  '',
]
const PARAM_KEYS = ['name', 'arguments', 'uri', 'cursor', 'ref', 'argument', 'level', '_meta']
const TOOLS = ['ev__get-sum', 'ev__echo', 'sub__state', 'sub__touch', 'junk__poke', 'ev__nope']
const IDS: readonly unknown[] = [1, 0, -5, 2 ** 53 + 10, 'a', '', 'x'.repeat(300), null, {}, true]

function oddMessage(g: Seeded): Record<string, unknown> {
  const message: Record<string, unknown> = {
    jsonrpc: g.rand() < 0.95 ? '2.0' : g.pick(ODD),
    method: g.rand() < 0.9 ? g.pick(METHODS) : g.pick(ODD),
  }
  if (g.rand() < 0.85) message.id = g.pick(IDS)
  if (g.rand() < 0.1) message.params = g.pick(ODD)
  else if (g.rand() < 0.9) {
    const params: Record<string, unknown> = {}
    for (const key of PARAM_KEYS) if (g.rand() < 0.3) params[key] = g.pick(ODD)
    if (g.rand() < 0.4) params.name = g.pick(TOOLS)
    if (g.rand() < 0.3) params.arguments = g.pick([{ a: 1, b: 2 }, { message: 'x' }, g.pick(ODD)])
    message.params = params
  }
  return message
}

/** Whether JSON-RPC obliges an answer with this message's id. */
function owesAnswer(message: Record<string, unknown>): boolean {
  const { id, method, jsonrpc } = message
  const validId = typeof id === 'string' || (typeof id === 'number' && Number.isInteger(id))
  return (
    validId &&
    jsonrpc === '2.0' &&
    typeof method === 'string' &&
    !method.startsWith('notifications/')
  )
}

it('answers every odd request with a valid id with that id, without a hang, and keeps serving', async () => {
  const session = await openSession(gateway.url)
  const g = seeded(5)
  const problems: string[] = []
  for (let i = 0; i < 300; i++) {
    const batch = g.rand() < 0.1
    const messages = batch
      ? Array.from({ length: 1 + Math.floor(g.rand() * 3) }, () => oddMessage(g))
      : [oddMessage(g)]
    const raw = g.rand() < 0.03
    const body = raw
      ? g.pick(['{', '[]', '[[]]', 'null', '"x"', '{"jsonrpc":"2.0","id":1,"method":"ping"}x'])
      : JSON.stringify(batch ? messages : messages[0])
    // A request left waiting (a hang) fails the fetch at 10 s, and the test with it.
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-session-id': session },
      body,
      signal: AbortSignal.timeout(10_000),
    })
    const text = await response.text()
    const what = `#${i} ${body.slice(0, 160)} → ${response.status} ${text.slice(0, 160)}`
    if (response.status >= 500 && response.status !== 502 && response.status !== 504) {
      problems.push(`status: ${what}`)
    }
    // A raw body is none of `messages` (`[[]]` is a batch of one invalid element, answered 200).
    if (response.status !== 200 || raw) continue
    for (const message of messages) {
      if (owesAnswer(message) && !text.includes(`"id":${JSON.stringify(message.id)}`)) {
        problems.push(`no answer with its id: ${what}`)
      }
    }
  }
  assert.deepEqual(problems, [])
  const ping = await fetch(gateway.url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, 'mcp-session-id': session },
    body: JSON.stringify({ jsonrpc: '2.0', id: 'alive', method: 'ping' }),
  })
  assert.match(await ping.text(), /"id":"alive","result":\{\}/)
})

it('settles every call to a backend writing garbage within its timeout; the others never notice', async () => {
  const clients = await Promise.all(
    [0, 1, 2].map(async () => {
      const client = new Client({ name: 'fuzz', version: '1' }, { capabilities: { sampling: {} } })
      client.onerror = () => {} // the garbage the SDK rejects is reported here, by design
      await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
      return client
    }),
  )
  try {
    const hung: string[] = []
    let answered = 0
    await Promise.all(
      clients.map(async (client, c) => {
        for (let i = 0; i < 40; i++) {
          const tool = i % 4 === 0 ? 'sub__state' : 'junk__poke'
          try {
            // The backend's timeout is 1 s: an answer (or an error) must come well within 8 s.
            await client.callTool({ name: tool, arguments: { i } }, undefined, { timeout: 8000 })
            answered++
          } catch (error) {
            const message = (error as Error).message
            if (/Request timed out/.test(message)) hung.push(`client ${c} call ${i} (${tool})`)
            if (tool === 'sub__state') hung.push(`the healthy backend failed: ${message}`)
          }
        }
      }),
    )
    assert.deepEqual(hung, [])
    assert.ok(answered >= 30, `${answered} calls answered`)
    const tools = (await (clients[0] as Client).listTools()).tools.map((t) => t.name)
    assert.ok(tools.includes('junk__poke') && tools.includes('sub__state'), tools.join(', '))
    assert.ok(!tools.includes('junk__no_schema'))
  } finally {
    for (const client of clients) await client.close()
  }
})
