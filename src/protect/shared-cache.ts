/**
 * Response caches in Redis (`[shared] redis`, with `caches = true`; mcp-proxy's `[cache]
 * backend = "redis"`): every Portico replica and worker pointed at the same Redis answers from
 * the same entries. The rules of what is stored, for how long and for whom are the in-memory
 * cache's (cache.ts: keyed by caller identity, errors never stored, the server's `ttlMs` and
 * `cacheScope` honoured); what differs:
 * - keys are `{prefix}cache:{upstream}:{sha256 of the request key}`, so arguments never show
 *   in Redis's key space and every key has the same short length;
 * - `max_entries` bounds each upstream's entries across all replicas (redis-store.ts);
 * - a lookup or a store that fails or takes longer than `[shared] timeout` is a miss.
 */
import type { CacheConfig } from '../config/protect.ts'
import { callNext, type Middleware } from '../pipeline/compose.ts'
import { mapAnswer } from '../pipeline/reply.ts'
import { answer, type CacheStats, publicKeyOf, storable, ttlSecondsOf } from './cache.ts'
import type { RedisStore } from './redis-store.ts'
import { callerKey } from './request-key.ts'

/** One upstream's cache in Redis: the same surface as ResponseCache for status and admin. */
export class SharedResponseCache {
  readonly upstream: string
  readonly config: CacheConfig
  readonly store: RedisStore
  hits = 0
  misses = 0
  /** The entry count Redis reported after this Portico's last store (every replica's entries). */
  #entries = 0

  constructor(upstream: string, config: CacheConfig, store: RedisStore) {
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
    void this.store.cacheClear(this.upstream)
    return known
  }

  keep(key: string, text: string, ttlMs: number): void {
    void this.store
      .cacheSave(this.upstream, key, text, ttlMs, this.config.max_entries)
      .then((count) => {
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
    const hit = await cache.store.cacheLookup(cache.upstream, privateKey, publicKey)
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
