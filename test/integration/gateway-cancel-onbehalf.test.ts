/**
 * Cancelling a call the gateway makes others for (a composite tool's members, `call_tool`'s
 * inner call) cancels those too: the client's `notifications/cancelled` reaches the backends,
 * which stop at once, instead of running to their end.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { probeWaits, startProbeHttp } from '../fixtures/probe-server.ts'
import type { Served } from '../fixtures/serve.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

describe('cancelling a call made on behalf of others (gateway)', () => {
  let probe: Served
  let gateway: RunningPortico
  let client: Client

  before(async () => {
    probe = await startProbeHttp()
    gateway = await startPortico({
      proxy: { tool_exposure: 'search' },
      backends: [{ name: 'probe', transport: 'http', url: probe.url }],
      composite_tools: [
        { name: 'wait_twice', description: 'two waits', tools: ['probe__wait', 'probe__wait'] },
      ],
    })
    client = new Client({ name: 'cancel-on-behalf', version: '1' })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
  })
  after(async () => {
    await client?.close()
    await gateway?.close()
    await probe?.close()
  })

  // call_tool's call is recorded under the tool it ran.
  for (const [what, name, args, recorded] of [
    ['a composite tool', 'wait_twice', {}, 'wait_twice'],
    ['call_tool', 'portico__call_tool', { name: 'probe__wait', arguments: {} }, 'probe__wait'],
  ] as const) {
    it(`${what}: its inner calls are cancelled with it`, async () => {
      const before = gateway.sink.exchanges().length
      const waits = probeWaits.started
      const aborted = new AbortController()
      const call = client.callTool({ name, arguments: args }, undefined, {
        signal: aborted.signal,
      })
      // The wait tool answers only when cancelled (or after a minute). Cancelled once its
      // inner calls run (after a fixed 300 ms, a loaded machine had not sent them yet).
      await until(() => probeWaits.started > waits || undefined, 10_000, 'the inner calls')
      aborted.abort('enough')
      await assert.rejects(call)
      // The outer call ends as soon as its inner calls were cancelled, not after their minute.
      await gateway.sink.waitFor(
        (events) =>
          events
            .slice(before)
            .some((e) => e.type === 'exchange' && e.name === recorded && e.durationUs < 10_000_000),
        15_000,
      )
    })
  }
})
