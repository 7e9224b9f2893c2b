/**
 * Incremental Server-Sent Events framing (WHATWG EventSource rules). The parser keeps the
 * exact bytes of each event so untouched events are forwarded byte for byte; only events a
 * feature rewrites are re-encoded.
 */
import { PorticoError } from '../errors.ts'

export interface SseEvent {
  /** The event's exact text including its terminating blank line. */
  raw: string
  /** `data:` lines joined by `\n`; empty for comments and priming events. */
  data: string
  event?: string
  id?: string
  retry?: number
  /** True when the block held only `:` comments (keep-alives). */
  comment: boolean
  /** How much of `raw` (its first characters) was already handed out by `takeAhead`. */
  ahead?: number
}

/** Splits a text stream into events; feed chunks in order, then call `end()`. */
export class SseParser {
  /**
   * Text received since the last complete event, as the chunks came. Kept apart, not joined:
   * appending each chunk to one string and searching it made V8 flatten the whole pending text
   * per chunk, quadratic in an event's size (a 10 MB event took seconds, bench curve C2).
   */
  #pending: string[] = []
  #pendingLength = 0
  /** Of the pending chunks, how many `takeAhead` handed out, and their length. */
  #aheadChunks = 0
  #aheadLength = 0
  readonly #maxEventBytes: number

  constructor(maxEventBytes = 16 * 1024 * 1024) {
    this.#maxEventBytes = maxEventBytes
  }

  /** Returns the events completed by this chunk. Throws when one event exceeds the bound. */
  push(chunk: string): SseEvent[] {
    // The pending text holds no event end, so one can only be in this chunk or straddle the
    // join (a blank line is at most 4 characters): searching just those, never the pending
    // text joined to the chunk, keeps a large event's cost per chunk flat.
    const resume = Math.max(0, this.#pendingLength - 3)
    if (this.#pending.length > 0 && !this.#endsIn(chunk)) {
      this.#keep(chunk)
      return []
    }
    // One join, flat: the pending text plus the chunk as a second step would be copied twice.
    const text = this.#pending.length > 0 ? joinWith(this.#pending, chunk) : chunk
    const ahead = this.#aheadLength
    this.#pending = []
    this.#pendingLength = 0
    this.#aheadChunks = 0
    this.#aheadLength = 0
    const events: SseEvent[] = []
    let start = 0
    for (;;) {
      const boundary = findBoundary(text, start === 0 ? resume : start)
      if (boundary === undefined) break
      const event = parseBlock(text.slice(start, boundary.end), boundary.blockEnd - start)
      // Only the first event completed here began in the text already handed out.
      if (start === 0 && ahead > 0) event.ahead = ahead
      events.push(event)
      start = boundary.end
    }
    if (start < text.length) this.#keep(start === 0 ? text : text.slice(start))
    return events
  }

  /**
   * The text of the event under way not handed out yet, once that event holds at least
   * `from` characters (else undefined): a large event can be passed on while it arrives, and
   * its `raw`, when it completes, says how much of it went ahead (`ahead`). The event is still
   * parsed whole; this only lets its bytes go before its end.
   */
  takeAhead(from: number): string | undefined {
    if (this.#pendingLength < from || this.#aheadChunks === this.#pending.length) return undefined
    const text = this.#pending.slice(this.#aheadChunks).join('')
    this.#aheadChunks = this.#pending.length
    this.#aheadLength = this.#pendingLength
    return text
  }

  /** An unterminated trailing block is dropped, as EventSource does. */
  end(): string {
    const rest = this.#pending.join('')
    this.#pending = []
    this.#pendingLength = 0
    this.#aheadChunks = 0
    this.#aheadLength = 0
    return rest
  }

  /** Whether an event ends in `chunk` or across its join with the pending text. */
  #endsIn(chunk: string): boolean {
    if (findBoundary(chunk, 0) !== undefined) return true
    return findBoundary(tailOf(this.#pending, 3) + chunk.slice(0, 3), 0) !== undefined
  }

  #keep(text: string): void {
    this.#pending.push(text)
    this.#pendingLength += text.length
    if (this.#pendingLength > this.#maxEventBytes) {
      throw new PorticoError('response_too_large', {
        message: `Upstream sent an SSE event larger than ${this.#maxEventBytes} bytes`,
      })
    }
  }
}

function joinWith(parts: string[], last: string): string {
  parts.push(last)
  return parts.join('')
}

/** The last `count` characters of the pending chunks (fewer when there are not that many). */
function tailOf(parts: readonly string[], count: number): string {
  let tail = ''
  for (let i = parts.length - 1; i >= 0 && tail.length < count; i--) {
    tail = (parts[i] as string) + tail
  }
  return tail.length > count ? tail.slice(tail.length - count) : tail
}

interface Boundary {
  /** Index just after the blank line. */
  end: number
  /** Index where the block's content ends (before the final line terminators). */
  blockEnd: number
}

/** Finds the next blank line (`\n\n`, `\r\n\r\n`, `\r\r`, mixed) at or after `from`. */
function findBoundary(text: string, from: number): Boundary | undefined {
  if (text.indexOf('\r', from) === -1) {
    // The common case (LF only) uses the native substring search.
    const at = text.indexOf('\n\n', from)
    return at === -1 ? undefined : { end: at + 2, blockEnd: at }
  }
  let i = from
  const length = text.length
  while (i < length) {
    const c = text.charCodeAt(i)
    if (c === 10 || c === 13) {
      const lineEnd = i
      const next = c === 13 && text.charCodeAt(i + 1) === 10 ? i + 2 : i + 1
      if (c === 13 && i + 1 === length) return undefined // a CR at the end may be half a CRLF
      const d = text.charCodeAt(next)
      if (d === 10 || d === 13) {
        const after = d === 13 && text.charCodeAt(next + 1) === 10 ? next + 2 : next + 1
        if (d === 13 && next + 1 === length) return undefined
        return { end: after, blockEnd: lineEnd }
      }
      i = next
      continue
    }
    i++
  }
  return undefined
}

function parseBlock(raw: string, contentLength: number): SseEvent {
  const content = raw.slice(0, contentLength)
  const data: string[] = []
  const event: SseEvent = { raw, data: '', comment: true }
  // The regular expression is needed only for CR line ends; LF alone splits natively (a
  // 10 MB data line took milliseconds through the expression).
  const lines = content.includes('\r') ? content.split(/\r\n|\r|\n/) : content.split('\n')
  for (const line of lines) {
    if (line === '' || line.charCodeAt(0) === 58) continue // ':' comment
    event.comment = false
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.charCodeAt(0) === 32) value = value.slice(1)
    if (field === 'data') data.push(value)
    else if (field === 'event') event.event = value
    else if (field === 'id') event.id = value
    else if (field === 'retry' && /^\d+$/.test(value)) event.retry = Number(value)
  }
  event.data = data.join('\n')
  return event
}

/** Encodes a message event; used only for events whose data a feature changed. */
export function encodeSseEvent(data: string, fields: { event?: string; id?: string } = {}): string {
  let out = ''
  if (fields.id !== undefined) out += `id: ${fields.id}\n`
  out += `event: ${fields.event ?? 'message'}\n`
  for (const line of data.split('\n')) out += `data: ${line}\n`
  return `${out}\n`
}
