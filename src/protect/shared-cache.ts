/**
 * Response caches in Redis (`[shared] redis`, with `caches = true`; mcp-proxy's `[cache]
 * backend = "redis"`): every Portico replica and worker pointed at the same Redis answers from
 * the same entries. The rules of what is stored, for how long and for whom are the in-memory
 * cache's (cache.ts: keyed by caller identity, errors never stored, the server's `ttlMs` and
 * `cacheScope` honoured); what differs:
 * - keys are `{prefix}cache:{upstream}:{sha256 of the request key}`, so arguments never show
 *   in Redis's key space and every key has the same short length;
 * - `max_entries` bounds each upstream's entries across all replicas (redis-store.ts);
 * - a lookup or a store that fails or takes longer than `[shared] timeout` is a miss;
 * - a miss's answer is read after it is written, as in memory (cache.ts `keep`), and parsed
 *   there: an entry is the result's own text, which a hit answers with the caller's id.
 */
import type { CacheConfig } from '../config/protect.ts'
import { type JsonRpcResponse, parseJson } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import { callNext, type Middleware } from '../pipeline/compose.ts'
import { asResponse, isOwnAnswer } from '../protocol/summarize.ts'
import {
  type AnswerStore,
  answer,
  type CacheStats,
  keep,
  publicKeyOf,
  storable,
  ttlSecondsOf,
} from './cache.ts'
import type { RedisStore } from './redis-store.ts'
import { callerKey } from './request-key.ts'

/** One upstream's cache in Redis: the same surface as ResponseCache for status and admin. */
export class SharedResponseCache implements AnswerStore {
  readonly upstream: string
  readonly config: CacheConfig
  readonly redis: RedisStore
  hits = 0
  misses = 0
  /** The entry count Redis reported after this Portico's last store (every replica's entries). */
  #entries = 0

  constructor(upstream: string, config: CacheConfig, redis: RedisStore) {
    this.upstream = upstream
    this.config = config
    this.redis = redis
  }

  get maxEntryBytes(): number {
    return this.config.max_entry_bytes
  }

  stats(): CacheStats {
    return { hits: this.hits, misses: this.misses, entries: this.#entries, shared: true }
  }

  /**
   * Empties the upstream's entries in Redis (for every replica); resolves with how many there
   * were. Rejects when Redis could not do it (unreachable, refused): they are still there.
   */
  async clear(): Promise<number> {
    const count = await this.redis.cacheClear(this.upstream)
    if (count === undefined) {
      throw new Error(
        `the shared cache of ${this.upstream} is not cleared: ${this.redis.label} did not answer`,
      )
    }
    this.#entries = 0
    return count
  }

  store(response: JsonRpcResponse, ttlSeconds: number, privateKey: string, call: Call): void {
    const entry = storable(response, ttlSeconds, this.config.max_entry_bytes)
    if (entry === undefined) return
    const key = entry.shared ? publicKeyOf(call) : privateKey
    void this.redis
      .cacheSave(this.upstream, key, entry.text, entry.ttlMs, this.config.max_entries)
      .then((count) => {
        if (count !== undefined) this.#entries = count
      })
  }

  /** Parsed here, after the answer is written (an entry in Redis is the result's own text). */
  storeBytes(bytes: Buffer, ttlSeconds: number, privateKey: string, call: Call): void {
    if (bytes.length > this.config.max_entry_bytes || ttlSeconds <= 0) return
    const response = asResponse(parseJson(bytes.toString('utf8')))
    // Not another request's answer (an upstream's mismatched id, which its client got as 502).
    if (response !== undefined && isOwnAnswer(call, response.id)) {
      this.store(response, ttlSeconds, privateKey, call)
    }
  }
}

export function sharedResponseCache(cache: SharedResponseCache): Middleware {
  return async (call, next) => {
    const ttl = ttlSecondsOf(cache.config, call.method)
    const privateKey = ttl > 0 ? callerKey(call) : undefined
    if (privateKey === undefined) return next(call)
    const hit = await cache.redis.cacheLookup(cache.upstream, privateKey, publicKeyOf(call))
    if (hit !== undefined) {
      cache.hits++
      call.notes.cache = 'hit'
      return answer(call, hit)
    }
    cache.misses++
    call.notes.cache = 'miss'
    return keep(cache, call, await callNext(next, call), ttl, privateKey)
  }
}
