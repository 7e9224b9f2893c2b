/**
 * Incremental Server-Sent Events framing (WHATWG EventSource rules). The parser keeps the
 * exact bytes of each event so untouched events are forwarded byte for byte; only events a
 * feature rewrites are re-encoded.
 */
import { PorticoError } from '../errors.ts'
import { type JsonRpcId, TopLevelIdScanner } from '../jsonrpc/message.ts'

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
  /**
   * Set on an event over the bound that a parser made with `discardOversized` read past
   * instead of keeping (`raw` and `data` are then empty): what could be learned of it.
   */
  discarded?: DiscardedEvent
}

/** An event over the bound, read past without being kept (see `SseParser`'s `discardOversized`). */
export interface DiscardedEvent {
  /** Its length in characters (at least the bound). */
  size: number
  /** Its `event` field, when it had one. */
  event: string | undefined
  /** The top-level `id` of the JSON in its data, when one could be read. */
  id: JsonRpcId | undefined
  /** Whether that JSON has a top-level `method` (a server's request or notification). */
  hasMethod: boolean
}

/** The refusal of an SSE event over `max_response_body_size` (the same words on every path). */
export function eventTooLarge(maxEventBytes: number): PorticoError {
  return new PorticoError('response_too_large', {
    message: `Upstream sent an SSE event larger than ${maxEventBytes} bytes`,
  })
}

export interface SseParserOptions {
  /**
   * An event over the bound is read past (never more than the bound held) and given out as a
   * `discarded` event, instead of failing the whole stream: for a stream that carries many
   * calls' answers (legacy HTTP+SSE), where one answer too large must not end the others. Not
   * with `takeAhead`.
   */
  discardOversized?: boolean
}

const BOM = 0xfeff

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
  /** The bound on one event, read when it is checked (a reload may change it mid-stream). */
  readonly #maxEventBytes: () => number
  readonly #discard: boolean
  /** The event over the bound being read past (`discardOversized`). */
  #skipping: EventSkipper | undefined
  /** The event read past ended with a CR at a chunk's end: a LF starting the next is its pair. */
  #dropLF = false
  /** Events completed while the pending text was handed to the skipper, for `push` to return. */
  #ready: SseEvent[] = []
  /** Some text came: a byte order mark is looked for only before it. */
  #begun = false

  constructor(
    maxEventBytes: number | (() => number) = 16 * 1024 * 1024,
    options: SseParserOptions = {},
  ) {
    this.#maxEventBytes = typeof maxEventBytes === 'number' ? () => maxEventBytes : maxEventBytes
    this.#discard = options.discardOversized === true
  }

  /**
   * Returns the events completed by this chunk. Throws when one event exceeds the bound, unless
   * made with `discardOversized`.
   */
  push(chunk: string): SseEvent[] {
    if (!this.#begun) {
      if (chunk.length === 0) return []
      this.#begun = true
      // A byte order mark before the first field is no part of it (the SSE spec, and the
      // TextDecoder an SDK client reads with, drop it; Node's utf8 decoding keeps it).
      if (chunk.charCodeAt(0) === BOM) return this.push(chunk.slice(1))
    }
    if (this.#dropLF) {
      this.#dropLF = false
      if (chunk.charCodeAt(0) === 10) return this.push(chunk.slice(1))
    }
    const skipping = this.#skipping
    if (skipping !== undefined) {
      const end = skipping.read(chunk)
      if (end === -1) return []
      this.#skipping = undefined
      this.#dropLF = skipping.endedOnCR && end === chunk.length
      const events = end < chunk.length ? this.push(chunk.slice(end)) : []
      events.unshift(skipping.event())
      return events
    }
    // The pending text holds no event end, so one can only be in this chunk or straddle the
    // join (a blank line is at most 4 characters): searching just those, never the pending
    // text joined to the chunk, keeps a large event's cost per chunk flat.
    const resume = Math.max(0, this.#pendingLength - 3)
    if (this.#pending.length > 0 && !this.#endsIn(chunk)) {
      this.#keep(chunk)
      return this.#withReady([])
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
      let event = parseBlock(text.slice(start, boundary.end), boundary.blockEnd - start)
      // Only the first event completed here began in the text already handed out.
      if (start === 0 && ahead > 0) event.ahead = ahead
      // Whole in one read with what was pending, it can be past the bound without being kept.
      if (this.#discard && event.raw.length > this.#maxEventBytes()) event = discardedOf(event.raw)
      events.push(event)
      start = boundary.end
    }
    if (start < text.length) this.#keep(start === 0 ? text : text.slice(start))
    return this.#withReady(events)
  }

  #withReady(events: SseEvent[]): SseEvent[] {
    if (this.#ready.length === 0) return events
    const ready = this.#ready
    this.#ready = []
    events.push(...ready)
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

  /** How many characters of an unfinished event it holds (its bound's measure). */
  get held(): number {
    return this.#pendingLength
  }

  /**
   * The stream ended: what is pending is an unterminated trailing block (every complete event
   * went out as it completed), dropped, as EventSource does; unless it is only line ends (the
   * LF of a last `\r\r\n`), given out as an empty block so that the bytes stay the upstream's.
   */
  end(): SseEvent[] {
    const rest = this.#pending.length > 0 ? this.#pending.join('') : ''
    this.#pending = []
    this.#pendingLength = 0
    this.#aheadChunks = 0
    this.#aheadLength = 0
    return rest !== '' && /^[\r\n]+$/.test(rest) ? [{ raw: rest, data: '', comment: true }] : []
  }

  /** Whether an event ends in `chunk` or across its join with the pending text. */
  #endsIn(chunk: string): boolean {
    if (findBoundary(chunk, 0) !== undefined) return true
    return findBoundary(tailOf(this.#pending, 3) + chunk.slice(0, 3), 0) !== undefined
  }

  #keep(text: string): void {
    this.#pending.push(text)
    this.#pendingLength += text.length
    const max = this.#maxEventBytes()
    if (this.#pendingLength <= max) return
    if (!this.#discard) throw eventTooLarge(max)
    // The skipper reads what is pending (no event's end: that went out as it came), then the
    // rest as it comes.
    const held = this.#pending.join('')
    this.#pending = []
    this.#pendingLength = 0
    this.#aheadChunks = 0
    this.#aheadLength = 0
    this.#skipping = new EventSkipper()
    this.#ready.push(...this.push(held))
  }
}

/** An event read whole but over the bound, as `discardOversized` gives it out. */
function discardedOf(raw: string): SseEvent {
  const skipper = new EventSkipper()
  skipper.read(raw)
  return skipper.event()
}

/** The longest `event` field an `EventSkipper` keeps. */
const MAX_EVENT_NAME = 64

/**
 * Reads an event's text as it comes, up to its end (a blank line), keeping only its `event`
 * field and what `TopLevelIdScanner` keeps of its data (the JSON-RPC id): bounded memory,
 * whatever the event's size. Lines and their ends follow `SseParser`'s rules; blank lines
 * before the event's first field do not end it (the parser reads them as part of the event).
 */
class EventSkipper {
  #size = 0
  readonly #ids = new TopLevelIdScanner()
  #field = ''
  #inValue = false
  #valueStart = false
  #lineEmpty = true
  #started = false
  #afterCR = false
  #dataLines = 0
  #event: string | undefined
  /** The blank line that ended the event was a lone CR (a LF may follow in the next chunk). */
  endedOnCR = false

  /** Reads `text`: the index just past the event's end, or -1 when the event goes on. */
  read(text: string): number {
    const length = text.length
    let i = 0
    while (i < length) {
      const c = text.charCodeAt(i)
      if (this.#afterCR) {
        this.#afterCR = false
        if (c === 10) {
          i++
          continue
        }
      }
      if (c === 10 || c === 13) {
        i++
        this.#afterCR = c === 13
        if (this.#lineEmpty && this.#started) {
          this.#size += i
          this.endedOnCR = c === 13
          if (this.endedOnCR && text.charCodeAt(i) === 10) return i + 1
          return i
        }
        this.#endLine()
        continue
      }
      this.#lineEmpty = false
      this.#started = true
      if (!this.#inValue) {
        if (c === 0x3a) {
          this.#inValue = true
          this.#valueStart = true
          if (this.#field === 'data' && this.#dataLines++ > 0) this.#data('\n')
          if (this.#field === 'event') this.#event = '' // the last `event` line names it
        } else if (this.#field.length < 8) this.#field += text.charAt(i)
        i++
        continue
      }
      if (this.#valueStart) {
        this.#valueStart = false
        if (c === 32) {
          i++
          continue
        }
      }
      // The rest of the line's value at once.
      let end = text.indexOf('\n', i)
      const cr = text.indexOf('\r', i)
      if (cr !== -1 && (end === -1 || cr < end)) end = cr
      if (end === -1) end = length
      if (this.#field === 'data') this.#data(text.slice(i, end))
      else if (this.#field === 'event') {
        this.#event = `${this.#event ?? ''}${text.slice(i, end)}`.slice(0, MAX_EVENT_NAME)
      }
      i = end
    }
    this.#size += length
    return -1
  }

  #endLine(): void {
    // `data` alone on its line is a data line with an empty value.
    if (!this.#inValue && this.#field === 'data' && this.#dataLines++ > 0) this.#data('\n')
    if (!this.#inValue && this.#field === 'event') this.#event = ''
    this.#field = ''
    this.#inValue = false
    this.#valueStart = false
    this.#lineEmpty = true
  }

  #data(text: string): void {
    if (!this.#ids.done) this.#ids.push(text)
  }

  event(): SseEvent {
    const discarded: DiscardedEvent = {
      size: this.#size,
      // An empty type is the default one (`message`), as `parseBlock` reads it.
      event: this.#event === '' ? undefined : this.#event,
      id: this.#ids.id,
      hasMethod: this.#ids.hasMethod,
    }
    return { raw: '', data: '', comment: false, discarded }
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
        // A blank line's CR ends the event whether or not a LF follows it: at the text's end,
        // the event goes now (an upstream that waits after `\r\r` must not hold it back) and a
        // LF that comes next starts the next block, which reads past it as an empty line.
        const after = d === 13 && text.charCodeAt(next + 1) === 10 ? next + 2 : next + 1
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
    // An empty type is the default one (`message`), as the SSE spec and every client read it.
    else if (field === 'event') event.event = value === '' ? undefined : value
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
