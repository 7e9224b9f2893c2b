/**
 * W3C Trace Context as a call carries it (`Call.trace`): the ids as 32-bit words, not text.
 * Text exists only where the protocol needs it: a client's `traceparent` is parsed once as it
 * arrives, and the context is formatted once per attempt, as the header (or `_meta`) the
 * upstream receives. Why words: a traced call used to make its three ids as hex strings, two
 * `traceparent` texts and two context objects, parse one of those texts back, and decode the
 * hex again to encode each span; words are small integers V8 keeps inside the span object,
 * drawn from a pooled random buffer and written to the OTLP encoding as they are.
 */
import { randomFillSync } from 'node:crypto'

export interface TraceContext {
  /** The trace id, 128 bits as four 32-bit words, most significant first (int32 values). */
  readonly t0: number
  readonly t1: number
  readonly t2: number
  readonly t3: number
  /** The span id, 64 bits as two 32-bit words. */
  readonly s0: number
  readonly s1: number
  readonly sampled: boolean
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

/** A valid `traceparent`, or undefined (invalid ones are ignored, as the spec says). */
export function parseTraceparent(value: unknown): TraceContext | undefined {
  if (typeof value !== 'string' || value.length < 55 || value.length > 512) return undefined
  // Lower-case hex only, as W3C Trace Context writes it (an upper-case id is not one).
  const text = value.trim()
  const match = TRACEPARENT.exec(text)
  if (match === null) return undefined
  const version = match[1]
  if (version === 'ff' || (version === '00' && match[5] !== undefined)) return undefined
  const context: TraceContext = {
    t0: hexWord(text, 3),
    t1: hexWord(text, 11),
    t2: hexWord(text, 19),
    t3: hexWord(text, 27),
    s0: hexWord(text, 36),
    s1: hexWord(text, 44),
    sampled: (hexWord(text, 53, 2) & 1) === 1,
  }
  // All zeros is the one invalid id of each kind.
  if ((context.t0 | context.t1 | context.t2 | context.t3) === 0) return undefined
  if ((context.s0 | context.s1) === 0) return undefined
  return context
}

/** `digits` lower-case hex digits of `text` from `at` as an int32 (validated by the caller). */
function hexWord(text: string, at: number, digits = 8): number {
  let word = 0
  for (let i = at; i < at + digits; i++) {
    const code = text.charCodeAt(i)
    word = (word << 4) | (code <= 57 ? code - 48 : code - 87)
  }
  return word
}

/** Where `formatTraceparent` writes: one string is made from it per call. */
const SCRATCH = Buffer.alloc(55)
SCRATCH.write('00-', 0, 'latin1')
SCRATCH[35] = 0x2d
SCRATCH[52] = 0x2d
SCRATCH[53] = 0x30
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1')

/** The `traceparent` text of a context: `00-{trace id}-{span id}-{flags}`. */
export function formatTraceparent(context: TraceContext): string {
  writeHexWord(context.t0, 3)
  writeHexWord(context.t1, 11)
  writeHexWord(context.t2, 19)
  writeHexWord(context.t3, 27)
  writeHexWord(context.s0, 36)
  writeHexWord(context.s1, 44)
  SCRATCH[54] = context.sampled ? 0x31 : 0x30
  return SCRATCH.toString('latin1', 0, 55)
}

function writeHexWord(word: number, at: number): void {
  for (let shift = 28, i = at; shift >= 0; shift -= 4, i++) {
    SCRATCH[i] = HEX_DIGITS[(word >>> shift) & 15] as number
  }
}

/** The trace id in lower-case hex (OTLP/JSON, tests). */
export function traceIdHex(context: TraceContext): string {
  return wordsHex(context.t0, context.t1, context.t2, context.t3)
}

/** The span id in lower-case hex. */
export function spanIdHex(context: TraceContext): string {
  return wordsHex(context.s0, context.s1)
}

/** Two or four words in lower-case hex, written where `formatTraceparent` writes its ids. */
export function wordsHex(w0: number, w1: number, w2?: number, w3?: number): string {
  writeHexWord(w0, 3)
  writeHexWord(w1, 11)
  if (w2 === undefined) return SCRATCH.toString('latin1', 3, 19)
  writeHexWord(w2, 19)
  writeHexWord(w3 as number, 27)
  return SCRATCH.toString('latin1', 3, 35)
}

/**
 * Random words drawn 4 KiB at a time: one `randomFillSync` per 170 traced calls instead of one
 * per id.
 */
const POOL = new Int32Array(1024)
let drawn = POOL.length

export function randomWord(): number {
  if (drawn === POOL.length) {
    randomFillSync(POOL)
    drawn = 0
  }
  return POOL[drawn++] as number
}
