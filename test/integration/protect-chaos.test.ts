/**
 * Chaos: one backend flaps (its stdio process crashes, then hangs, crashes again, recovers)
 * while a second one serves four concurrent SDK clients. The healthy backend's calls must all
 * succeed with their own answers, every call to the flapping one must end (an answer or a
 * clear error, never a hang), and the flapping backend must be usable again at the end.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { ConfigInput } from '../../src/config/schema.ts'
import { type FaultyHttp, startFaultyHttp } from '../fixtures/faulty-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

const CALLS_PER_CLIENT = 25

function text(result: unknown): string {
  const content = (result as { content?: Array<{ text?: string }> }).content ?? []
  return content.map((c) => c.text ?? '').join('')
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'chaos', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  return client
}

describe('chaos: a flapping backend beside a healthy one', () => {
  let steady: FaultyHttp
  let portico: RunningPortico

  before(async () => {
    steady = await startFaultyHttp('steady')
    portico = await startPortico({
      proxy: { admin_tools: false, list_timeout: '2s' },
      backends: [
        {
          name: 'flaky',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('faulty-stdio')],
          timeout: { seconds: 1 },
          concurrency: { max_concurrent: 4, max_queue: 8, queue_timeout: 1 },
          retry: { max_retries: 1, initial_backoff_ms: 50, max_backoff_ms: 100 },
        },
        {
          name: 'steady',
          transport: 'http',
          url: steady.url,
          circuit_breaker: { minimum_calls: 5 },
          concurrency: { max_concurrent: 8 },
        },
      ],
    } as ConfigInput)
  })
  after(async () => {
    await portico?.close()
    await steady?.close()
  })

  it('serves every call of the healthy backend while the other crashes, hangs and recovers', async () => {
    const clients = await Promise.all([1, 2, 3, 4].map(() => connect(portico.url)))
    const driver = await connect(portico.url)
    try {
      const load = clients.map(async (client, c) => {
        const failures: string[] = []
        for (let i = 0; i < CALLS_PER_CLIENT; i++) {
          const word = `c${c}-${i}`
          try {
            const result = await client.callTool(
              { name: 'steady__echo', arguments: { text: word } },
              undefined,
              {
                timeout: 10_000,
              },
            )
            if (text(result) !== `steady: ${word}`) failures.push(`${word}: ${text(result)}`)
          } catch (error) {
            failures.push(`${word}: ${(error as Error).message}`)
          }
          // The flapping backend is called too: it may fail, it must not hang.
          if (i % 5 === 0) {
            await client
              .callTool({ name: 'flaky__echo', arguments: { text: word } }, undefined, {
                timeout: 10_000,
              })
              .catch((error: Error) => {
                if (
                  /timed out|Request timed out/i.test(error.message) &&
                  !/within 1000 ms/.test(error.message)
                ) {
                  failures.push(`flaky hung: ${error.message}`)
                }
              })
          }
        }
        return failures
      })
      const flap = (async () => {
        const bounded = { timeout: 10_000 }
        const fault = (mode: string, times: number) =>
          driver.callTool(
            { name: 'flaky__fault', arguments: { mode, times, tool: 'echo' } },
            undefined,
            bounded,
          )
        const echo = () =>
          driver.callTool({ name: 'flaky__echo', arguments: { text: 'x' } }, undefined, bounded)
        const pid = async () =>
          JSON.parse(
            text(
              await driver.callTool({ name: 'flaky__status', arguments: {} }, undefined, bounded),
            ),
          ).pid as number
        // Control calls share the flapping backend's slots: they may be refused while it hangs.
        const retrying = (what: string, step: () => Promise<unknown>) =>
          until(
            async () =>
              step().then(
                () => true,
                () => undefined,
              ),
            10_000,
            what,
          )
        const first = await until(() => pid().catch(() => undefined), 10_000, 'flaky pid')
        await retrying('planning the crash', () => fault('crash', 1))
        // Crashes; a retry may reach the restarted process: an error or an answer, never a hang.
        await echo().catch(() => undefined)
        const second = await until(() => pid().catch(() => undefined), 10_000, 'flaky restarted')
        assert.notEqual(second, first, 'the process crashed and was restarted')
        await retrying('planning the hang', () => fault('hang', 4))
        await assert.rejects(echo(), /within 1000 ms|concurrency limit/)
        await until(
          async () =>
            fault('crash', 1).then(
              () => true,
              () => undefined,
            ),
          10_000,
          'flaky reachable after the hang',
        )
        await echo().catch(() => undefined)
      })()
      const [failures] = await Promise.all([Promise.all(load), flap])
      assert.deepEqual(failures.flat(), [])
      // Recovered: the flapping backend answers again.
      await until(
        async () =>
          text(
            await driver
              .callTool({ name: 'flaky__echo', arguments: { text: 'back' } })
              .catch(() => ({})),
          ).includes('back') || undefined,
        // A restarted Node process may take seconds to start on a loaded machine.
        45_000,
        'the flapping backend to recover',
      )
      assert.equal(steady.server.runs.get('echo'), clients.length * CALLS_PER_CLIENT)
    } finally {
      await Promise.all([...clients, driver].map((c) => c.close()))
    }
  })
})
