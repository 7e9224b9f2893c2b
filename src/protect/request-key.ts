/**
 * The identity of a request for the cache and coalescing: who asks and what the upstream is
 * told about them (identity.ts `answerIdentity`), the method, the protocol version,
 * the target (tool name, resource URI, prompt name), the arguments as sent and any other param,
 * without `_meta` (progress tokens and client info differ between otherwise identical calls).
 * Both policies ask for them: the last call's are remembered.
 */
import { encodeValues, isObject, type JsonObject } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import { answerIdentity } from './identity.ts'

/** Methods whose answers depend only on their params (and who asks). */
export const KEYED_METHODS: ReadonlySet<string> = new Set([
  'tools/call',
  'resources/read',
  'prompts/get',
])

/**
 * The last call's keys. The cache and coalescing ask for the same call's keys one after the
 * other, in the same turn of the chain: remembering the last message's (a message belongs to
 * one call and is never changed) spares the second computation without a WeakMap entry per
 * call, which the collector would have to process.
 */
let lastMessage: object | undefined
let lastKey: string | undefined
let lastWho: string | undefined
let lastOf: string | undefined
let lastCallerKey: string | undefined

/** The request's key, or undefined when the call is not one of `KEYED_METHODS`. */
export function requestKey(call: Call): string | undefined {
  const method = call.method
  if (call.kind !== 'request' || method === undefined || !KEYED_METHODS.has(method)) return
  const message = call.message
  if (message === lastMessage) return lastKey
  const params = 'params' in message && isObject(message.params) ? message.params : {}
  lastMessage = message
  lastKey = keyable(params, call) ? keyOf(method, params, call) : undefined
  return lastKey
}

/**
 * Whether a request may share its answer with others of its key. Not a 2026-07-28 retry that
 * carries the client's answers (MRTR: that client's continuation of a call), nor a
 * task-augmented call (its answer is a new task's handle, never another call's), nor one whose
 * target is no string (it has no name to key, limit or route it by).
 */
function keyable(params: JsonObject, call: Call): boolean {
  if (params.inputResponses !== undefined || params.requestState !== undefined) return false
  if (params.task !== undefined) return false
  return call.target?.name !== undefined
}

/** Params that name what is asked besides the target and arguments (none in the common case). */
const KEYED_PARAMS: ReadonlySet<string> = new Set(['name', 'uri', 'arguments', '_meta'])

function keyOf(method: string, params: JsonObject, call: Call): string {
  const args = method === 'resources/read' ? undefined : params.arguments
  let others: JsonObject | undefined
  for (const name in params) {
    if (KEYED_PARAMS.has(name)) continue
    others ??= {}
    others[name] = params[name] as JsonObject[string]
  }
  // Joined, not concatenated: `join` builds one flat string, where a template makes a tree of
  // pieces, and cache keys live for their ttl (every young-generation GC copied the pieces).
  return [
    method,
    // An upstream shapes its answer by the protocol version (structuredContent, say): two
    // versions never share one.
    call.protocolVersion ?? '',
    call.target?.name ?? '',
    // encodeValues: two big integers that round alike are two keys.
    args === undefined ? '' : encodeValues(args),
    others === undefined ? '' : encodeValues(others),
  ].join('\u0000')
}

/**
 * Whose a private entry is: the caller's identity and, when that is only its address (no
 * credential), its session too. An address may be shared (one host, a NAT, a proxy without
 * `trusted_proxies`) by clients an upstream tells apart by their sessions.
 */
function callerOf(call: Call): string {
  const who = answerIdentity(call)
  const session = call.sessionId
  return session !== undefined && who.startsWith('addr:') ? `${who}\u0000${session}` : who
}

/** The request's key for this caller (private cache entries, coalescing). */
export function callerKey(call: Call): string | undefined {
  const key = requestKey(call)
  if (key === undefined) return undefined
  // Both parts are remembered per call (here and in identity.ts): the same strings again.
  const who = callerOf(call)
  if (who !== lastWho || key !== lastOf) {
    lastWho = who
    lastOf = key
    lastCallerKey = [who, key].join('\u0000')
  }
  return lastCallerKey
}
