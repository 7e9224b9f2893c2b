/**
 * A batch whose answers are SSE streams, merged into one stream for a client that reads slowly:
 * its answers are written one event at a time, each once the client has taken what the last
 * one left. Each answer waited for the drain only after its own write, so thirty answers wrote
 * thirty large events at once (Node warned of 11 drain listeners on one response). Every
 * answer still arrives whole, with its id. From the transparent-streams fuzzer (L4).
 */
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { SseParser } from '../../src/protocol/sse.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type RawUpstream, startRawUpstream } from '../helpers/raw-upstream.ts'

const ANSWERS = 30
const TEXT = 'x'.repeat(1_000_000)

describe('a batch of streamed answers to a slow reader', () => {
  let upstream: RawUpstream
  let portico: RunningPortico
  const warnings: string[] = []
  const onWarning = (warning: Error) => warnings.push(warning.name)

  before(async () => {
    upstream = await startRawUpstream('streams', (res, message) => {
      const answer = {
        jsonrpc: '2.0',
        id: message.id,
        result: { content: [{ type: 'text', text: TEXT }] },
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.end(`data: ${JSON.stringify(answer)}\n\n`)
    })
    portico = await startPortico({ upstream: upstream.url })
    process.on('warning', onWarning)
  })
  after(async () => {
    process.off('warning', onWarning)
    await portico?.close()
    await upstream?.close()
  })

  it('writes every answer whole, one event at a time', async () => {
    const batch = Array.from({ length: ANSWERS }, (_, i) => ({
      jsonrpc: '2.0',
      id: i,
      method: 'tools/call',
      params: { name: 'big', arguments: {} },
    }))
    const body = JSON.stringify(batch)
    const url = new URL(portico.url)
    const ids = await new Promise<number[]>((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          // The client reads nothing for a while, then everything.
          res.pause()
          const parser = new SseParser()
          const seen: number[] = []
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => {
            for (const event of parser.push(chunk)) {
              const message = JSON.parse(event.data) as { id: number; result?: unknown }
              assert.equal(JSON.stringify(message.result).length > TEXT.length, true)
              seen.push(message.id)
            }
          })
          res.on('end', () => resolve(seen))
          res.on('error', reject)
          void sleep(500).then(() => res.resume())
        },
      )
      req.on('error', reject)
      req.end(body)
    })
    assert.deepEqual(
      [...ids].sort((a, b) => a - b),
      Array.from({ length: ANSWERS }, (_, i) => i),
    )
    assert.deepEqual(warnings, [], 'no warning (11 drain listeners on one response, before)')
  })
})
