/**
 * The live tail: new exchanges as server-sent events, read from the store every half second
 * with the same query as `portico logs --follow`. Bounded: at most 200 rows per event, and the
 * stream ends after an hour (the page reconnects).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Db } from '../store/open.ts'
import { lastExchangeId, logsAfter } from '../store/report-logs.ts'
import type { Params } from './query.ts'

const POLL_MS = 500
const MAX_STREAM_MS = 3_600_000
/** Bytes written and not yet taken by the reader, past which a poll is skipped. */
const MAX_UNREAD_BYTES = 1024 * 1024

export function liveTail(
  req: IncomingMessage,
  res: ServerResponse,
  store: () => Db,
  params: Params,
): void {
  const proxy = params.string('proxy', 200)
  const filter = proxy === undefined ? {} : { proxy }
  let db = store()
  let after = lastExchangeId(db)
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  })
  res.write(`retry: 2000\nevent: ready\ndata: ${JSON.stringify({ after })}\n\n`)
  const poll = setInterval(() => {
    // A reader that does not keep up is sent nothing more until it does: the rows wait in the
    // store (`after` stays), not in this process's buffers.
    if (res.writableLength > MAX_UNREAD_BYTES) return
    try {
      // Another store at the path (the old one deleted or replaced): all its rows are new,
      // as for `portico logs --follow`.
      const current = store()
      if (current !== db) {
        db = current
        after = 0
      }
      const { rows, lastId } = logsAfter(db, filter, after, 200)
      after = lastId
      if (rows.length > 0) res.write(`event: calls\ndata: ${JSON.stringify(rows)}\n\n`)
      else res.write(': keep-alive\n\n')
    } catch (error) {
      res.write(`event: failure\ndata: ${JSON.stringify(String(error))}\n\n`)
      stop()
    }
  }, POLL_MS)
  const limit = setTimeout(() => stop(), MAX_STREAM_MS)
  function stop(): void {
    clearInterval(poll)
    clearTimeout(limit)
    res.end()
  }
  req.on('close', stop)
}
