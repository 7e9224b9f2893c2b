/**
 * Answers on a legacy HTTP+SSE session's stream that no call waits for. One that comes after
 * Portico answered its call with the timeout is a second response for the id: dropped. One
 * under an id no call has (the upstream's mistake, or a cancelled call's) passes, with the
 * widget CSP rewrite its result's shape asks for: before, both passed as the upstream wrote
 * them, so the client read two responses for one id, and a widget's CSP as the app wrote it.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  type LegacyMessage,
  type LegacyUpstream,
  messagesIn,
  openLegacyClient,
  sseMessage,
  startLegacyUpstream,
} from '../helpers/legacy-upstream.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

const WIDGET = {
  uri: 'ui://w/r',
  mimeType: 'text/html;profile=mcp-app',
  text: '<p>',
  _meta: { ui: { csp: { connectDomains: ['http://localhost:9000'] } } },
}

describe('legacy HTTP+SSE: answers no call waits for', () => {
  let upstream: LegacyUpstream
  let portico: RunningPortico

  before(async () => {
    upstream = await startLegacyUpstream({
      answer: (message: LegacyMessage, stream) => {
        const result = { contents: [WIDGET] }
        const write = () => stream.write(sseMessage({ jsonrpc: '2.0', id: message.id, result }))
        if (message.params?.late === true)
          setTimeout(write, 1500) // past request_timeout
        else if (message.params?.stray === true) {
          stream.write(sseMessage({ jsonrpc: '2.0', id: 'nobody', result }))
          write()
        } else write()
      },
    })
    portico = await startPortico({
      upstream: upstream.url,
      public_url: 'https://mcp.example.com',
      request_timeout: 1,
    })
  })
  after(async () => {
    await portico?.close()
    await upstream?.close()
  })

  it('drops an answer that comes after its call timed out', async () => {
    const client = await openLegacyClient(portico.origin)
    try {
      const late = { uri: 'ui://w/r', late: true }
      assert.equal(
        await client.post({ jsonrpc: '2.0', id: 5, method: 'resources/read', params: late }),
        202,
      )
      await client.readUntil((text) => /did not answer within/.test(text), 'the timeout', 5000)
      // The upstream's late answer, then one more call: its answer shows the stream went on.
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const next = { uri: 'ui://w/r' }
      await client.post({ jsonrpc: '2.0', id: 6, method: 'resources/read', params: next })
      await client.readUntil((text) => /"id":6/.test(text), 'the next answer', 5000)
      const forFive = messagesIn(client.text()).filter((message) => message.id === 5)
      assert.equal(forFive.length, 1, JSON.stringify(forFive))
      assert.ok(forFive[0]?.error, 'the one answer is the timeout')
    } finally {
      client.leave()
    }
  })

  it('rewrites the widget CSP of an answer under an id no call has', async () => {
    const client = await openLegacyClient(portico.origin)
    try {
      const stray = { uri: 'ui://w/r', stray: true }
      await client.post({ jsonrpc: '2.0', id: 7, method: 'resources/read', params: stray })
      await client.readUntil((text) => /"id":7/.test(text), 'the answer', 5000)
      const nobody = messagesIn(client.text()).find((message) => message.id === 'nobody')
      const contents = (nobody?.result as { contents?: (typeof WIDGET)[] } | undefined)?.contents
      assert.deepEqual(contents?.[0]?._meta.ui.csp.connectDomains, ['https://mcp.example.com'])
    } finally {
      client.leave()
    }
  })
})
