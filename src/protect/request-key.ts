/**
 * The identity of a request for the cache and coalescing: who asks (identity.ts), the method,
 * the target (tool name, resource URI, prompt name) and the arguments as sent, without
 * `_meta` (progress tokens and client info differ between otherwise identical calls).
 * Computed once per call and remembered, since both policies need it.
 */
import { isObject } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import { clientIdentity } from './identity.ts'

/** Methods whose answers depend only on their params (and who asks). */
export const KEYED_METHODS: ReadonlySet<string> = new Set([
  'tools/call',
  'resources/read',
  'prompts/get',
])

/** Message → its request key (without the caller). */
const KEYS = new WeakMap<object, string>()

/** The request's key, or undefined when the call is not one of `KEYED_METHODS`. */
export function requestKey(call: Call): string | undefined {
  const method = call.method
  if (call.kind !== 'request' || method === undefined || !KEYED_METHODS.has(method)) return
  const message = call.message
  let key = KEYS.get(message)
  if (key === undefined) {
    const params = 'params' in message && isObject(message.params) ? message.params : {}
    const args = method === 'resources/read' ? undefined : params.arguments
    // Joined, not concatenated: `join` builds one flat string, where a template makes a tree of
    // pieces, and cache keys live for their ttl (every young-generation GC copied the pieces).
    key = [method, call.target?.name ?? '', args === undefined ? '' : JSON.stringify(args)].join(
      '\u0000',
    )
    KEYS.set(message, key)
  }
  return key
}

/** The request's key for this caller (private cache entries, coalescing). */
export function callerKey(call: Call): string | undefined {
  const key = requestKey(call)
  return key === undefined ? undefined : [clientIdentity(call), key].join('\u0000')
}
