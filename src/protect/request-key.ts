/**
 * The identity of a request for the cache and coalescing: the method, the target (tool name,
 * resource URI, prompt name) and the arguments as sent, without `_meta` (progress tokens and
 * client info differ between otherwise identical calls). Callers add who is asking.
 */
import { isObject } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'

/** Methods whose answers depend only on their params (and who asks). */
export const KEYED_METHODS: ReadonlySet<string> = new Set([
  'tools/call',
  'resources/read',
  'prompts/get',
])

/** The request's key, or undefined when the call is not one of `KEYED_METHODS`. */
export function requestKey(call: Call): string | undefined {
  const method = call.method
  if (call.kind !== 'request' || method === undefined || !KEYED_METHODS.has(method)) return
  const message = call.message
  const params = 'params' in message && isObject(message.params) ? message.params : {}
  const args = method === 'resources/read' ? undefined : params.arguments
  return `${method}\u0000${call.target?.name ?? ''}\u0000${args === undefined ? '' : JSON.stringify(args)}`
}
