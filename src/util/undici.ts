/**
 * The parts of undici Portico uses (a Pool, its errors), required one by one instead of
 * through undici's index. The index loads all of undici, fetch, WebSocket, EventSource, the
 * cache and mock agents included, and keeps it: 3 MB more heap in every Portico process for
 * code it never runs (measured in a transparent proxy at rest, heap after a full GC:
 * 17.9 MB → 15.1 MB). The paths are undici's own files; its version is pinned exactly in
 * package.json, and test/unit/undici-parts checks that these are the very objects undici's
 * index exports, so an upgrade that moves them fails a test, not a user.
 */
import { createRequire } from 'node:module'
import type * as Undici from 'undici'

const require = createRequire(import.meta.url)

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool
export type Pool = Undici.Pool

export const errors = require('undici/lib/core/errors.js') as typeof Undici.errors

/**
 * How much of an answer's body `post` reads (and drops) before it hangs up: an endpoint that
 * answered 200 and then streamed without end kept a core busy reading gigabytes until the
 * deadline, then was posted to again. A collector's answer is a few bytes of status.
 */
const MAX_ANSWER_BYTES = 64 * 1024

/** What `post` learned: the answer's status (its body is read and dropped). */
export interface Posted {
  status: number
}

export interface PostOptions {
  path: string
  headers: Record<string, string>
  body: Buffer
  timeoutMs: number
}

/**
 * POSTs `body` through `pool` and resolves with the status once the answer is read through (the
 * body is dropped: the batch exporters only need to know whether it was taken; past
 * MAX_ANSWER_BYTES the connection is closed on the rest), within
 * `timeoutMs` all told. undici's own timeouts bound the wait for the head and each gap between
 * body chunks, so an endpoint that trickles its answer a byte at a time would hold the POST (and
 * every batch behind it) for ever; the whole exchange has a deadline of its own. undici's
 * `request()` would be the usual way, but it lives on the Dispatcher prototype only once the
 * index has loaded; a dispatch handler is also what the proxy's hot path uses (upstream/answer).
 */
export function post(pool: Pool, options: PostOptions): Promise<Posted> {
  return new Promise((resolve, reject) => {
    let status = 0
    let received = 0
    let started: { abort(reason: Error): void } | undefined
    let expired: Error | undefined
    const deadline = setTimeout(() => {
      expired = new Error(`no complete answer within ${options.timeoutMs} ms`)
      started?.abort(expired)
      reject(expired)
    }, options.timeoutMs)
    pool.dispatch(
      {
        path: options.path,
        method: 'POST',
        headers: options.headers,
        body: options.body,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      },
      {
        onRequestStart(controller) {
          started = controller
          // A request that waited for a connection past the deadline is not sent at all.
          if (expired !== undefined) controller.abort(expired)
        },
        onResponseStart(_controller, statusCode) {
          status = statusCode
        },
        onResponseData(controller, chunk) {
          received += chunk.length
          if (received <= MAX_ANSWER_BYTES) return
          // The status is the answer: taken, and the connection closed on the rest.
          clearTimeout(deadline)
          resolve({ status })
          controller.abort(new Error(`answer body over ${MAX_ANSWER_BYTES} bytes`))
        },
        onResponseEnd() {
          clearTimeout(deadline)
          resolve({ status })
        },
        onResponseError(_controller, error) {
          clearTimeout(deadline)
          reject(error)
        },
      },
    )
  })
}
