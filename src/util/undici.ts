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
 * body is dropped: the batch exporters only need to know whether it was taken). undici's
 * `request()` would be the usual way, but it lives on the Dispatcher prototype only once the
 * index has loaded; a dispatch handler is also what the proxy's hot path uses (upstream/answer).
 */
export function post(pool: Pool, options: PostOptions): Promise<Posted> {
  return new Promise((resolve, reject) => {
    let status = 0
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
        // undici takes a handler for its newer interface by this method (even an empty one).
        onRequestStart() {},
        onResponseStart(_controller, statusCode) {
          status = statusCode
        },
        onResponseData() {},
        onResponseEnd() {
          resolve({ status })
        },
        onResponseError(_controller, error) {
          reject(error)
        },
      },
    )
  })
}
