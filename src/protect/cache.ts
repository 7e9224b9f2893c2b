/**
 * The response cache of one upstream (`[backends.cache]`): `tools/call` answers for
 * `tool_ttl_seconds`, `resources/read` answers for `resource_ttl_seconds`. Unlike mcp-proxy:
 * - entries are keyed by the caller's identity (identity.ts) as well as the arguments, except
 *   answers the server marked `cacheScope: "public"` (2026-07-28), which any caller may reuse;
 * - a server's `ttlMs` shortens the entry's life (0: not stored);
 * - errors, `isError` results and `input_required` results are never stored, nor the answer of
 *   a call that asked the client something (sampling, elicitation: `notes.askedClient`), nor
 *   of a 2026-07-28 retry carrying the client's `inputResponses` (request-key.ts);
 * - entries are bounded in number (`max_entries`, LRU) and in size (`max_entry_bytes`).
 * A hit is answered at once with the caller's own id and noted (`cache: "hit"`) for the
 * record; hits and misses are counted for operators.
 */
import { LRUCache } from 'lru-cache'
import type { CacheConfig } from '../config/protect.ts'
import {
  encodeJson,
  isObject,
  type JsonRpcId,
  type JsonRpcResponse,
  jsonTextOf,
  parseJson,
} from '../jsonrpc/message.ts'
import { type Call, noteAskedClient } from '../pipeline/call.ts'
import { callNext, type Middleware } from '../pipeline/compose.ts'
import {
  MessageReply,
  mapAnswer,
  type Reply,
  type StreamEvent,
  StreamReply,
} from '../pipeline/reply.ts'
import { asResponse, isOwnAnswer } from '../protocol/summarize.ts'
import { afterTurn } from '../util/after-turn.ts'
import { type Clock, systemClock } from '../util/clock.ts'
import { callerKey, requestKey } from './request-key.ts'

export interface CacheStats {
  hits: number
  misses: number
  entries: number
  /** The entries are Redis's, shared by every replica and worker (`[shared] caches`). */
  shared?: boolean
}

/**
 * Markers of an answer that must be parsed before it may be stored. One regular expression
 * over the answer's text (the text the entry keeps anyway): several times cheaper than one
 * `Buffer.indexOf` per marker, each a call into C++ (measured: bench/reports/2026-12-01-perf2.md).
 * Any `\u` escape counts too: JSON may spell a key with escapes (`"is\u0045rror"` is `isError`),
 * which only a parse reads.
 */
const NEEDS_A_LOOK = /"(?:error|isError|ttlMs|cacheScope|resultType)"|\\u/

/**
 * A whole response's JSON text, stored from an upstream's bytes without parsing them; turned
 * into its result text on the first hit.
 */
class WholeResponse {
  readonly text: string
  /** The id of the request it answered: a response naming another is no answer to keep. */
  readonly id: JsonRpcId | undefined
  constructor(text: string, id: JsonRpcId | undefined) {
    this.text = text
    this.id = id
  }
}

/**
 * An entry: the result's JSON text, or a whole response. Text, not the upstream's Buffer: a
 * Buffer kept for its ttl is an ArrayBuffer the collector tracks one by one, and a slice keeps
 * the whole chunk the socket read alive (measured: bench/reports/2026-12-01-perf2.md).
 */
type Entry = string | WholeResponse

/** What an entry holds, for `max_bytes`: its text and its key, in characters. */
function sizeOf(entry: Entry, key: string): number {
  return (typeof entry === 'string' ? entry.length : entry.text.length) + key.length
}

/** How a `resources/read` request key begins (request-key.ts: method, version, target…). */
const RESOURCE_READ = 'resources/read\u0000'

export class ResponseCache implements AnswerStore {
  readonly #config: CacheConfig
  readonly #entries: LRUCache<string, Entry>
  /**
   * Whether any answer was stored as public (`cacheScope: "public"`): until one is, a lookup
   * does not build and try the public key (most servers never mark answers public).
   */
  #anyPublic = false
  hits = 0
  misses = 0
  /**
   * Resource updates seen (`forgetResource`): a read that missed before one keeps nothing (its
   * answer may hold the old contents; kept, it was served for its whole ttl). Each read notes
   * the count when it missed (`notes.cacheUpdates`), so reads in flight side by side are each
   * judged by their own.
   */
  #updates = 0

  constructor(config: CacheConfig, clock: Clock) {
    this.#config = config
    this.#entries = new LRUCache<string, Entry>({
      max: config.max_entries,
      maxSize: config.max_bytes,
      sizeCalculation: sizeOf,
      ttlAutopurge: false,
      // The real clock is read at most once per millisecond (lru-cache keeps "now" that long,
      // moved on by a real timer): clock reads were a measurable part of each lookup. An
      // injected clock (tests) is read at every check, since a real timer cannot move it.
      ...(clock === systemClock
        ? { ttlResolution: 1 }
        : { perf: { now: () => clock.now() }, ttlResolution: 0 }),
      ttl: 1, // every entry sets its own
    })
  }

  get maxEntryBytes(): number {
    return this.#config.max_entry_bytes
  }

  /**
   * Forgets the kept reads of a resource its server said changed
   * (`notifications/resources/updated`): a subscriber re-reading it got the old contents until
   * the entry's ttl ran out. `names`: the URI as the backend and as clients know it. Returns
   * how many entries went. A pass over the keys (bounded by `max_entries`) per update the
   * backend sends: they are rare next to calls, and a backend is one the config trusts.
   */
  forgetResource(names: readonly string[]): number {
    this.#updates++
    if (this.#entries.size === 0) return 0
    const marks = names.map((name) => `\u0000${name}\u0000`)
    const going: string[] = []
    for (const key of this.#entries.keys()) {
      if (key.includes(RESOURCE_READ) && marks.some((mark) => key.includes(mark))) going.push(key)
    }
    for (const key of going) this.#entries.delete(key)
    return going.length
  }

  /** Empties the cache (`POST /admin/cache/clear`); returns how many entries it held. */
  clear(): number {
    const size = this.#entries.size
    this.#entries.clear()
    return size
  }

  stats(): CacheStats {
    return { hits: this.hits, misses: this.misses, entries: this.#entries.size }
  }

  /** Seconds an answer of `method` is kept (0: not cached). */
  ttlOf(method: string | undefined): number {
    return ttlSecondsOf(this.#config, method)
  }

  /** The result text of a fresh entry: the caller's own, else a public one. */
  lookup(privateKey: string, call: Call): string | undefined {
    let key = privateKey
    let entry = this.#entries.get(key)
    if (entry === undefined && this.#anyPublic) {
      key = publicKeyOf(call)
      entry = this.#entries.get(key)
    }
    if (entry === undefined) {
      if (call.method === 'resources/read') call.notes.cacheUpdates = this.#updates
      return undefined
    }
    if (typeof entry === 'string') return aged(entry, this.#entries.getRemainingTTL(key))
    // Read for the first time now: what is not a success answering its own request (no
    // result, another id, a batch) was never an answer to keep.
    const response = asResponse(parseJson(entry.text))
    const kept =
      response === undefined || !isOwnAnswer(entry, response.id)
        ? undefined
        : storable(response, 1, Number.MAX_SAFE_INTEGER)
    if (kept === undefined) {
      this.#entries.delete(key)
      return undefined
    }
    this.#entries.set(key, kept.text, { noUpdateTTL: true })
    return kept.text
  }

  /**
   * Stores an upstream's answer bytes as they are when they are plainly a success with no
   * hints (no parse on the miss path); anything else goes through `store`.
   */
  storeBytes(bytes: Buffer, ttlSeconds: number, privateKey: string, call: Call): void {
    if (bytes.length > this.#config.max_entry_bytes || ttlSeconds <= 0) return
    if (!this.#notUpdatedSince(call)) return
    const text = bytes.toString('utf8')
    if (NEEDS_A_LOOK.test(text)) {
      const response = asResponse(parseJson(text))
      if (response !== undefined && isOwnAnswer(call, response.id)) {
        this.store(response, ttlSeconds, privateKey, call)
      }
      return
    }
    this.#entries.set(privateKey, new WholeResponse(text, call.id), { ttl: ttlSeconds * 1000 })
  }

  /** Stores a response when it may be: a complete, successful result within the bounds. */
  store(response: JsonRpcResponse, ttlSeconds: number, privateKey: string, call: Call): void {
    if (!this.#notUpdatedSince(call)) return
    const entry = storable(response, ttlSeconds, this.#config.max_entry_bytes)
    if (entry === undefined) return
    if (entry.shared) {
      this.#anyPublic = true
      this.#entries.set(publicKeyOf(call), entry.text, { ttl: entry.ttlMs })
    } else this.#entries.set(privateKey, entry.text, { ttl: entry.ttlMs })
  }

  /** Whether no resource update came while `call`'s read was on its way. */
  #notUpdatedSince(call: Call): boolean {
    const missedAt = call.notes.cacheUpdates
    return missedAt === undefined || missedAt === this.#updates
  }
}

/**
 * A kept result with the server's `ttlMs` (2026-07-28: how long a client may reuse it) no
 * longer than what is left of the entry's life, as an HTTP cache's `Age` lowers `max-age`:
 * served as stored, a result kept 50 s of its 60 told the client it had 60 s more.
 */
function aged(text: string, remainingMs: number): string {
  if (!text.includes('"ttlMs"')) return text
  const result = parseJson(text)
  if (!isObject(result) || typeof result.ttlMs !== 'number') return text
  const left = Math.max(0, Math.floor(remainingMs))
  return result.ttlMs <= left ? text : (jsonTextOf({ ...result, ttlMs: left }) ?? text)
}

/** Seconds an answer of `method` is kept under `config` (0: not cached). */
export function ttlSecondsOf(config: CacheConfig, method: string | undefined): number {
  if (method === 'tools/call') return config.tool_ttl_seconds
  if (method === 'resources/read') return config.resource_ttl_seconds
  return 0
}

/** What a cache keeps of an answer: its result's text, for how long, and for whom. */
export interface StorableEntry {
  text: string
  ttlMs: number
  /** `cacheScope: "public"`: any caller may reuse it (the public key), else only the caller. */
  shared: boolean
}

/**
 * Whether and how an answer may be stored: a complete, successful result (never an error, an
 * `isError` or an `input_required` result), for the table's ttl shortened by the server's
 * `ttlMs` (0: not at all), within `maxBytes`.
 */
export function storable(
  response: JsonRpcResponse,
  ttlSeconds: number,
  maxBytes: number,
): StorableEntry | undefined {
  const result = response.result
  if (response.error !== undefined || !isObject(result)) return undefined
  if (result.isError === true) return undefined
  if (result.resultType !== undefined && result.resultType !== 'complete') return undefined
  let ttlMs = ttlSeconds * 1000
  if (typeof result.ttlMs === 'number') ttlMs = Math.min(ttlMs, Math.max(0, result.ttlMs))
  if (ttlMs <= 0) return undefined
  // A result too deep to write is not kept (the edge reports it as a bad response).
  const text = jsonTextOf(result)
  if (text === undefined || text.length > maxBytes) return undefined
  return { text, ttlMs, shared: result.cacheScope === 'public' }
}

export function responseCache(cache: ResponseCache): Middleware {
  // Not an async function: every cacheable call passes here, and a miss's answer is usually
  // already whole (read by the transport), so nothing needs awaiting.
  return (call, next) => {
    const ttl = cache.ttlOf(call.method)
    const privateKey = ttl > 0 ? callerKey(call) : undefined
    if (privateKey === undefined) return next(call)
    const hit = cache.lookup(privateKey, call)
    if (hit !== undefined) {
      cache.hits++
      call.notes.cache = 'hit'
      return Promise.resolve(answer(call, hit))
    }
    cache.misses++
    call.notes.cache = 'miss'
    return callNext(next, call).then((reply) => keep(cache, call, reply, ttl, privateKey))
  }
}

/** Where a miss's answer is kept: this process's cache, or Redis (shared-cache.ts). */
export interface AnswerStore {
  readonly maxEntryBytes: number
  /** A parsed answer (a reply Portico built or already read). */
  store(response: JsonRpcResponse, ttlSeconds: number, privateKey: string, call: Call): void
  /** An upstream's JSON body as it came, after the answer is written. */
  storeBytes(bytes: Buffer, ttlSeconds: number, privateKey: string, call: Call): void
}

/** Stores a miss's answer when it may be kept; the answer itself is passed on unchanged. */
export function keep(
  cache: AnswerStore,
  call: Call,
  reply: Reply,
  ttl: number,
  privateKey: string,
): Reply | Promise<Reply> {
  // Its answer depends on what the client answered (a user's elicitation): never another's.
  if (call.notes.askedClient === true) return reply
  // An upstream's error status (a 500 or 429 with a result-shaped body) is no answer to keep:
  // served again it would go out as a 200.
  if (reply.status !== 200) return reply
  // A parsed answer is the call's own: a mismatched one became an error reply (and a gateway's
  // backend answers under the gateway's id, mapped back to the client's at the edge). An
  // upstream's bytes kept unread are checked against the call's id (storeBytes, lookup).
  const store = (response: JsonRpcResponse) => {
    if (call.notes.askedClient !== true) cache.store(response, ttl, privateKey, call)
    return undefined
  }
  if (reply instanceof StreamReply) return mapAnswer(call, notingServerRequests(call, reply), store)
  if (!(reply instanceof MessageReply) || reply.parsed) return mapAnswer(call, reply, store)
  // An upstream's JSON body: read it (bounded) and keep its bytes.
  if (reply.streaming) {
    return reply
      .fill(cache.maxEntryBytes)
      .then(() => keepBytes(cache, call, reply, ttl, privateKey))
  }
  return keepBytes(cache, call, reply, ttl, privateKey)
}

/**
 * A stream answer that notes a server request going by on it: transparent mode relays an
 * upstream's elicitation or sampling on the call's own stream, where nothing else notes it
 * (the gateway's relay does, gateway/related-turn.ts), and the answer after it depends on what
 * the client answered.
 */
function notingServerRequests(call: Call, reply: StreamReply): StreamReply {
  return reply.map((event) => {
    if (event.isMessage && call.notes.askedClient !== true) {
      const message = event.message()
      if (message !== undefined && 'method' in message && 'id' in message) {
        noteAskedClient(call.notes)
      }
    }
    return event
  })
}

function keepBytes(
  cache: AnswerStore,
  call: Call,
  reply: MessageReply,
  ttl: number,
  privateKey: string,
): MessageReply {
  const body = reply.streaming ? undefined : reply.body()
  if (body !== undefined && 'bytes' in body) {
    // Stored after the answer is written: decoding and indexing it need not delay it.
    const bytes = body.bytes
    afterTurn(() => cache.storeBytes(bytes, ttl, privateKey, call))
  }
  return reply
}

/**
 * Events whose data may be a `notifications/resources/updated`, spelt plainly or with JSON's
 * escapes (`\/`, `\u…`): only those are parsed to be sure.
 */
const MAY_NAME_AN_UPDATE = /resources\\?\/updated|\\u/

/** The URI a server's `notifications/resources/updated` event names, else undefined. */
export function updatedResourceOf(event: StreamEvent): string | undefined {
  if (!event.isMessage) return undefined
  const unread = event.unreadData
  if (unread !== undefined && !MAY_NAME_AN_UPDATE.test(unread)) return undefined
  const message = event.message()
  if (message === undefined || !('method' in message)) return undefined
  if (message.method !== 'notifications/resources/updated') return undefined
  const uri = isObject(message.params) ? message.params.uri : undefined
  return typeof uri === 'string' ? uri : undefined
}

/**
 * A server's stream whose `notifications/resources/updated` drop the resource's cached reads
 * as they go by (`forget`): a subscriber re-reading it would otherwise get the old contents
 * until the entry's ttl ran out.
 */
export function forgettingUpdatedResources(
  reply: StreamReply,
  forget: (uri: string) => void,
): StreamReply {
  return reply.map((event) => {
    const uri = updatedResourceOf(event)
    if (uri !== undefined) forget(uri)
    return event
  })
}

/** The key of an answer any caller may reuse (`cacheScope: "public"`). */
export function publicKeyOf(call: Call): string {
  // The query too: transparent mode passes it on, and it names what the upstream answered for.
  const query = call.request.search
  return query === '' || query === '?'
    ? `public\u0000${requestKey(call)}`
    : `public\u0000${query}\u0000${requestKey(call)}`
}

/** The cached result as the caller's own answer (its id), written without re-encoding. */
export function answer(call: Call, result: string): MessageReply {
  // encodeJson: a big-integer id goes out as the literal the client sent.
  const id = encodeJson(call.id ?? null)
  return MessageReply.fromBytes(Buffer.from(`{"jsonrpc":"2.0","id":${id},"result":${result}}`))
}
