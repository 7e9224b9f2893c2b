/**
 * A gateway's HTTP backend with many calls in flight: each request listens on the connection's
 * signal while it waits, so 16 concurrent slow calls put 16 listeners on it. Node took that for
 * a leak and printed "MaxListenersExceededWarning: Possible EventTarget memory leak detected"
 * on Portico's stderr, which an operator reads as one.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { openSession, sessionHeaders } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

describe('a gateway HTTP backend with many calls in flight', () => {
  let demo: DemoServer
  let gateway: RunningPortico
  const warnings: string[] = []
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`)

  before(async () => {
    demo = await startDemoServer()
    gateway = await startPortico({ backends: [{ name: 'demo', transport: 'http', url: demo.url }] })
    process.on('warning', onWarning)
  })
  after(async () => {
    process.off('warning', onWarning)
    await gateway?.close()
    await demo?.close()
  })

  it('answers 16 concurrent slow calls without a listener warning', async () => {
    const session = await openSession(gateway.url)
    const answers = await Promise.all(
      Array.from({ length: 16 }, async (_, index) => {
        const response = await fetch(gateway.url, {
          method: 'POST',
          headers: sessionHeaders(session),
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: index + 1,
            method: 'tools/call',
            params: { name: 'demo__slow_task', arguments: { steps: 1, step_ms: 300 } },
          }),
        })
        return response.text()
      }),
    )
    assert.equal(answers.filter((text) => text.includes('done after 1 steps')).length, 16)
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(
      warnings.filter((warning) => warning.startsWith('MaxListenersExceededWarning')),
      [],
    )
  })
})
