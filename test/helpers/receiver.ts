/**
 * A real HTTP receiver for sinks and exporters (webhook, OTLP): it records every POST (headers
 * and body: JSON parsed, OTLP/protobuf decoded into OTLP/JSON's shape) and answers with the status its `mode` says, so a test can make it fail and
 * recover. Every wait has a deadline naming what it waited for.
 */
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { decodeTraceRequest } from './otlp-proto.ts'

export interface Received {
  path: string
  headers: IncomingHttpHeaders
  body: unknown
  /** The status this POST was answered with. */
  status: number
}

export class Receiver {
  readonly posts: Received[] = []
  /** Status to answer with (200 = accept). */
  status = 200
  readonly #server: Server
  readonly #waiters = new Set<() => void>()
  url = ''

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        const bytes = Buffer.concat(chunks)
        let body: unknown
        try {
          body =
            req.headers['content-type'] === 'application/x-protobuf'
              ? decodeTraceRequest(bytes)
              : JSON.parse(bytes.toString('utf8'))
        } catch {
          body = bytes.toString('utf8')
        }
        const status = this.status
        this.posts.push({ path: req.url ?? '/', headers: req.headers, body, status })
        res.writeHead(status, { 'content-type': 'application/json' }).end('{}')
        for (const wake of this.#waiters) wake()
      })
    })
  }

  async start(): Promise<this> {
    this.#server.listen(0, '127.0.0.1')
    await once(this.#server, 'listening')
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  /** Bodies of the accepted POSTs. */
  accepted(): unknown[] {
    return this.posts.filter((p) => p.status < 300).map((p) => p.body)
  }

  waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check)
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what} (${this.posts.length} POSTs)`,
          ),
        )
      }, timeoutMs)
      const check = () => {
        if (!predicate()) return
        clearTimeout(timer)
        this.#waiters.delete(check)
        resolve()
      }
      this.#waiters.add(check)
    })
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections()
    this.#server.close()
  }
}
