/**
 * The live tail: new exchanges as server-sent events, read from the store every half second
 * with the same query as `portico logs --follow`. Bounded: at most 200 rows per event, and the
 * stream ends after an hour (the page reconnects). `proxy` keeps one proxy's calls (one the
 * store does not know is a 404); `since` (a duration) first sends the calls of that window
 * recorded before (the last 200 at most); `after` (an exchange id, what a reconnecting page saw
 * last) goes on from there; a bad value is a 400, before the stream starts.
 * At most 32 tails are open at once per dashboard (`LiveTails`): each polls the store on the
 * proxy's thread and may hold up to 1 MiB its reader has not taken, so their number is bounded
 * too (400 readers that never read held about 1 GB).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Db } from '../store/open.ts'
import { type ExchangeRow, lastExchangeId, logsAfter, tailLogs } from '../store/report-logs.ts'
import { proxyOf } from './pages.ts'
import { BadRequest, type Params } from './query.ts'

const POLL_MS = 500
const MAX_STREAM_MS = 3_600_000
/** Bytes written and not yet taken by the reader, past which a poll is skipped. */
const MAX_UNREAD_BYTES = 1024 * 1024
/** Tails open at once, per dashboard (a few tabs; each one costs polls and buffers). */
const MAX_LIVE_TAILS = 32

/** A dashboard's live tails: each answered as `liveTail` does, at most MAX_LIVE_TAILS at once. */
export class LiveTails {
  #open = 0

  open(req: IncomingMessage, res: ServerResponse, store: () => Db, params: Params): void {
    if (this.#open >= MAX_LIVE_TAILS) {
      throw new BadRequest(
        `${MAX_LIVE_TAILS} live tails are open already: close a dashboard tab, or try again later`,
        503,
      )
    }
    liveTail(req, res, store, params)
    if (res.writableEnded) return // a HEAD: answered, holding no place
    this.#open++
    res.once('close', () => this.#open--)
  }
}

const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  'x-accel-buffering': 'no',
}

export function liveTail(
  req: IncomingMessage,
  res: ServerResponse,
  store: () => Db,
  params: Params,
  now = Date.now(),
): void {
  let db = store()
  // Checked before anything is written: a bad parameter is answered as on every other page.
  const proxy = proxyOf(db, params)
  const since = params.string('since') === undefined ? undefined : params.since(now, '1h')
  // Where a reconnecting page left off (the last id it showed): the calls recorded while it was
  // away follow, 200 a poll, instead of a hole (the tail ends each hour, and on a restart).
  const resume = params.integer('after', -1, 0, Number.MAX_SAFE_INTEGER)
  if (req.method === 'HEAD') {
    // The headers a GET would get, and the end: a HEAD has no body to wait for (before, its
    // headers never went out, and the tail held one of the 32 places for up to an hour).
    res.writeHead(200, STREAM_HEADERS).end()
    return
  }
  const filter = proxy === undefined ? {} : { proxy }
  // One read transaction: the rows sent first and the id the tail goes on after agree.
  const start = db.transaction(() => ({
    after: lastExchangeId(db),
    // A reconnect (`after`) goes on from its id: the window's rows were sent already.
    earlier:
      since === undefined || resume >= 0
        ? ([] as ExchangeRow[])
        : tailLogs(db, { ...filter, since }, 200),
  }))()
  // An id past the store's last is another store's (replaced, or pruned back): from now on.
  let after = resume >= 0 && resume <= start.after ? resume : start.after
  res.writeHead(200, STREAM_HEADERS)
  res.write(`retry: 2000\nevent: ready\ndata: ${JSON.stringify({ after })}\n\n`)
  if (start.earlier.length > 0)
    res.write(`event: calls\ndata: ${JSON.stringify(start.earlier)}\n\n`)
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
