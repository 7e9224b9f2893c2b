/**
 * The connection to Redis that replicas share state through (`[shared]`): response cache
 * entries (shared-cache.ts) and rate-limit buckets (rate-limit.ts). One connection per process.
 * Redis holds state Portico can do without, so it is never a reason to wait or fail:
 * - the offline queue is off and every command is bounded by `[shared] timeout`, so a slow or
 *   absent Redis answers "unknown" at once (a cache miss; the process's own buckets);
 * - an outage is logged once, and the return once; commands waiting for a stalled Redis are
 *   bounded in number and bytes, and a connection that answers nothing is destroyed;
 * - every key Portico writes expires, and per-upstream cache indexes are trimmed to
 *   `max_entries`, so nothing Portico writes grows without bound.
 */
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import type { Redis, RedisOptions } from 'ioredis'
import type { SharedConfig } from '../config/protect.ts'
import { isObject, parseJson } from '../jsonrpc/message.ts'
import type { Logger } from '../observe/logger.ts'
import { redactUrl } from '../util/redact.ts'
import { OutageNotices, type OutageVoice } from './outage-notices.ts'

// ioredis is loaded only when `[shared]` is configured: most deployments never need it.
const require = createRequire(import.meta.url)

/**
 * Stores one entry and keeps its upstream's index within bounds, atomically. Times are Redis's
 * own (`TIME`), as the entries' expiry is: a replica whose clock runs ahead must not drop the
 * others' live entries from the index. The index expires with its last entry.
 * KEYS: the entry, the index. ARGV: value, ttl (ms), max entries.
 * Returns the number of entries the index holds afterwards.
 */
const SAVE_SCRIPT = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if excess > 0 then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, excess - 1)
  for i = 1, #oldest, 500 do
    redis.call('DEL', unpack(oldest, i, math.min(i + 499, #oldest)))
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if #last == 2 then
  redis.call('PEXPIREAT', KEYS[2], math.ceil(tonumber(last[2])))
end
return redis.call('ZCARD', KEYS[2])
`

/** Deletes every entry of one upstream and its index; returns how many entries there were. */
const CLEAR_SCRIPT = `
local keys = redis.call('ZRANGE', KEYS[1], 0, -1)
for i = 1, #keys, 500 do
  redis.call('DEL', unpack(keys, i, math.min(i + 499, #keys)))
end
redis.call('DEL', KEYS[1])
return #keys
`

/**
 * Takes one token from each bucket, all or none. KEYS: the buckets; ARGV: per bucket its
 * capacity and refill rate (tokens per ms). Time is Redis's own, so the replicas' clocks do not
 * matter. Each bucket expires once it would be full again. Returns {0, 0} when granted, else
 * {the 1-based index of the first bucket that refused, ms until it has a token}.
 */
const TAKE_SCRIPT = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local left = {}
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local tokens = tonumber(state[1])
  local at = tonumber(state[2])
  if tokens == nil or at == nil then
    tokens = capacity
    at = now
  end
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
  if tokens < 1 then
    return {i, math.ceil((1 - tokens) / rate)}
  end
  left[i] = tokens - 1
end
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  redis.call('HSET', KEYS[i], 'tokens', tostring(left[i]), 'at', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil(capacity / rate) + 1000)
end
return {0, 0}
`

/** One token bucket in Redis: its key (under the prefix) and its shape. */
export interface SharedBucket {
  key: string
  capacity: number
  /** Tokens per millisecond. */
  ratePerMs: number
}

/** Redis's verdict on a set of buckets: granted, or the first bucket that refused and its wait. */
export type TokenVerdict = { granted: true } | { granted: false; index: number; waitMs: number }

/** Commands waiting for Redis at most; past it calls go on without Redis (see `#attempt`). */
const MAX_IN_FLIGHT = 1024
/** Cache entry bytes on their way to Redis at most (see `cacheSave`). */
const MAX_SAVING_BYTES = 16 * 1024 * 1024
const REFUSAL_LOG_EVERY_MS = 10_000

interface ScriptedRedis extends Redis {
  // What Redis answers is checked, not assumed (see `#odd`).
  porticoTake(...args: Array<string | number>): Promise<unknown>
  porticoCacheSave(entry: string, index: string, ...args: Array<string | number>): Promise<unknown>
  porticoCacheClear(index: string): Promise<unknown>
}

/** The connection to Redis shared by every cache and rate limit of one Portico. */
export class RedisStore {
  readonly #client: ScriptedRedis
  readonly #prefix: string
  readonly #logger: Logger
  readonly #label: string
  readonly #notices: OutageNotices
  readonly #timeoutMs: number
  /** `[shared] caches`: the response caches live here. */
  readonly caches: boolean
  /** `[shared] rate_limits`: the rate limits' buckets live here. */
  readonly rateLimits: boolean
  /** False while an outage is known (logged once, until a command succeeds again). */
  #reachable = true
  #wasReady = false
  /** The last connection error, to say why a start-up connection failed (a wrong password). */
  #lastError: string | undefined
  /** Why this Redis may not be used at all (its database could not be selected). */
  #unusable: string | undefined
  /** Commands sent and not answered yet, and the cache bytes among them (see `#attempt`). */
  #inFlight = 0
  #savingBytes = 0
  /** When a refused command or an odd answer was last logged (at most every 10 s). */
  #warnedAt = Number.NEGATIVE_INFINITY

  constructor(config: SharedConfig, logger: Logger) {
    const { Redis: RedisClient } = require('ioredis') as typeof import('ioredis')
    const options: RedisOptions = {
      // Fail fast while disconnected (the call goes on as a miss) instead of queueing commands.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: config.timeout,
      // `commandTimeout` only stops waiting: the command stays queued, and its bytes buffered,
      // until Redis answers. A connection that answers nothing for this long is destroyed,
      // which fails what it holds (nothing is resent: maxRetriesPerRequest is 0).
      socketTimeout: Math.max(1000, config.timeout * 10),
      connectTimeout: Math.max(1000, config.timeout),
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    }
    this.#client = new RedisClient(config.redis, options) as ScriptedRedis
    this.#client.defineCommand('porticoCacheSave', { numberOfKeys: 2, lua: SAVE_SCRIPT })
    this.#client.defineCommand('porticoCacheClear', { numberOfKeys: 1, lua: CLEAR_SCRIPT })
    this.#client.defineCommand('porticoTake', { lua: TAKE_SCRIPT })
    this.#prefix = config.prefix
    this.#timeoutMs = config.timeout
    this.caches = config.caches
    this.rateLimits = config.rate_limits
    this.#logger = logger
    this.#label = redactUrl(config.redis)
    this.#notices = new OutageNotices(this.#outageVoice())
    this.#client.on('ready', () => this.#ready())
    // ioredis reports every failed connection attempt; without a listener it would throw.
    // Only a connection that was up and failed is an outage here; the first attempts are
    // judged by `connected()`.
    this.#client.on('error', (error: Error & { command?: { name?: string } }) => {
      this.#lastError = error.message
      // The URL's database could not be selected (past the server's `databases`): ioredis
      // would go on in database 0, another deployment's perhaps. Its answer comes before
      // 'ready' (the ready check is sent after it), so no command of Portico's has run.
      if (error.command?.name === 'select') this.#unusable = `SELECT failed: ${error.message}`
      if (this.#wasReady) this.#down(error.message)
    })
  }

  /** Connected: in use, unless the database the URL names could not be selected. */
  #ready(): void {
    if (this.#unusable === undefined) {
      this.#up()
      return
    }
    this.#client.disconnect()
    this.#reachable = false
    this.#notices.close()
    this.#logger.error(
      `shared state in ${this.#label} cannot be used (${this.#unusable}): caches miss and rate limits count per process until a restart with another URL`,
    )
  }

  /**
   * Resolves once connected, or after `[shared] timeout` × 10 (at least 1 s) with a warning:
   * Portico serves either way (shared state is never a reason not to).
   */
  async connected(): Promise<void> {
    if (this.#client.status === 'ready' || this.#unusable !== undefined) return
    const waitMs = Math.max(1000, this.#timeoutMs * 10)
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), waitMs)
      this.#client.once('ready', () => {
        clearTimeout(timer)
        resolve(true)
      })
    })
    if (!ready) {
      const why = this.#lastError === undefined ? '' : `: ${this.#lastError}`
      this.#down(`not connected after ${waitMs} ms${why}`)
    }
  }

  /** The entry stored for either key (the caller's own first), or undefined (or unreachable). */
  async cacheLookup(
    upstream: string,
    privateKey: string,
    publicKey: string,
  ): Promise<string | undefined> {
    const found: unknown = await this.#attempt(
      () =>
        this.#client.mget(
          this.#entryKey(upstream, privateKey),
          this.#entryKey(upstream, publicKey),
        ),
      undefined,
    )
    if (found === undefined) return undefined
    if (!Array.isArray(found)) return this.#odd('MGET', found, undefined)
    const entry: unknown = found[0] ?? found[1] ?? undefined
    // A hit is written to the client as a result's text: only what Portico stores (an object's
    // JSON) is answered; anything else (another program's key, a truncated value) is a miss.
    if (entry === undefined || isObjectText(entry)) return entry
    return this.#odd('MGET', entry, undefined)
  }

  /** Stores an entry; resolves with the upstream's entry count, or undefined on failure. */
  async cacheSave(
    upstream: string,
    key: string,
    text: string,
    ttlMs: number,
    maxEntries: number,
  ): Promise<number | undefined> {
    // A Redis slow to answer must not hold megabytes of entries in this process: past the
    // bound, an entry is not shared (a later call will miss and store it again).
    if (this.#savingBytes + text.length > MAX_SAVING_BYTES) return undefined
    this.#savingBytes += text.length
    const count: unknown = await this.#attempt(
      () =>
        this.#client.porticoCacheSave(
          this.#entryKey(upstream, key),
          this.#indexKey(upstream),
          text,
          Math.max(1, Math.round(ttlMs)),
          maxEntries,
        ),
      undefined,
    ).finally(() => {
      this.#savingBytes -= text.length
    })
    if (count === undefined || isCount(count)) return count
    return this.#odd('the cache script', count, undefined)
  }

  /**
   * Deletes an upstream's entries (every replica's); resolves with how many there were, or
   * undefined when Redis did not do it (unreachable, refused, an odd answer).
   */
  async cacheClear(upstream: string): Promise<number | undefined> {
    // Never used (its database could not be selected): nothing of Portico's is there to clear.
    if (this.#unusable !== undefined) return 0
    const count: unknown = await this.#attempt(
      () => this.#client.porticoCacheClear(this.#indexKey(upstream)),
      undefined,
    )
    if (count === undefined || isCount(count)) return count
    return this.#odd('the cache script', count, undefined)
  }

  /** `[shared] timeout`: the longest one command may take. */
  get timeoutMs(): number {
    return this.#timeoutMs
  }

  /** The server's URL, its credentials redacted: for messages. */
  get label(): string {
    return this.#label
  }

  /**
   * Takes a token from every bucket, all or none; undefined when Redis cannot say in time (the
   * caller counts on its own buckets instead).
   */
  async takeTokens(buckets: readonly SharedBucket[]): Promise<TokenVerdict | undefined> {
    const args: Array<string | number> = [buckets.length]
    for (const bucket of buckets) args.push(`${this.#prefix}rl:${bucket.key}`)
    for (const bucket of buckets) args.push(bucket.capacity, bucket.ratePerMs)
    const verdict: unknown = await this.#attempt(() => this.#client.porticoTake(...args), undefined)
    if (verdict === undefined) return undefined
    if (!isVerdict(verdict, buckets.length))
      return this.#odd('the rate-limit script', verdict, undefined)
    const [index, waitMs] = verdict
    return index === 0 ? { granted: true } : { granted: false, index: index - 1, waitMs }
  }

  async close(): Promise<void> {
    this.#notices.close()
    this.#client.disconnect()
  }

  /**
   * A command's answer, or `otherwise` when Redis cannot give it: an outage (noted once), or
   * past `MAX_IN_FLIGHT` commands waiting (a stalled Redis is not sent more work to hold).
   */
  async #attempt<T, U>(command: () => Promise<T>, otherwise: U): Promise<T | U> {
    if (this.#inFlight >= MAX_IN_FLIGHT || this.#unusable !== undefined) return otherwise
    this.#inFlight++
    try {
      const answer = await command()
      if (!this.#reachable) this.#up()
      return answer
    } catch (error) {
      this.#failed(error as Error)
      return otherwise
    } finally {
      this.#inFlight--
    }
  }

  /** A failed command: Redis refusing it (a script error) is not an outage, and says so apart. */
  #failed(error: Error): void {
    if (error.name !== 'ReplyError') {
      this.#down(error.message)
      return
    }
    this.#warnAtMostEvery(`Redis refused a command (${error.message})`)
  }

  /**
   * An answer of a shape Portico's commands never get from Redis (not Redis at that address, or
   * keys under the prefix written by something else): used as no answer, and said at most
   * every 10 s like a refusal.
   */
  #odd<U>(command: string, answer: unknown, otherwise: U): U {
    const shown = JSON.stringify(answer)?.slice(0, 80) ?? typeof answer
    this.#warnAtMostEvery(`${command} answered ${shown}, not what Portico stores or asks for`)
    return otherwise
  }

  #warnAtMostEvery(what: string): void {
    const now = performance.now()
    if (now - this.#warnedAt < REFUSAL_LOG_EVERY_MS) return
    this.#warnedAt = now
    this.#logger.warn(`shared state in ${this.#label}: ${what}`)
  }

  #entryKey(upstream: string, key: string): string {
    const digest = createHash('sha256').update(key).digest('base64url')
    return `${this.#prefix}cache:${upstream}:${digest}`
  }

  #indexKey(upstream: string): string {
    return `${this.#prefix}cache-index:${upstream}`
  }

  #up(): void {
    this.#wasReady = true
    this.#lastError = undefined
    if (this.#reachable) return
    this.#reachable = true
    this.#notices.up()
  }

  #down(reason: string): void {
    if (!this.#reachable) return
    this.#reachable = false
    this.#notices.down(reason)
  }

  #outageVoice(): OutageVoice {
    const where = `shared state in ${this.#label}`
    return {
      down: (reason, earlier) => {
        const before =
          earlier === 0 ? '' : ` (after ${earlier} more brief outages, not logged one by one)`
        this.#logger.warn(
          `${where} is unreachable (${reason})${before}: caches miss and rate limits count per process until it is back`,
        )
      },
      up: () => this.#logger.info(`${where} is reachable again`),
      flapped: (count, reason) =>
        this.#logger.warn(
          `${where} was briefly unreachable ${count} more times (last: ${reason}), not logged one by one; it is reachable now`,
        ),
    }
  }
}

/** A count from one of Portico's scripts. */
function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

/** The rate-limit script's answer: {0, 0}, or a 1-based bucket index and a wait in ms. */
function isVerdict(value: unknown, buckets: number): value is [number, number] {
  if (!Array.isArray(value) || value.length !== 2) return false
  const [index, waitMs] = value as unknown[]
  return (
    Number.isSafeInteger(index) &&
    (index as number) >= 0 &&
    (index as number) <= buckets &&
    Number.isSafeInteger(waitMs) &&
    (waitMs as number) >= 0
  )
}

/**
 * What the cache stores: a result object's JSON text. Parsed to be sure: a hit is spliced into
 * the client's answer as it is, and text that only starts and ends like an object (`{"a":1},
 * "id":"x",{}`) would have written another id into it, or JSON no client reads.
 */
function isObjectText(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith('{') && isObject(parseJson(value))
}

/** The shared store `[shared]` asks for, or undefined (everything per process). */
export function sharedStoreOf(
  config: SharedConfig | undefined,
  logger: Logger,
): RedisStore | undefined {
  return config === undefined ? undefined : new RedisStore(config, logger)
}
