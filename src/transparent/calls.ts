/** Builds the classified `Call`s of one decoded HTTP body (every message classified once). */
import type { IncomingMessage } from 'node:http'
import { headerValue } from '../edge/headers.ts'
import type { Decoded } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/types.ts'
import {
  clientInfoOf,
  eraOf,
  modernVersionOf,
  requestedVersionOf,
  targetOf,
} from '../protocol/classify.ts'

export function buildCalls(
  decoded: Decoded,
  req: IncomingMessage,
  signal: AbortSignal,
  sessionId?: string,
): Call[] {
  const session = sessionId ?? headerValue(req.headers, 'mcp-session-id')
  const headerVersion = headerValue(req.headers, 'mcp-protocol-version')
  return decoded.messages.map((message, index) => {
    const kind = decoded.kinds[index] ?? 'request'
    const target = targetOf(message)
    const call: Call = {
      message,
      kind,
      era: eraOf(message, headerVersion, session),
      headers: req.headers,
      signal,
    }
    if (kind === 'request' && 'id' in message && message.id !== null) call.id = message.id
    if (target) {
      call.target = target
      call.method = target.method
    }
    if (session !== undefined) call.sessionId = session
    const version = modernVersionOf(message) ?? requestedVersionOf(message) ?? headerVersion
    if (version !== undefined) call.protocolVersion = version
    const client = clientInfoOf(message)
    if (client) call.client = client
    return call
  })
}

/** Runs the request-side policies over every call, in order; a refusal throws. */
export async function applyPolicies(
  policies: ReadonlyArray<(call: Call) => void | Promise<void>>,
  calls: readonly Call[],
): Promise<void> {
  if (policies.length === 0) return
  for (const call of calls) {
    for (const policy of policies) await policy(call)
  }
}
