/**
 * Reads just enough of a server message to record its outcome, without parsing large
 * results. JSON escapes quotes inside strings, so an unescaped `"error"` or `"isError"` can
 * only appear as a key: when neither appears, the message is a plain success and no parse is
 * needed. Otherwise the message is parsed, so the fast path never misreports.
 */
import {
  bigIdLiteral,
  isObject,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcResponse,
  jsonTextOf,
  parseJson,
  withoutBom,
} from '../jsonrpc/message.ts'

/**
 * How an exchange ended:
 * - `ok`: a JSON-RPC result (or an accepted notification / stream that ended cleanly);
 * - `error`: a JSON-RPC error object (see `errorCode`);
 * - `tool_error`: a `tools/call` result with `isError: true`;
 * - `http_error`: an HTTP failure with no JSON-RPC answer (upstream 4xx/5xx, unreachable…);
 * - `cancelled`: the client went away before the exchange completed.
 */
export type Outcome = 'ok' | 'error' | 'tool_error' | 'http_error' | 'cancelled'

export interface Summary {
  /** True when the message is a response (result or error), false for requests/notifications. */
  isResponse: boolean
  id?: JsonRpcId | null
  method?: string
  outcome: Outcome
  errorCode?: number
  errorMessage?: string
  /** The parsed message, when it had to be parsed. */
  parsed?: unknown
  /** Why the answer is not what it claims (a Portico reason), when it is not. */
  reason?: string
}

const MAX_ERROR_MESSAGE = 512

/**
 * `parse` forces a full parse (the caller needs the object, e.g. to rewrite or capture it).
 * A Buffer is searched as bytes and decoded only when it must be parsed, so a large plain
 * success is never turned into a string at all.
 */
export function summarize(data: string | Buffer, parse: boolean): Summary | undefined {
  if (!parse && isPlainSuccess(data)) return { isResponse: true, outcome: 'ok' }
  return summarizeValue(parseJson(data))
}

/**
 * Whether an answer read as a success from its text (`isPlainSuccess`) is one a client reads:
 * JSON at all (a body cut short, `{"result":{}`, or with `NaN` in it reads as a success and is
 * none a client can parse), in the shape `shapeProblem` asks (`"jsonrpc": "2.0"`, a result
 * object). Checked before such an answer is passed on as a call's response (answers of at most
 * 64 KB and response events; a larger answer is passed on as it streams).
 */
export function readsAsResponse(data: string | Buffer): boolean {
  let value: unknown
  try {
    value = JSON.parse(withoutBom(typeof data === 'string' ? data : data.toString('utf8')))
  } catch {
    return false
  }
  return isObject(value) && shapeProblem(value) === undefined
}

/** What may spell a key other than as its text reads (see `isPlainSuccess`). */
export const UNICODE_ESCAPE = '\\u'

/**
 * A success read from its text: one JSON object (a batch is not one response) without a
 * `"method"`, `"error"` or `"isError"` key. A `\u` escape may spell any key (`"\u006dethod"` is
 * `"method"` to every parser), so text holding one is parsed.
 */
function isPlainSuccess(data: string | Buffer): boolean {
  return (
    codeAt(data, skipSpace(data, 0)) === 0x7b && // '{'
    !data.includes('"method"') &&
    !data.includes('"error"') &&
    !data.includes('"isError"') &&
    !data.includes(UNICODE_ESCAPE)
  )
}

export function summarizeValue(value: unknown): Summary | undefined {
  if (!isObject(value)) return undefined
  if (typeof value.method === 'string') {
    const summary: Summary = {
      isResponse: false,
      method: value.method,
      outcome: 'ok',
      parsed: value,
    }
    if (isId(value.id)) summary.id = value.id
    return summary
  }
  const id = isId(value.id) || value.id === null ? value.id : undefined
  if (isObject(value.error)) {
    return {
      isResponse: true,
      id,
      outcome: 'error',
      errorCode: typeof value.error.code === 'number' ? value.error.code : undefined,
      errorMessage:
        typeof value.error.message === 'string'
          ? value.error.message.slice(0, MAX_ERROR_MESSAGE)
          : undefined,
      parsed: value,
    }
  }
  const result = isObject(value.result) ? value.result : undefined
  const outcome: Outcome = result?.isError === true ? 'tool_error' : 'ok'
  const summary: Summary = { isResponse: true, id, outcome, parsed: value }
  if (outcome === 'tool_error') summary.errorMessage = toolErrorText(result)
  return summary
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || typeof value === 'number'
}

function toolErrorText(result: JsonObject | undefined): string | undefined {
  const content = result?.content
  if (!Array.isArray(content)) return undefined
  const first = content.find((item) => isObject(item) && item.type === 'text')
  return isObject(first) && typeof first.text === 'string'
    ? first.text.slice(0, MAX_ERROR_MESSAGE)
    : undefined
}

export function asResponse(value: unknown): JsonRpcResponse | undefined {
  return isObject(value) && ('result' in value || 'error' in value)
    ? (value as unknown as JsonRpcResponse)
    : undefined
}

const ID_KEY = '"id"'

/**
 * Whether a response answers request `id`, read from its bytes (a whole JSON answer) or its
 * text (an SSE event's data). Cheap for the usual answer: an unescaped `"id"` can only be a
 * key, so with one occurrence the literal after it is compared; with several (nested objects
 * have ids too) the message is parsed.
 */
export function answersId(data: Buffer | string, id: JsonRpcId): boolean {
  const first = data.indexOf(ID_KEY)
  if (first === -1) return false
  if (data.indexOf(ID_KEY, first + ID_KEY.length) !== -1) return parsedAnswers(data, id)
  let at = skipSpace(data, first + ID_KEY.length)
  if (codeAt(data, at) !== 0x3a) return false // ':'
  at = skipSpace(data, at + 1)
  const literal = bigIdLiteral(id) ?? JSON.stringify(id)
  const end = at + (typeof data === 'string' ? literal.length : Buffer.byteLength(literal))
  const after = codeAt(data, skipSpace(data, end))
  if (textBetween(data, at, end) === literal && (after === 0x2c || after === 0x7d)) return true
  // Written another way (`1e2` for 100, a big id rounded by the upstream's parser): the value
  // decides, as `sameId` does; parsed only on this path, which answers that do match rarely take.
  return parsedAnswers(data, id)
}

function parsedAnswers(data: Buffer | string, id: JsonRpcId): boolean {
  const value = parseJson(data)
  return isObject(value) && sameId(value.id, id)
}

function skipSpace(data: Buffer | string, from: number): number {
  let at = from
  for (
    let code = codeAt(data, at);
    code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
  ) {
    code = codeAt(data, ++at)
  }
  return at
}

/** The byte (or UTF-16 unit) at `at`; NaN past the end. */
function codeAt(data: Buffer | string, at: number): number {
  return typeof data === 'string' ? data.charCodeAt(at) : (data[at] ?? Number.NaN)
}

function textBetween(data: Buffer | string, start: number, end: number): string {
  return typeof data === 'string' ? data.slice(start, end) : data.toString('utf8', start, end)
}

/** Whether a parsed id is `id` (a big integer id compares by value: the parse lost digits). */
export function sameId(parsed: unknown, id: JsonRpcId): boolean {
  // Identical also when both are a big id's marked literal (an answer Portico built).
  if (parsed === id) return true
  const literal = bigIdLiteral(id)
  if (literal === undefined) return false
  // The answer's id read exactly too (a JSON answer): an upstream's parser that rounded the
  // request's id writes the rounded digits, which name the same double (an SDK server
  // answers 9007199254740993 as 9007199254740992; its result was dropped as a 502).
  const answered = bigIdLiteral(parsed)
  if (answered !== undefined) return Number(answered) === Number(literal)
  return typeof parsed === 'number' && parsed === Number(literal)
}

/** Whether a response id on a call's stream answers the call (no id: the only answer). */
export function answersCall(call: { readonly id?: JsonRpcId }, id: unknown): boolean {
  if (id === undefined || id === null) return true
  return call.id !== undefined && sameId(id, call.id)
}

/**
 * Whether a response id is the call's own, as a client matches answers: a response without an
 * id, or with `"id": null`, answers no request a client is waiting for (its SDK drops it).
 */
export function isOwnAnswer(call: { readonly id?: JsonRpcId }, id: unknown): boolean {
  if (call.id === undefined) return answersCall(call, id)
  return id !== undefined && id !== null && sameId(id, call.id)
}

/**
 * What came instead of the response a request was waiting for, in words for its error (both
 * modes say the same): `value` is the parsed answer (undefined when it was not JSON). A shape
 * no client can read is named before the id it carries.
 */
export function describeNonResponse(value: unknown): string {
  if (value === undefined) return 'not JSON'
  if (Array.isArray(value)) return 'a batch, not one response'
  if (!isObject(value)) return 'not a JSON-RPC response'
  if (typeof value.method === 'string')
    return `a ${value.method.slice(0, 64)} message, not a response`
  const shape = shapeProblem(value)
  if (shape !== undefined) return shape
  if (value.id === undefined) return 'a response without an id'
  return `the response to id ${idText(value.id)}`
}

/** An id as its JSON text, clipped; one nested too deeply to write says so (no RangeError). */
export function idText(id: unknown): string {
  return jsonTextOf(id)?.slice(0, 64) ?? 'nested too deeply to show'
}

/** An answer that is not JSON-RPC at all, by its HTTP status and content type. */
export function notJsonRpcWords(status: number, contentType: string | undefined): string {
  return `HTTP ${status} (${contentType?.slice(0, 80) || 'no content type'}), not JSON-RPC`
}

/**
 * What is wrong with a response's members, if anything: a client reads `"jsonrpc": "2.0"` and
 * a result object (every MCP result is one), or an error object with a numeric code and a text
 * message; not both, not neither. The SDKs drop anything else, so the call would wait for the
 * client's own timeout.
 */
export function shapeProblem(response: JsonObject): string | undefined {
  if (response.jsonrpc !== '2.0') return 'a response without "jsonrpc": "2.0"'
  const hasResult = Object.hasOwn(response, 'result')
  if (!Object.hasOwn(response, 'error')) {
    if (!hasResult) return 'a response with neither a result nor an error'
    return isObject(response.result) ? undefined : 'a result that is not an object'
  }
  if (hasResult) return 'a response with both a result and an error'
  const error = response.error
  const readable =
    isObject(error) && typeof error.code === 'number' && typeof error.message === 'string'
  return readable ? undefined : 'an error that is not an object with a numeric code and a message'
}
