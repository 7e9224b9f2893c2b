/**
 * `logging/setLevel` through the gateway to a shared stdio process, which has one level for all
 * the sessions it serves: each session sees only the lines at or above the level it asked for,
 * and none is silenced by another session asking for less (the process is set to the most
 * talkative level asked for). Real SDK clients and a real SDK server over stdio.
 */
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import {
  type LoggingLevel,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

const ALL = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']
const ERROR_AND_ABOVE = ['error', 'critical', 'alert', 'emergency']

let portico: RunningPortico
const clients: Client[] = []

/** A session with its own log: the levels of the lines it received. */
async function session(): Promise<{ client: Client; levels: string[] }> {
  const client = new Client({ name: 'levels-test', version: '1.0.0' })
  const levels: string[] = []
  client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
    levels.push(notification.params.level)
  })
  await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
  clients.push(client)
  return { client, levels }
}

/** Calls `log_all` and gives the levels of the lines this call brought. */
async function logAll(
  who: { client: Client; levels: string[] },
  backend = 'lv',
): Promise<string[]> {
  who.levels.length = 0
  await who.client.callTool({ name: `${backend}__log_all`, arguments: {} })
  return [...who.levels]
}

/** The process id of `backend`'s shared process, as it says. */
async function pidOf(client: Client, backend: string): Promise<number> {
  const result = await client.callTool({ name: `${backend}__pid`, arguments: {} })
  const [first] = result.content as Array<{ text: string }>
  return Number(first?.text)
}

before(async () => {
  portico = await startPortico({
    backends: [
      {
        name: 'lv',
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('levels-stdio')],
        isolation: 'shared',
      },
      {
        // A server whose own default level is `warning`.
        name: 'lw',
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('levels-stdio'), '--level', 'warning'],
        isolation: 'shared',
      },
      {
        // The same, with a process per session, started by the session's first call.
        name: 'ls',
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('levels-stdio'), '--level', 'warning'],
        isolation: 'session',
        start: 'lazy',
      },
    ],
    store: { enabled: false },
  })
})

after(async () => {
  for (const client of clients) await client.close()
  await portico?.close()
})

it('shows each session of a shared process the lines of its own level, whoever set it last', async () => {
  const quiet = await session()
  const talkative = await session()
  await quiet.client.setLoggingLevel('error' as LoggingLevel)
  await talkative.client.setLoggingLevel('debug')
  assert.deepEqual(await logAll(quiet), ERROR_AND_ABOVE, 'no line below the level it asked for')
  assert.deepEqual(await logAll(talkative), ALL)
  // The quiet session sets its level again, last: the process stays as talkative as needed.
  await quiet.client.setLoggingLevel('error' as LoggingLevel)
  assert.deepEqual(await logAll(talkative), ALL, "another session's level silenced nothing")
  assert.deepEqual(await logAll(quiet), ERROR_AND_ABOVE)
})

it('a shared process started again (killed) is told the level its sessions asked for', async () => {
  const talkative = await session()
  await talkative.client.setLoggingLevel('debug')
  assert.deepEqual(await logAll(talkative, 'lw'), ALL)
  const first = await pidOf(talkative.client, 'lw')
  process.kill(first, 'SIGKILL')
  // Calls are refused while the backend restarts; the new process answers with its own pid.
  await until(
    () =>
      pidOf(talkative.client, 'lw').then(
        (pid) => (pid !== first ? pid : undefined),
        () => {},
      ),
    15_000,
    'the shared process to be started again',
  )
  // A new process starts at its own default (`warning`): the session's `debug` must reach it.
  assert.deepEqual(await logAll(talkative, 'lw'), ALL)
})

it("a session's own process, started after it set its level, is told the level", async () => {
  const talkative = await session()
  // No process of this session's yet: before, nothing told the one its first call started,
  // which logged at its own default (`warning`).
  await talkative.client.setLoggingLevel('debug')
  assert.deepEqual(await logAll(talkative, 'ls'), ALL)
})

it('refuses a level that is not one of MCP’s eight', async () => {
  const someone = await session()
  await assert.rejects(
    someone.client.setLoggingLevel('verbose' as LoggingLevel),
    /"level" must be one of debug, info/,
  )
})
