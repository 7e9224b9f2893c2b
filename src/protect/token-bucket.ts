/**
 * Token buckets: `burst` tokens at most, refilled at `requests` per `period`. A call takes one
 * token or is refused at once with the time until the next token (for `Retry-After`); there is
 * no wait (mcp-proxy's silent 100 ms wait is not copied). Keyed buckets (per client, session or
 * tool) live in a table bounded by count, so keys made up by clients cannot grow memory.
 * Plain arithmetic on an injected clock: no timers, no promises on the hot path.
 */
import { createHash } from 'node:crypto'
import type { Clock } from '../util/clock.ts'

export interface BucketShape {
  requests: number
  period_seconds: number
  burst?: number | undefined
}

/** A shape's capacity (`burst`, else `requests`) and refill rate in tokens per millisecond. */
export function bucketRate(shape: BucketShape): { capacity: number; ratePerMs: number } {
  return {
    capacity: shape.burst ?? shape.requests,
    ratePerMs: shape.requests / (shape.period_seconds * 1000),
  }
}

export class TokenBucket {
  readonly #capacity: number
  /** Tokens per millisecond. */
  readonly #rate: number
  readonly #clock: Clock
  #tokens: number
  #at: number

  constructor(shape: BucketShape, clock: Clock) {
    const { capacity, ratePerMs } = bucketRate(shape)
    this.#capacity = capacity
    this.#rate = ratePerMs
    this.#clock = clock
    this.#tokens = this.#capacity
    this.#at = clock.now()
  }

  /** Takes a token: 0 when granted, else the milliseconds until one is available. */
  take(): number {
    const wait = this.wait()
    if (wait === 0) this.#tokens -= 1
    return wait
  }

  /**
   * Takes a token another count granted (the shared store), when this bucket is at most
   * `toleranceMs` from having one: it then goes below zero by at most that much (the next
   * call waits the longer). Returns the wait when further than that, taking nothing.
   */
  takeGranted(toleranceMs: number): number {
    const wait = this.wait()
    if (wait > toleranceMs) return wait
    this.#tokens -= 1
    return 0
  }

  /** Whether it holds all its tokens again: forgetting it then loses no limit. */
  isFull(): boolean {
    this.wait()
    return this.#tokens >= this.#capacity
  }

  /** 0 when a token is there to take, else the milliseconds until one is; takes nothing. */
  wait(): number {
    const now = this.#clock.now()
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#at) * this.#rate)
    this.#at = now
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) / this.#rate)
  }
}

/** Keys longer than this are kept as a digest (see `KeyedBuckets.bucket`). */
const MAX_KEPT_KEY = 128

/** How many of the least recently used buckets a full table looks at for one to forget. */
const EVICTION_LOOK = 32

/**
 * One bucket per key, at most `max` keys. A bucket is forgotten only once it is full again (a
 * new one for its key would be the same): forgetting a drained one gave its key a full budget,
 * so a client that made up enough other keys (tool names, say) reset its own limit. When no
 * bucket among the least recently used is full, a new key shares one overflow bucket of the
 * same shape: keys beyond the table are limited together, never unlimited.
 */
export class KeyedBuckets {
  readonly #shape: BucketShape
  readonly #clock: Clock
  readonly #max: number
  readonly #buckets = new Map<string, TokenBucket>()
  #overflow: TokenBucket | undefined

  constructor(shape: BucketShape, clock: Clock, max = 10_000) {
    this.#shape = shape
    this.#clock = clock
    this.#max = max
  }

  /** The key's bucket, full when the key is new (or was forgotten full). */
  bucket(key: string): TokenBucket {
    // A long key (a session id a client made up) is kept as its digest: the table bounds the
    // number of keys, this bounds their size.
    const kept = key.length > MAX_KEPT_KEY ? createHash('sha256').update(key).digest('base64') : key
    let bucket = this.#buckets.get(kept)
    if (bucket !== undefined) {
      // Most recently used last (a Map keeps insertion order).
      this.#buckets.delete(kept)
      this.#buckets.set(kept, bucket)
      return bucket
    }
    if (this.#buckets.size >= this.#max && !this.#forgetOneFull()) {
      this.#overflow ??= new TokenBucket(this.#shape, this.#clock)
      return this.#overflow
    }
    bucket = new TokenBucket(this.#shape, this.#clock)
    this.#buckets.set(kept, bucket)
    return bucket
  }

  /** Forgets a full bucket among the least recently used; whether there was one. */
  #forgetOneFull(): boolean {
    let looked = 0
    for (const [key, bucket] of this.#buckets) {
      if (bucket.isFull()) {
        this.#buckets.delete(key)
        return true
      }
      if (++looked >= EVICTION_LOOK) return false
    }
    return false
  }
}

/**
 * The longest wait a refusal names, in ms (about 68 years, 2^31 - 1 seconds): a rate's period
 * may be as long as a config writes it (`period_seconds = 1e300`), and `Retry-After` must be
 * whole seconds in digits that a client's integer holds, never `1e+300`.
 */
const MAX_RETRY_AFTER_MS = 2_147_483_647_000

/** A wait as a refusal names it: at most MAX_RETRY_AFTER_MS. */
export function namedWait(waitMs: number): number {
  return Math.min(waitMs, MAX_RETRY_AFTER_MS)
}

/** `Retry-After` in whole seconds (at least 1) for a wait in milliseconds. */
export function retryAfter(waitMs: number): string {
  return Math.max(1, Math.ceil(namedWait(waitMs) / 1000)).toFixed(0)
}
