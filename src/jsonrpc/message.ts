/**
 * JSON-RPC 2.0 message shapes and the single decode of a request body. Everything downstream
 * works on the `Decoded` value produced here; the body is never parsed twice.
 */
import { randomBytes } from 'node:crypto'
import { PorticoError } from '../errors.ts'

export type JsonRpcId = string | number
export type JsonObject = Record<string, unknown>

export interface JsonRpcRequest {
  jsonrpc: '2.0'
  id: JsonRpcId
  method: string
  params?: JsonObject
}

export interface JsonRpcNotification {
  jsonrpc: '2.0'
  method: string
  params?: JsonObject
}

export interface JsonRpcErrorObject {
  code: number
  message: string
  data?: unknown
}

export interface JsonRpcResponse {
  jsonrpc: '2.0'
  id: JsonRpcId | null
  result?: JsonObject
  error?: JsonRpcErrorObject
}

export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse

export type MessageKind = 'request' | 'notification' | 'response'

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))
}

/** Classifies one parsed value, or returns undefined when it is not a JSON-RPC 2.0 message. */
export function kindOf(value: unknown): MessageKind | undefined {
  if (!isObject(value) || value.jsonrpc !== '2.0') return undefined
  if (typeof value.method === 'string') {
    if (value.params !== undefined && !isObject(value.params) && !Array.isArray(value.params)) {
      return undefined
    }
    if (!('id' in value)) return 'notification'
    return isId(value.id) ? 'request' : undefined
  }
  const hasResult = 'result' in value
  const hasError = 'error' in value
  if (hasResult === hasError) return undefined
  if (value.id !== null && !isId(value.id)) return undefined
  if (hasError && !(isObject(value.error) && typeof value.error.code === 'number')) return undefined
  return 'response'
}

/**
 * Integer values above 2^53 elsewhere in a message (a 64-bit id in a tool's arguments) stay
 * numbers inside Portico (rounded: argument checks and middleware see a number), and their
 * exact literal is kept beside them: `BIG_VALUES` maps the object or array holding one to its
 * member's literal. `encodeJson` writes the literal back while the member still holds the
 * number it rounds to. Only a body whose text has a run of 16 digits (2^53 has 16) takes this
 * path (`decodeBody`); every other one is JSON.parse alone.
 */
const BIG_VALUES = new WeakMap<object, Map<string, string>>()
/** A marker no client can send: it holds this process's random nonce. */
const NONCE = randomBytes(6).toString('hex')

/**
 * Integer ids above 2^53 lose digits in a JavaScript number. Such an id is carried inside
 * Portico as a marked string holding its exact literal, and `encodeJson` writes the literal
 * back, so a client gets its id exactly as it sent it. The marker holds the nonce: a client's
 * own string id (or a string in a result) spelled like it must stay a string.
 */
const BIG_ID = `\u0000id${NONCE}:`
/** The marker as JSON text, NUL escaped, as JSON.stringify writes it. */
const BIG_ID_TEXT = `\\u0000id${NONCE}:`
const BIG_ID_JSON = new RegExp(`"\\\\u0000id${NONCE}:(-?\\d+)"`, 'g')

/** The exact literal of a big integer id, or undefined for any other id. */
export function bigIdLiteral(id: unknown): string | undefined {
  return typeof id === 'string' && id.startsWith(BIG_ID) ? id.slice(BIG_ID.length) : undefined
}

const BIG_VALUE = `\u0000n${NONCE}:`
/** The marker as JSON text, NUL escaped, as JSON.stringify writes it. */
const BIG_VALUE_TEXT = `\\u0000n${NONCE}:`
const BIG_VALUE_JSON = new RegExp(`"\\\\u0000n${NONCE}:(-?\\d+)"`, 'g')
/**
 * Sixteen digits in a row, spelled out: a fixed-length pattern lets V8's regexp engine skip
 * ahead (6x faster than `\d{16}` on typical bodies: about 0.1 µs for 500 bytes, against
 * JSON.parse's 1.5 µs).
 */
const LONG_DIGITS = /\d\d\d\d\d\d\d\d\d\d\d\d\d\d\d\d/
/** Set once a body held a big integer: until then encoding costs JSON.stringify alone. */
let bigValuesSeen = false

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39

/**
 * The body's text with each integer literal that a double would round replaced by a marked
 * string holding it, or undefined when it has none. Only a valid literal in a value's place
 * is replaced (not one with a leading zero, not a member name), so the marked text is valid
 * JSON exactly when the body is.
 */
function markBigIntegers(text: string): string | undefined {
  let out: string[] | undefined
  let copied = 0
  const length = text.length
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      // A string: skipped to its closing quote.
      for (i++; i < length; i++) {
        const d = text.charCodeAt(i)
        if (d === 0x5c) i++
        else if (d === 0x22) break
      }
      continue
    }
    if (c !== 0x2d && !isDigit(c)) continue
    const start = i
    if (c === 0x2d) i++
    const first = i
    while (i < length && isDigit(text.charCodeAt(i))) i++
    const end = i
    // The whole number is read past, fraction and exponent included: the digits of a long
    // fraction (`0.30000000000000004`) are no integer of their own (marked, they broke the JSON).
    const decimal = skipFractionAndExponent(text, end)
    i = decimal - 1 // the loop's i++ reads the character after the number
    if (decimal !== end) continue // a fraction or exponent: a double as it is
    if (end - first < 16 || text.charCodeAt(first) === 0x30) continue
    let after = end
    while (after < length && text.charCodeAt(after) <= 0x20) after++
    if (text.charCodeAt(after) === 0x3a) continue // a member name's place
    const literal = text.slice(start, end)
    if (Number.isSafeInteger(Number(literal))) continue
    out ??= []
    out.push(text.slice(copied, start), `"${BIG_VALUE_TEXT}${literal}"`)
    copied = end
  }
  if (out === undefined) return undefined
  out.push(text.slice(copied))
  return out.join('')
}

/** Where a number's fraction and exponent end (`at` itself when it has neither). */
function skipFractionAndExponent(text: string, at: number): number {
  let i = at
  if (text.charCodeAt(i) === 0x2e) {
    i++
    while (isDigit(text.charCodeAt(i))) i++
  }
  const e = text.charCodeAt(i)
  if (e === 0x65 || e === 0x45) {
    i++
    const sign = text.charCodeAt(i)
    if (sign === 0x2b || sign === 0x2d) i++
    while (isDigit(text.charCodeAt(i))) i++
  }
  return i
}

/**
 * A copy of `object` with `changes` over it, the exact literals of the big integers it holds
 * going with the copy (`BIG_VALUES` is keyed by the holding object, and a spread copy is another
 * one): a rewritten answer writes back a 64-bit value beside the rewritten member as it came.
 * A changed member is never written as its old literal: `encodeJson` checks the value.
 */
export function withMembers<T extends object>(object: T, changes: object = {}): T {
  return keepLiterals(object, { ...object, ...changes })
}

/**
 * Gives `copy`, built from `source`'s members, the exact literals of the big integers `source`
 * held: member `name` of `source` is member `renamed.get(name) ?? name` of `copy`. (A value
 * changed on the way is not written as its old literal: `encodeJson` checks it.) Returns `copy`.
 */
export function keepLiterals<T extends object>(
  source: object,
  copy: T,
  renamed?: ReadonlyMap<string, string>,
): T {
  const literals = bigValuesSeen ? BIG_VALUES.get(source) : undefined
  if (literals === undefined) return copy
  if (renamed === undefined) {
    BIG_VALUES.set(copy, literals)
    return copy
  }
  const moved = new Map<string, string>()
  for (const [name, literal] of literals) moved.set(renamed.get(name) ?? name, literal)
  BIG_VALUES.set(copy, moved)
  return copy
}

/**
 * A member that holds a request id (or a progress token) as the client or backend wrote it:
 * an integer a double rounds, kept by the parser, as the marked literal a top-level id is made
 * (`bigIdLiteral`; `encodeJson` and `encodeValues` write it back exact), any other value as it
 * is. For ids named inside a message (a cancel's `requestId`, `_meta.progressToken`) and for a
 * backend's own request ids, which are matched and answered by value: rounded, a cancel named
 * no call, and a backend's request was answered under another id.
 */
export function exactIdMember(holder: object, key: string): unknown {
  const value = (holder as Record<string, unknown>)[key]
  if (typeof value !== 'number' || Number.isSafeInteger(value) || !bigValuesSeen) return value
  const literal = BIG_VALUES.get(holder)?.get(key)
  return literal !== undefined && Number(literal) === value ? `${BIG_ID}${literal}` : value
}

/** JSON.parse's reviver for a marked text: each marker back to its number, its literal kept. */
function reviveBig(this: unknown, key: string, value: unknown): unknown {
  if (typeof value !== 'string' || !value.startsWith(BIG_VALUE)) return value
  const literal = value.slice(BIG_VALUE.length)
  const holder = this as object
  let literals = BIG_VALUES.get(holder)
  if (literals === undefined) {
    literals = new Map()
    BIG_VALUES.set(holder, literals)
  }
  literals.set(key, literal)
  return Number(literal)
}

/** JSON.stringify's replacer: a member still holding its rounded big integer gets its marker. */
function markBig(this: unknown, key: string, value: unknown): unknown {
  if (typeof value !== 'number') return value
  const literal = BIG_VALUES.get(this as object)?.get(key)
  return literal !== undefined && Number(literal) === value ? `${BIG_VALUE}${literal}` : value
}

/** Parses a body's text, integers a double would round kept exact for `encodeJson`. */
function parseBody(text: string): unknown {
  const marked = LONG_DIGITS.test(text) ? markBigIntegers(text) : undefined
  if (marked === undefined) return JSON.parse(text)
  bigValuesSeen = true
  return JSON.parse(marked, reviveBig)
}

/**
 * JSON text of a value, the big integers a client sent in it written as their exact literal.
 * What the gateway writes to its backends (with its own ids): JSON.stringify alone until some
 * body held such an integer, then also one test of the text.
 */
export function encodeValues(value: unknown): string {
  let text: string
  try {
    text = encodeExact(value)
  } catch (error) {
    throw unencodable(error, 'invalid_params')
  }
  // A backend's own big request id, answered (`exactIdMember`).
  return text.includes(BIG_ID_TEXT) ? text.replace(BIG_ID_JSON, '$1') : text
}

/**
 * JSON text of a message Portico sends: big integer ids, and big integers a client sent
 * elsewhere in it, written as their exact literal.
 */
export function encodeJson(value: unknown): string {
  let text: string
  try {
    text = encodeExact(value)
  } catch (error) {
    throw unencodable(error, 'upstream_bad_response')
  }
  return text.includes(BIG_ID_TEXT) ? text.replace(BIG_ID_JSON, '$1') : text
}

/**
 * JSON.stringify's text of a value, or undefined for one it cannot write (nested too deeply):
 * for checks that can do without the text (a cache entry not kept, a comparison not made).
 */
export function jsonTextOf(value: unknown): string | undefined {
  try {
    return JSON.stringify(value)
  } catch {
    return undefined
  }
}

function encodeExact(value: unknown): string {
  const text = JSON.stringify(value)
  // How JSON.stringify writes a number that may be a rounded big integer: 16 digits or more
  // below 1e21, an exponent (`1.2345678901234568e+22`) above.
  if (!bigValuesSeen || !(LONG_DIGITS.test(text) || text.includes('e+'))) return text
  return JSON.stringify(value, markBig).replace(BIG_VALUE_JSON, '$1')
}

/**
 * A parsed message JSON.stringify cannot write back: JSON.parse reads any depth, but writing
 * recurses, so a value nested some thousands of levels deep overflows the stack (RangeError).
 * Such a message came from outside, so it is that side's error: a client's request is refused
 * as invalid params (not the backend's failure: it must not count against its breaker or be
 * retried), a backend's answer is a bad response.
 */
function unencodable(error: unknown, reason: 'invalid_params' | 'upstream_bad_response'): unknown {
  if (!(error instanceof RangeError)) return error
  const why = /call stack/i.test(error.message) ? 'it is nested too deeply' : error.message
  const message =
    reason === 'invalid_params'
      ? `Invalid params: the request cannot be forwarded as JSON (${why})`
      : `Upstream sent an invalid response: it cannot be relayed as JSON (${why})`
  return new PorticoError(reason, { message, cause: error })
}

/**
 * Replaces unsafe integer ids by their marked literal, found in the body's text. One pass over
 * the text for the whole batch: each message's literal is searched from where the previous
 * message's was found (messages come in text order), so two ids that round to the same number
 * keep their own literals, and a batch of big ids costs one scan, not one per message.
 */
function keepBigIds(messages: unknown[], text: string): void {
  let literals: IterableIterator<RegExpMatchArray> | undefined
  for (const message of messages) {
    if (!isObject(message) || typeof message.id !== 'number' || Number.isSafeInteger(message.id)) {
      continue
    }
    // The literal the parser kept for this message's own `id` member: the text's first `"id"`
    // from here may be a member nested in its params (`_meta.id`), or in an earlier message,
    // which rounds to the same number and is not its id.
    const own = BIG_VALUES.get(message)?.get('id')
    if (own !== undefined && Number(own) === message.id) {
      message.id = `${BIG_ID}${own}`
      continue
    }
    literals ??= text.matchAll(/"id"\s*:\s*(-?\d+)(?=\s*[,}])/g)
    for (let next = literals.next(); next.done !== true; next = literals.next()) {
      const literal = next.value[1] as string
      if (Number(literal) === message.id && !Number.isSafeInteger(Number(literal))) {
        message.id = `${BIG_ID}${literal}`
        break
      }
    }
  }
}

/**
 * Messages in one batch at most, whatever `[security] max_batch_size` says (it may lower it):
 * each becomes an upstream call, and a 4 MB batch of tiny notifications would be 100,000.
 */
export const MAX_BATCH = 1000

/**
 * Parses JSON text Portico may write on, or gives undefined when it is not JSON: integers a
 * double would round are kept exact (`encodeJson` writes their literal back). Backends' messages
 * in the gateway, which gives them its own ids.
 */
export function parseExact(text: string | Buffer): unknown {
  try {
    return parseBody(typeof text === 'string' ? text : text.toString('utf8'))
  } catch {
    return undefined
  }
}

/**
 * An upstream's message that Portico may rewrite and pass on to the client (a widget's CSP):
 * as `parseExact`, and its id, when a double would round it, carried as the client sent it
 * (a rewritten answer to `12345678901234567890` came back as `12345678901234567000`).
 */
export function parseMessage(text: string | Buffer): unknown {
  const source = typeof text === 'string' ? text : text.toString('utf8')
  const value = parseExact(source)
  if (value !== undefined && source.includes('"id"')) {
    keepBigIds(Array.isArray(value) ? value : [value], source)
  }
  return value
}

/** Parses JSON text, or gives undefined (for answers Portico inspects but never trusts). */
export function parseJson(text: string | Buffer): unknown {
  try {
    return JSON.parse(withoutBom(typeof text === 'string' ? text : text.toString('utf8')))
  } catch {
    return undefined
  }
}

/**
 * JSON text without a leading byte order mark, which RFC 8259 §8.1 lets a parser ignore and
 * fetch's `.json()` (what the SDK clients read answers with) does ignore.
 */
export function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

export interface Decoded {
  /** The messages in body order; a single message is a batch of one. */
  messages: JsonRpcMessage[]
  kinds: MessageKind[]
  batch: boolean
  /**
   * A batch's elements that are not JSON-RPC 2.0, by position: JSON-RPC answers each with its
   * own -32600 and serves the rest (§6). Such an element stands in `messages` as a bare request
   * (`{ jsonrpc, id }`, its id when it could be read) that must never reach the chain: its
   * refusal is here. Undefined when every element is valid, so a body without one costs nothing.
   * A client's malformed answer to a server request (batched or alone) is refused here too, but
   * stands in `messages` as an error answer under the id it names, which does go through the
   * chain: the server that asked is told (`MALFORMED_ANSWER`) instead of waiting.
   */
  invalid?: Array<PorticoError | undefined>
}

/**
 * Parses a request body once. Throws `parse_error` for invalid JSON and `invalid_request`
 * for JSON that is not JSON-RPC 2.0: a lone message, an empty batch or one too large. A batch's
 * invalid elements are refused one by one (`Decoded.invalid`).
 */
export function decodeBody(body: Buffer | string): Decoded {
  let value: unknown
  const text = typeof body === 'string' ? body : body.toString('utf8')
  try {
    value = parseBody(text)
  } catch (cause) {
    throw new PorticoError('parse_error', { cause })
  }
  const batch = Array.isArray(value)
  const items: unknown[] = batch ? (value as unknown[]) : [value]
  if (items.length === 0) throw new PorticoError('invalid_request', { message: 'Empty batch' })
  if (items.length > MAX_BATCH) {
    throw new PorticoError('invalid_request', {
      message: `Batch too large: ${items.length} messages (at most ${MAX_BATCH})`,
    })
  }
  if (text.includes('"id"')) keepBigIds(items, text)
  const kinds: MessageKind[] = []
  let invalid: Array<PorticoError | undefined> | undefined
  for (let index = 0; index < items.length; index++) {
    const item = items[index]
    const kind = kindOf(item)
    if (kind !== undefined && (kind !== 'response' || isWellFormedAnswer(item as JsonObject))) {
      kinds.push(kind)
      continue
    }
    const answered = answeredIdOf(item)
    if (answered !== undefined) {
      // A client's broken answer to a server request still names the request it answers:
      // the server is told, with an error under that id, instead of waiting for its deadline.
      invalid ??= []
      invalid[index] = malformedAnswerRefusal(item as JsonObject, answered)
      items[index] = { jsonrpc: '2.0', id: answered, error: MALFORMED_ANSWER }
      kinds.push('response')
      continue
    }
    const refusal = invalidMessage(item)
    if (!batch) throw refusal
    invalid ??= []
    invalid[index] = refusal
    items[index] = standIn(refusal.id)
    kinds.push('request')
  }
  const decoded: Decoded = { messages: items as JsonRpcMessage[], kinds, batch }
  if (invalid !== undefined) decoded.invalid = invalid
  return decoded
}

/** What the server that asked is told in place of a client's malformed answer. */
export const MALFORMED_ANSWER: JsonRpcErrorObject = {
  code: -32603,
  message: "The client's answer to this request was not a valid JSON-RPC response",
}
const MALFORMED_ANSWER_REFUSAL =
  'Invalid Request: an answer carries either a result or an error with an integer code and a string message'

/**
 * The id a message without a method answers, when it is a response in all but its shape
 * (neither or both of `result` and `error`, an error without an integer `code` or a string
 * `message`); undefined for anything else.
 */
function answeredIdOf(item: unknown): JsonRpcId | undefined {
  if (!isObject(item) || item.jsonrpc !== '2.0' || 'method' in item) return undefined
  return isId(item.id) ? item.id : undefined
}

/**
 * The client's refusal of a malformed answer: under its id only when the message could be a
 * request that lost its method (no `result`, no `error`), as any invalid message is, alone or
 * among a batch's answers; one carrying either is an answer, and an error under its id would
 * read, to the client, as the answer to a request of its own with that id (in a batch it is
 * left out of the answers, as an answer's is).
 */
function malformedAnswerRefusal(item: JsonObject, id: JsonRpcId): PorticoError {
  const answer = 'result' in item || 'error' in item
  return new PorticoError('invalid_request', {
    message: MALFORMED_ANSWER_REFUSAL,
    ...(answer ? {} : { id }),
  })
}

/** An error answer a server can read: an integer `code` and a string `message`. */
function isWellFormedAnswer(message: JsonObject): boolean {
  const error = message.error
  if (error === undefined) return true
  return isObject(error) && Number.isInteger(error.code) && typeof error.message === 'string'
}

/** What an invalid batch element becomes: a request carrying only the id its answer names. */
function standIn(id: JsonRpcId | undefined): JsonRpcMessage {
  return (id === undefined ? { jsonrpc: '2.0' } : { jsonrpc: '2.0', id }) as JsonRpcMessage
}

/** A message's id when it is one an answer can carry (a string or a finite number). */
export function usableIdOf(message: JsonRpcMessage): JsonRpcId | undefined {
  return 'id' in message && isId(message.id) ? message.id : undefined
}

/** How much of a body too large to read `leadingIdOf` looks at. */
export const ID_WINDOW_BYTES = 4096

/**
 * The top-level `"id"` of a JSON object from the first bytes of its text (a body too large to
 * read whole, answered 413): a string or a number wholly inside the first `ID_WINDOW_BYTES`, a
 * member of the outermost object only (not a batch, not one in `params`). Undefined when there
 * is none there, so the refusal goes without an id, as JSON-RPC allows.
 */
export function leadingIdOf(head: Buffer): JsonRpcId | undefined {
  const scanner = new TopLevelIdScanner()
  scanner.push(head.subarray(0, ID_WINDOW_BYTES).toString('utf8'))
  return scanner.id
}

/** The longest id literal `TopLevelIdScanner` keeps (quotes included): ids are a few characters. */
export const MAX_ID_LITERAL = 1024

/** Where `TopLevelIdScanner` is in the text. */
const Scan = {
  /** Before the outermost `{`. */
  Start: 0,
  /** Inside the object: strings skipped, brackets counted, depth-1 names noted. */
  Members: 1,
  /** After a depth-1 string `"id"` or `"method"`: a `:` makes it a member's name. */
  AfterName: 2,
  /** After `"id":`, before its value. */
  BeforeValue: 3,
  /** Inside the id's string literal. */
  StringValue: 4,
  /** Inside the id's number literal. */
  NumberValue: 5,
  /** After the id's literal: a `,` or `}` must follow for it to be whole. */
  AfterValue: 6,
  /** The object ended, or the text is not one: nothing more is read. */
  Done: 7,
} as const

type ScanState = (typeof Scan)[keyof typeof Scan]

const NUMBER_CHARS = /[-+.eE0-9]/

/**
 * The top-level `"id"` member of a JSON object, read from its text in pieces as they come
 * (`push`), keeping nothing of the text but the id's literal: nesting depth and strings are
 * tracked, so an `"id"` inside `params` or `result`, or inside a string, is not taken. An
 * answer too large to hold (an SSE event past `max_response_body_size`) can so still be matched
 * to its request, wherever its id is (the MCP SDK writes `{result, jsonrpc, id}`: last), and
 * told from a server's request (`method`). Only a string or number id is read; a literal
 * longer than `MAX_ID_LITERAL`, an id of another type, or text that is not an object gives none.
 * `leadingIdOf` is this over a body's first 4 KB. Each chunk costs a native search per string.
 */
export class TopLevelIdScanner {
  #state: ScanState = Scan.Start
  #depth = 0
  #inString = false
  #escaped = false
  /** A depth-1 string's first characters (up to 7: enough to tell `id` and `method`). */
  #name: string | undefined
  /** The depth-1 name whose `:` is awaited. */
  #member: 'id' | 'method' | undefined
  #literal = ''
  #idSeen = false
  #id: JsonRpcId | undefined
  #method = false

  /** The id, once read whole. */
  get id(): JsonRpcId | undefined {
    return this.#id
  }

  /** Whether a top-level `method` member was seen (a request or notification, not an answer). */
  get hasMethod(): boolean {
    return this.#method
  }

  /** Whether the object ended (or the text is not one): nothing more need be pushed. */
  get done(): boolean {
    return this.#state === Scan.Done
  }

  push(text: string): void {
    let i = 0
    const length = text.length
    while (i < length && this.#state !== Scan.Done) {
      if (this.#state === Scan.Members) {
        i = this.#members(text, i)
        continue
      }
      const c = text.charCodeAt(i)
      switch (this.#state) {
        case Scan.Start:
          if (c > 0x20) {
            if (c !== 0x7b) this.#state = Scan.Done
            else {
              this.#depth = 1
              this.#state = Scan.Members
            }
          }
          i++
          break
        case Scan.AfterName:
          if (c <= 0x20) i++
          else if (c !== 0x3a)
            this.#state = Scan.Members // a value, not a name: read on from here
          else {
            i++
            if (this.#member === 'method') {
              this.#method = true
              this.#state = Scan.Members
            } else {
              this.#idSeen = true
              this.#state = Scan.BeforeValue
            }
          }
          break
        case Scan.BeforeValue:
          if (c <= 0x20) i++
          else if (c === 0x22) {
            this.#literal = '"'
            this.#state = Scan.StringValue
            i++
          } else if (NUMBER_CHARS.test(text.charAt(i))) this.#state = Scan.NumberValue
          else this.#state = Scan.Members // null, an object, a boolean: no id an answer carries
          break
        case Scan.StringValue:
          i = this.#stringValue(text, i)
          break
        case Scan.NumberValue: {
          let end = i
          while (end < length && NUMBER_CHARS.test(text.charAt(end))) end++
          this.#keep(text.slice(i, end), false)
          if (end < length && this.#state === Scan.NumberValue) this.#state = Scan.AfterValue
          i = end
          break
        }
        case Scan.AfterValue:
          if (c <= 0x20) i++
          else if (c === 0x2c || c === 0x7d) {
            this.#id = idOfLiteral(this.#literal)
            this.#literal = ''
            this.#state = Scan.Members // the `,` or `}` is read there
          } else {
            this.#literal = ''
            this.#state = Scan.Done // cut, or not JSON
          }
          break
      }
    }
  }

  /** Members: strings skipped (a depth-1 one's name noted), brackets counted. */
  #members(text: string, from: number): number {
    let i = from
    const length = text.length
    let slashAt = -2 // not looked for yet
    while (i < length) {
      if (this.#inString) {
        if (this.#escaped) {
          this.#escaped = false
          this.#name = undefined // a name written with escapes is not read as one
          i++
          continue
        }
        // Straight to the next quote or backslash: a long string costs one native search.
        // The next backslash is looked for again only once passed: a search per string would
        // read to the chunk's end each time, when most JSON has none.
        const quote = text.indexOf('"', i)
        if (slashAt !== -1 && slashAt < i) slashAt = text.indexOf('\\', i)
        const stop = slashAt !== -1 && (quote === -1 || slashAt < quote) ? slashAt : quote
        const end = stop === -1 ? length : stop
        if (this.#name !== undefined) {
          this.#name += text.slice(i, Math.min(end, i + 7))
          if (this.#name.length > 6) this.#name = undefined
        }
        if (stop === -1) return length
        if (text.charCodeAt(stop) === 0x5c) {
          this.#escaped = true
          i = stop + 1
          continue
        }
        this.#inString = false
        const name = this.#name
        this.#name = undefined
        i = stop + 1
        if ((name === 'id' && !this.#idSeen) || name === 'method') {
          this.#member = name
          this.#state = Scan.AfterName
          return i
        }
        continue
      }
      const c = text.charCodeAt(i)
      if (c === 0x22) {
        this.#inString = true
        this.#name = this.#depth === 1 ? '' : undefined
      } else if (c === 0x7b || c === 0x5b) this.#depth++
      else if ((c === 0x7d || c === 0x5d) && --this.#depth === 0) {
        this.#state = Scan.Done
        return i + 1
      }
      i++
    }
    return i
  }

  /** The id's string literal, escapes and all, up to its closing quote. */
  #stringValue(text: string, from: number): number {
    let i = from
    const length = text.length
    while (i < length && this.#state === Scan.StringValue) {
      const c = text.charCodeAt(i)
      if (this.#escaped) this.#escaped = false
      else if (c === 0x5c) this.#escaped = true
      else if (c === 0x22) this.#state = Scan.AfterValue
      i++
      if (i - from > MAX_ID_LITERAL) break
    }
    this.#keep(text.slice(from, i), this.#state === Scan.StringValue)
    return i
  }

  /** Adds to the id's literal; one too long to be an id is let go and its string read past. */
  #keep(text: string, inString: boolean): void {
    this.#literal += text
    if (this.#literal.length <= MAX_ID_LITERAL) return
    this.#literal = ''
    this.#state = Scan.Members
    this.#inString = inString
  }
}

/** The id a whole string or number literal stands for, if it is one an answer can carry. */
function idOfLiteral(literal: string): JsonRpcId | undefined {
  const value = parseJson(literal)
  if (typeof value === 'string') return value
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined
  return Number.isSafeInteger(value) || !/^-?\d+$/.test(literal) ? value : `${BIG_ID}${literal}`
}

/** The id of a lone request in `body` (also of an invalid one that carries it), if any. */
export function requestIdOf(body: Buffer): JsonRpcId | undefined {
  try {
    const decoded = decodeBody(body)
    const message = decoded.messages[0]
    // A response's id names the request it answers: a refusal under that id would read, to
    // the client, as the answer to its own request of that id.
    if (decoded.batch || message === undefined || !('method' in message)) return undefined
    return usableIdOf(message)
  } catch (error) {
    return error instanceof PorticoError ? error.id : undefined
  }
}

/**
 * The ids of a batch's requests in `body` (an invalid element's too, undefined where it carries
 * no usable id), each of which a refusal answers as the batch's own answers would; undefined
 * when `body` is no readable batch.
 */
export function batchRequestIdsOf(body: Buffer): Array<JsonRpcId | undefined> | undefined {
  try {
    const decoded = decodeBody(body)
    if (!decoded.batch) return undefined
    const ids: Array<JsonRpcId | undefined> = []
    decoded.kinds.forEach((kind, index) => {
      const message = decoded.messages[index]
      if (kind === 'request' && message !== undefined) ids.push(usableIdOf(message))
    })
    return ids
  } catch {
    return undefined
  }
}

/**
 * A message that is not JSON-RPC 2.0 (a wrong `jsonrpc`, no `method`, bad `params`) but
 * carries a usable id is answered with that id, so the client can match the error to its
 * request (alone, or among a batch's answers).
 */
function invalidMessage(item: unknown): PorticoError {
  const id = isObject(item) && isId(item.id) ? item.id : undefined
  return new PorticoError('invalid_request', id === undefined ? {} : { id })
}

export function errorResponse(
  id: JsonRpcId | null | undefined,
  error: JsonRpcErrorObject,
): JsonRpcResponse | Omit<JsonRpcResponse, 'id'> {
  // 2025-11-25+ make `id` optional when it is unknown; `null` is not a valid RequestId.
  return id === undefined || id === null ? { jsonrpc: '2.0', error } : { jsonrpc: '2.0', id, error }
}
