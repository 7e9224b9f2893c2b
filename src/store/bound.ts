/**
 * Bounds on everything the store records, applied by the sink before an event is buffered.
 * Text arrives from clients (tool names, URIs, session ids, client names, User-Agents) and is
 * interned in an append-only table, so a client sending unique megabyte names could fill the
 * disk: every text field is cut to a prefix plus a short hash (distinct values stay distinct,
 * the same value always maps to the same text). JSON payloads (schema params and results) are
 * measured without recursion, so a message nested thousands of levels deep can never overflow
 * a stack on the way to the writer; one out of bounds is replaced by a small marker object that
 * says why, and schema capture records "not captured" instead of a cut answer.
 */
import type { JsonObject } from '../jsonrpc/message.ts'
import type { ExchangeEvent, NotificationEvent, PorticoEvent } from '../observe/event.ts'
import { boundPrefix, boundText, MAX_TEXT } from '../util/bound-text.ts'

/** MAX_TEXT: the longest recorded name, URI, method, session id, client name, User-Agent… */
export { boundPrefix, boundText, MAX_TEXT }

/** Longest recorded error message (cut at the end with an ellipsis; not interned). */
export const MAX_ERROR_MESSAGE = 512
/** Deepest JSON nesting recorded in a payload. */
export const MAX_DEPTH = 64
/** Largest payload recorded (approximate JSON size, in bytes). */
export const MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
/** Key of the marker object that replaces an out-of-bounds payload. */
export const TRUNCATED = 'portico/truncated'

/** Cuts text at the end, on a word boundary when one is near, and marks the cut with `…`. */
export function cutText(value: string, max: number): string {
  if (value.length <= max) return value
  const head = value.slice(0, max - 1)
  const space = head.lastIndexOf(' ')
  return `${space >= max * 0.6 ? head.slice(0, space) : head}…`
}

export type PayloadVerdict =
  | { ok: true; bytes: number }
  | { ok: false; bytes: number; reason: string }

/**
 * Approximate JSON size and depth of a value, walked with an explicit stack (no recursion), and
 * stopped as soon as either bound is crossed, so measuring costs at most MAX_PAYLOAD_BYTES.
 */
export function measurePayload(
  value: unknown,
  maxDepth = MAX_DEPTH,
  maxBytes = MAX_PAYLOAD_BYTES,
): PayloadVerdict {
  const values: unknown[] = [value]
  const depths: number[] = [1]
  let bytes = 0
  while (values.length > 0) {
    const current = values.pop()
    const depth = depths.pop() as number
    if (typeof current === 'string') bytes += current.length + 2
    else if (current === null || typeof current !== 'object') bytes += 8
    else {
      if (depth > maxDepth)
        return { ok: false, bytes, reason: `nested deeper than ${maxDepth} levels` }
      bytes += 2
      const isArray = Array.isArray(current)
      for (const [key, item] of Object.entries(current)) {
        if (!isArray) bytes += key.length + 4
        values.push(item)
        depths.push(depth + 1)
      }
    }
    if (bytes > maxBytes) return { ok: false, bytes, reason: `larger than ${maxBytes} bytes` }
  }
  return { ok: true, bytes }
}

/** The marker recorded instead of a payload that is out of bounds (or not queued). */
export function truncatedPayload(reason: string): JsonObject {
  return { [TRUNCATED]: reason }
}

/** Why a payload was not recorded, when it is a marker. */
export function truncationOf(payload: JsonObject | undefined): string | undefined {
  const reason = payload?.[TRUNCATED]
  return typeof reason === 'string' ? reason : undefined
}

export interface BoundedEvent {
  event: PorticoEvent
  /** Approximate size of its payloads, for the sink's byte budget. */
  payloadBytes: number
}

/**
 * The event with every text field and payload within bounds. Returns the same object when
 * nothing is out of bounds (the common case: a few length checks), else a bounded copy.
 */
export function boundEvent(event: PorticoEvent): BoundedEvent {
  const texts = event.type === 'exchange' ? exchangeTexts(event) : notificationTexts(event)
  const params = event.params === undefined ? undefined : measurePayload(event.params)
  const result =
    event.type === 'exchange' && event.result !== undefined
      ? measurePayload(event.result)
      : undefined
  const payloadBytes = (params?.ok ? params.bytes : 0) + (result?.ok ? result.bytes : 0)
  if (texts === undefined && params?.ok !== false && result?.ok !== false) {
    return { event, payloadBytes }
  }
  const copy = { ...event, ...texts } as PorticoEvent
  if (params && !params.ok) copy.params = truncatedPayload(params.reason)
  if (result && !result.ok && copy.type === 'exchange')
    copy.result = truncatedPayload(result.reason)
  return { event: copy, payloadBytes }
}

type TextFields = Partial<Record<string, unknown>>

/** The bounded replacements of an exchange's text fields, or undefined when all fit. */
function exchangeTexts(e: ExchangeEvent): TextFields | undefined {
  let out: TextFields | undefined
  const check = (key: string, value: string | undefined, max = MAX_TEXT) => {
    if (value === undefined || value.length <= max) return
    out ??= {}
    out[key] = key === 'errorMessage' ? cutText(value, max) : boundText(value, max)
  }
  check('proxy', e.proxy)
  check('backend', e.backend)
  check('method', e.method)
  check('name', e.name)
  check('sessionId', e.sessionId)
  check('protocolVersion', e.protocolVersion)
  check('userAgent', e.userAgent)
  check('subject', e.subject)
  check('authClient', e.authClient)
  check('path', e.path)
  check('reason', e.reason)
  check('errorMessage', e.errorMessage, MAX_ERROR_MESSAGE)
  if (typeof e.jsonrpcId === 'string') check('jsonrpcId', e.jsonrpcId)
  const client = e.client
  if (client && (client.name.length > MAX_TEXT || (client.version?.length ?? 0) > MAX_TEXT)) {
    out ??= {}
    out.client = {
      ...client,
      name: boundText(client.name),
      ...(client.version === undefined ? {} : { version: boundText(client.version) }),
    }
  }
  return out
}

function notificationTexts(e: NotificationEvent): TextFields | undefined {
  let out: TextFields | undefined
  const check = (key: string, value: string | undefined) => {
    if (value === undefined || value.length <= MAX_TEXT) return
    out ??= {}
    out[key] = boundText(value)
  }
  check('proxy', e.proxy)
  check('backend', e.backend)
  check('method', e.method)
  check('sessionId', e.sessionId)
  // The resource URI becomes the row's name.
  const uri = e.params?.uri
  if (typeof uri === 'string' && uri.length > MAX_TEXT) {
    out ??= {}
    out.params = { ...e.params, uri: boundText(uri) }
  }
  return out
}
