/**
 * An event stream answers when its first message arrives, not with its head: servers built on
 * the MCP SDKs answer every call with a stream whose head (and a priming event, for
 * resumption) comes at once. What judges an attempt (hedging's race, retries, the breaker and
 * ejection) waits for that message, so a tool that hangs and times out inside its stream is
 * the attempt's failure, not a success with a 200 head.
 */
import { PorticoError } from '../errors.ts'
import type { Call } from '../pipeline/call.ts'
import { callNext, type Handler } from '../pipeline/compose.ts'
import { type Reply, type StreamEvent, StreamReply } from '../pipeline/reply.ts'

/**
 * Non-message events (an SSE priming event, comments) a stream may send before its first
 * message and still count as not answering; past this many it counts as answering, so that an
 * upstream sending only those cannot make Portico hold an unbounded list.
 */
const MAX_EVENTS_BEFORE_MESSAGE = 16

/**
 * An event stream answers when its first message arrives, not with its headers: servers built
 * on the MCP SDKs answer every call with a stream whose head (and a priming event, for
 * resumption) comes at once, so a head would win every race and a hedge never be sent. The
 * events read meanwhile are given back first; nothing reaches the client before the race is
 * decided, so the client never sees two attempts' progress.
 */
export async function untilFirstMessage(reply: StreamReply): Promise<StreamReply> {
  const events = reply.events[Symbol.asyncIterator]()
  const before: StreamEvent[] = []
  let ended = false
  try {
    while (before.length < MAX_EVENTS_BEFORE_MESSAGE) {
      const next = await events.next()
      if (next.done === true) {
        ended = true
        break
      }
      before.push(next.value)
      if (next.value.fragment || next.value.isMessage) break
    }
  } catch (error) {
    void events.return?.()?.catch(() => {})
    throw error
  }
  // Ended before any message: an answer only when it can be resumed (an event id: SSE
  // polling ends streams on purpose); else the upstream broke off, as a reset would be.
  if (ended && !before.some((event) => event.isMessage) && !resumable(before)) {
    throw new PorticoError('upstream_stream_ended', {
      message: 'Upstream ended its answer without a response',
    })
  }
  const replayed = new Replayed(before, events)
  return new StreamReply(replayed, {
    status: reply.status,
    headers: reply.headers,
    // The events read ahead are waiting: the first write carries the head with them.
    buffered: () => replayed.ahead > 0 || reply.buffered(),
  })
}

/**
 * Whether a client could resume from these events: its last event id, as the SSE spec keeps
 * it (edge/send.ts reads it the same way), is not empty: an empty `id:` resets it, and one
 * holding a NUL is ignored.
 */
function resumable(events: readonly StreamEvent[]): boolean {
  let last = ''
  for (const event of events) {
    if (event.id !== undefined && !event.id.includes('\u0000')) last = event.id
  }
  return last !== ''
}

/**
 * The events read ahead, then the rest of the stream. An object rather than an async
 * generator: a generator that never started ignores `return()`, and the stream underneath
 * (the upstream's request) must be let go when the reply is dropped unread.
 */
class Replayed implements AsyncIterableIterator<StreamEvent> {
  readonly #before: StreamEvent[]
  readonly #rest: AsyncIterator<StreamEvent>

  constructor(before: StreamEvent[], rest: AsyncIterator<StreamEvent>) {
    this.#before = before
    this.#rest = rest
  }

  /** Events read ahead and not yet taken. */
  get ahead(): number {
    return this.#before.length
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<StreamEvent> {
    return this
  }

  next(): Promise<IteratorResult<StreamEvent>> {
    const first = this.#before.shift()
    return first === undefined ? this.#rest.next() : Promise.resolve({ value: first, done: false })
  }

  async return(): Promise<IteratorResult<StreamEvent>> {
    this.#before.length = 0
    await this.#rest.return?.()
    return { value: undefined, done: true }
  }
}

/**
 * Attempts through `next` whose event-stream answers resolve at their first message (a
 * stream that fails before one rejects, as an attempt that fails does). A
 * `subscriptions/listen` stream only listens, and may stay quiet: it resolves at its head.
 */
export function answeredAtFirstMessage(next: Handler): Handler {
  return (call) => callAtFirstMessage(next, call)
}

/** `next(call)` as `answeredAtFirstMessage` runs it, without a handler made per call. */
export function callAtFirstMessage(next: Handler, call: Call): Promise<Reply> {
  return callNext(next, call).then((reply: Reply) =>
    reply instanceof StreamReply && reply.status < 500 && call.method !== 'subscriptions/listen'
      ? untilFirstMessage(reply)
      : reply,
  )
}
