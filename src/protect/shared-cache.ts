/**
 * Response caches in Redis (`[cache_store] backend = "redis"`, mcp-proxy's `[cache] backend =
 * "redis"`): every Portico replica and worker pointed at the same Redis answers from the same
 * entries. The rules of what is stored, for how long and for whom are the in-memory cache's
 * (cache.ts: keyed by caller identity, errors never stored, the server's `ttlMs` and
 * `cacheScope` honoured); what differs:
 * - keys are `{prefix}cache:{upstream}:{sha256 of the request key}`, so arguments never show
 *   in Redis's key space and every key has the same short length;
 * - `max_entries` bounds each upstream's entries across all replicas: an index (a sorted set
 *   scored by expiry) is updated in the same script as the entry, and when it grows past the
 *   bound the entries that would expire first are deleted;
 * - Redis is a cache, not a dependency: a lookup or a store that takes longer than
 *   `[cache_store] timeout`, or finds Redis down, counts as a miss and the call goes on to the
 *   upstream (the outage is logged once, and again when Redis is back).
 */
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import type { Redis, RedisOptions } from 'ioredis'
import type { CacheConfig, CacheStoreConfig } from '../config/protect.ts'
import type { Logger } from '../observe/logger.ts'
import { callNext, type Middleware } from '../pipeline/compose.ts'
import { mapAnswer } from '../pipeline/reply.ts'
import { redactUrl } from '../util/redact.ts'
import { answer, type CacheStats, publicKeyOf, storable, ttlSecondsOf } from './cache.ts'
import { callerKey } from './request-key.ts'

// ioredis is loaded only when a Redis store is configured: most deployments never need it.
const require = createRequire(import.meta.url)

/**
 * Stores one entry and keeps its upstream's index within bounds, atomically.
 * KEYS: the entry, the index. ARGV: value, ttl (ms), now (ms), max entries.
 * Returns the number of entries the index holds afterwards.
 */
const SAVE_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[2]), KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if excess > 0 then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, excess - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
  redis.call('DEL', unpack(oldest))
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

interface ScriptedRedis extends Redis {
  porticoCacheSave(entry: string, index: string, ...args: Array<string | number>): Promise<number>
  porticoCacheClear(index: string): Promise<number>
}

/** The connection to Redis shared by every upstream's cache of one Portico. */
export class RedisCacheStore {
  readonly #client: ScriptedRedis
  readonly #prefix: string
  readonly #logger: Logger
  readonly #label: string
  readonly #timeoutMs: number
  /** False while an outage is known (logged once, until the connection is ready again). */
  #reachable = true
  #wasReady = false

  constructor(config: CacheStoreConfig, logger: Logger) {
    const { Redis: RedisClient } = require('ioredis') as typeof import('ioredis')
    const options: RedisOptions = {
      // Fail fast while disconnected (the call goes on as a miss) instead of queueing commands.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: config.timeout,
      connectTimeout: Math.max(1000, config.timeout),
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    }
    this.#client = new RedisClient(config.url as string, options) as ScriptedRedis
    this.#client.defineCommand('porticoCacheSave', { numberOfKeys: 2, lua: SAVE_SCRIPT })
    this.#client.defineCommand('porticoCacheClear', { numberOfKeys: 1, lua: CLEAR_SCRIPT })
    this.#prefix = config.prefix
    this.#timeoutMs = config.timeout
    this.#logger = logger
    this.#label = redactUrl(config.url as string)
    this.#client.on('ready', () => this.#up())
    // ioredis reports every failed connection attempt; without a listener it would throw.
    // Only a connection that was up and failed is an outage here; the first attempts are
    // judged by `connected()`.
    this.#client.on('error', (error: Error) => {
      if (this.#wasReady) this.#down(error.message)
    })
  }

  /**
   * Resolves once connected, or after `[cache_store] timeout` × 10 (at least 1 s) with a warning:
   * Portico serves either way (a cache is never a reason not to).
   */
  async connected(): Promise<void> {
    if (this.#client.status === 'ready') return
    const waitMs = Math.max(1000, this.#timeoutMs * 10)
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), waitMs)
      this.#client.once('ready', () => {
        clearTimeout(timer)
        resolve(true)
      })
    })
    if (!ready) this.#down(`not connected after ${waitMs} ms`)
  }

  /** The entry stored for either key (the caller's own first), or undefined (or unreachable). */
  async lookup(
    upstream: string,
    privateKey: string,
    publicKey: string,
  ): Promise<string | undefined> {
    try {
      const [own, shared] = await this.#client.mget(
        this.#entryKey(upstream, privateKey),
        this.#entryKey(upstream, publicKey),
      )
      return own ?? shared ?? undefined
    } catch (error) {
      this.#down((error as Error).message)
      return undefined
    }
  }

  /** Stores an entry; resolves with the upstream's entry count, or undefined on failure. */
  async save(
    upstream: string,
    key: string,
    text: string,
    ttlMs: number,
    maxEntries: number,
  ): Promise<number | undefined> {
    try {
      return await this.#client.porticoCacheSave(
        this.#entryKey(upstream, key),
        this.#indexKey(upstream),
        text,
        Math.max(1, Math.round(ttlMs)),
        Date.now(),
        maxEntries,
      )
    } catch (error) {
      this.#down((error as Error).message)
      return undefined
    }
  }

  /** Deletes an upstream's entries (every replica's); resolves with how many there were. */
  async clear(upstream: string): Promise<number> {
    try {
      return await this.#client.porticoCacheClear(this.#indexKey(upstream))
    } catch (error) {
      this.#down((error as Error).message)
      return 0
    }
  }

  async close(): Promise<void> {
    this.#client.disconnect()
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
    if (this.#reachable) return
    this.#reachable = true
    this.#logger.info(`cache store ${this.#label} is reachable again`)
  }

  #down(reason: string): void {
    if (!this.#reachable) return
    this.#reachable = false
    this.#logger.warn(
      `cache store ${this.#label} is unreachable (${reason}): calls go to the upstreams until it is back`,
    )
  }
}

/** One upstream's cache in Redis: the same surface as ResponseCache for status and admin. */
export class SharedResponseCache {
  readonly upstream: string
  readonly config: CacheConfig
  readonly store: RedisCacheStore
  hits = 0
  misses = 0
  /** The entry count Redis reported after this Portico's last store (every replica's entries). */
  #entries = 0

  constructor(upstream: string, config: CacheConfig, store: RedisCacheStore) {
    this.upstream = upstream
    this.config = config
    this.store = store
  }

  stats(): CacheStats {
    return { hits: this.hits, misses: this.misses, entries: this.#entries }
  }

  /** Empties the upstream's entries in Redis (for every replica); returns the last known count. */
  clear(): number {
    const known = this.#entries
    this.#entries = 0
    void this.store.clear(this.upstream)
    return known
  }

  keep(key: string, text: string, ttlMs: number): void {
    void this.store.save(this.upstream, key, text, ttlMs, this.config.max_entries).then((count) => {
      if (count !== undefined) this.#entries = count
    })
  }
}

export function sharedResponseCache(cache: SharedResponseCache): Middleware {
  return async (call, next) => {
    const ttl = ttlSecondsOf(cache.config, call.method)
    const privateKey = ttl > 0 ? callerKey(call) : undefined
    if (privateKey === undefined) return next(call)
    const publicKey = publicKeyOf(call)
    const hit = await cache.store.lookup(cache.upstream, privateKey, publicKey)
    if (hit !== undefined) {
      cache.hits++
      call.notes.cache = 'hit'
      return answer(call, hit)
    }
    cache.misses++
    call.notes.cache = 'miss'
    const reply = await callNext(next, call)
    return mapAnswer(call, reply, (response) => {
      const entry = storable(response, ttl, cache.config.max_entry_bytes)
      if (entry !== undefined)
        cache.keep(entry.shared ? publicKey : privateKey, entry.text, entry.ttlMs)
      return undefined
    })
  }
}

/** The shared store `[cache_store]` asks for, or undefined for in-memory caches. */
export function cacheStoreOf(
  config: CacheStoreConfig,
  logger: Logger,
): RedisCacheStore | undefined {
  return config.backend === 'redis' ? new RedisCacheStore(config, logger) : undefined
}
