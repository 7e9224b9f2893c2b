/**
 * W3C Trace Context (`traceparent`): parsing what a client sends (HTTP header or MCP
 * `_meta.traceparent`), formatting what Portico sends on, and random ids from a pooled
 * buffer (one `randomFillSync` per 256 ids instead of one per id).
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

const POOL = Buffer.alloc(4096)
let offset = POOL.length

function randomHex(bytes: number): string {
  for (;;) {
    if (offset + bytes > POOL.length) {
      randomFillSync(POOL)
      offset = 0
    }
    const hex = POOL.toString('hex', offset, offset + bytes)
    offset += bytes
    if (!/^0+$/.test(hex)) return hex
  }
}

export function newTraceId(): string {
  return randomHex(16)
}

export function newSpanId(): string {
  return randomHex(8)
}
