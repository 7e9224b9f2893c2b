/**
 * W3C Trace Context (`traceparent`): parsing what a client sends (HTTP header or MCP
 * `_meta.traceparent`), formatting what Portico sends on, and random ids from a pooled
 * buffer (one `randomFillSync` per 4 KiB of ids instead of one per id).
 */
import { randomFillSync } from 'node:crypto'

export interface SpanContext {
  /** 32 lower-case hex characters. */
  traceId: string
  /** 16 lower-case hex characters. */
  spanId: string
  sampled: boolean
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

/**
 * The last context formatted: the attempt middleware reads back what the exchange middleware
 * just wrote, so the common case skips the regular expression.
 */
let lastText: string | undefined
let lastContext: SpanContext | undefined

/** A valid `traceparent`, or undefined (invalid ones are ignored, as the spec says). */
export function parseTraceparent(value: unknown): SpanContext | undefined {
  if (value === lastText && lastText !== undefined) return lastContext
  if (typeof value !== 'string' || value.length < 55 || value.length > 512) return undefined
  const match = TRACEPARENT.exec(value.trim().toLowerCase())
  if (match === null) return undefined
  const [, version, traceId, spanId, flags, rest] = match as unknown as string[]
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined
  if (/^0+$/.test(traceId as string) || /^0+$/.test(spanId as string)) return undefined
  return {
    traceId: traceId as string,
    spanId: spanId as string,
    sampled: (Number.parseInt(flags as string, 16) & 1) === 1,
  }
}

export function formatTraceparent(context: SpanContext): string {
  const text = `00-${context.traceId}-${context.spanId}-${context.sampled ? '01' : '00'}`
  lastText = text
  lastContext = context
  return text
}

/**
 * Random bytes drawn 4 KiB at a time and kept as hex: an id is a slice of that text (V8 makes
 * a view of it, no copy) instead of a `toString('hex')` call into C++ per id, three per traced
 * call. The text lives as long as an id cut from it, which is as long as a span.
 */
const POOL = Buffer.alloc(4096)
const ZERO_TRACE_ID = '0'.repeat(32)
const ZERO_SPAN_ID = '0'.repeat(16)
let hexPool = ''
let offset = 0

function randomHex(bytes: number): string {
  const chars = bytes * 2
  const zero = chars === 32 ? ZERO_TRACE_ID : ZERO_SPAN_ID
  for (;;) {
    if (offset + chars > hexPool.length) {
      randomFillSync(POOL)
      hexPool = POOL.toString('hex')
      offset = 0
    }
    const hex = hexPool.slice(offset, offset + chars)
    offset += chars
    // All zeros is the one invalid id (W3C Trace Context); drawn again, as unlikely as it is.
    if (hex !== zero) return hex
  }
}

export function newTraceId(): string {
  return randomHex(16)
}

export function newSpanId(): string {
  return randomHex(8)
}
