/**
 * The response cache of one upstream (`[backends.cache]`): `tools/call` answers for
 * `tool_ttl_seconds`, `resources/read` answers for `resource_ttl_seconds`. Unlike mcp-proxy:
 * - entries are keyed by the caller's identity (identity.ts) as well as the arguments, except
 *   answers the server marked `cacheScope: "public"` (2026-07-28), which any caller may reuse;
 * - a server's `ttlMs` shortens the entry's life (0: not stored);
 * - errors, `isError` results and `input_required` results are never stored;
 * - entries are bounded in number (`max_entries`, LRU) and in size (`max_entry_bytes`).
 * A hit is answered at once with the caller's own id and noted (`cache: "hit"`) for the
 * record; hits and misses are counted for operators.
 */
import { LRUCache } from 'lru-cache'
import type { CacheConfig } from '../config/protect.ts'
import { isObject, type JsonRpcResponse } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import { MessageReply, mapAnswer } from '../pipeline/reply.ts'
import type { Clock } from '../util/clock.ts'
import { clientIdentity } from './identity.ts'
import { requestKey } from './request-key.ts'

export interface CacheStats {
  hits: number
  misses: number
  entries: number
}

export class ResponseCache {
  readonly #config: CacheConfig
  /** Key → the result's JSON text. */
  readonly #entries: LRUCache<string, string>
  hits = 0
  misses = 0

  constructor(config: CacheConfig, clock: Clock) {
    this.#config = config
    this.#entries = new LRUCache<string, string>({
      max: config.max_entries,
      ttlAutopurge: false,
      perf: { now: () => clock.now() },
      // Read the clock at every check (a cached "now" would need a real timer to move on).
      ttlResolution: 0,
      ttl: 1, // every entry sets its own
    })
  }

  stats(): CacheStats {
    return { hits: this.hits, misses: this.misses, entries: this.#entries.size }
  }

  /** Seconds an answer of `method` is kept (0: not cached). */
  ttlOf(method: string | undefined): number {
    if (method === 'tools/call') return this.#config.tool_ttl_seconds
    if (method === 'resources/read') return this.#config.resource_ttl_seconds
    return 0
  }

  lookup(privateKey: string, publicKey: string): string | undefined {
    return this.#entries.get(privateKey) ?? this.#entries.get(publicKey)
  }

  /** Stores a response when it may be: a complete, successful result within the bounds. */
  store(
    response: JsonRpcResponse,
    ttlSeconds: number,
    privateKey: string,
    publicKey: string,
  ): void {
    const result = response.result
    if (response.error !== undefined || !isObject(result)) return
    if (result.isError === true) return
    if (result.resultType !== undefined && result.resultType !== 'complete') return
    let ttl = ttlSeconds * 1000
    if (typeof result.ttlMs === 'number') ttl = Math.min(ttl, Math.max(0, result.ttlMs))
    if (ttl <= 0) return
    const text = JSON.stringify(result)
    if (text.length > this.#config.max_entry_bytes) return
    const key = result.cacheScope === 'public' ? publicKey : privateKey
    this.#entries.set(key, text, { ttl })
  }
}

export function responseCache(cache: ResponseCache): Middleware {
  return async (call, next) => {
    const ttl = cache.ttlOf(call.method)
    const request = ttl > 0 ? requestKey(call) : undefined
    if (request === undefined) return next(call)
    const publicKey = `public\u0000${request}`
    const privateKey = `${clientIdentity(call)}\u0000${request}`
    const hit = cache.lookup(privateKey, publicKey)
    if (hit !== undefined) {
      cache.hits++
      call.notes.cache = 'hit'
      return answer(call, hit)
    }
    cache.misses++
    call.notes.cache = 'miss'
    const reply = await next(call)
    return mapAnswer(call, reply, (response) => {
      cache.store(response, ttl, privateKey, publicKey)
      return undefined
    })
  }
}

/** The cached result as the caller's own answer (its id), written without re-encoding. */
function answer(call: Call, result: string): MessageReply {
  const id = JSON.stringify(call.id ?? null)
  return MessageReply.fromBytes(Buffer.from(`{"jsonrpc":"2.0","id":${id},"result":${result}}`))
}
