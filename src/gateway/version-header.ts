/**
 * The `MCP-Protocol-Version` header of a session's requests (POST, GET, DELETE). MCP
 * (2025-06-18 on) says an invalid or unsupported value is answered 400 Bad Request, as the SDK
 * servers do; served anyway, a client that named a revision the gateway does not speak would
 * take answers of another revision for its own. Without the header the client speaks
 * 2025-03-26 (the spec's default), which the gateway serves. Stateless (2026-07-28) requests
 * are judged by their `_meta` (terminal.ts).
 */
import type { IncomingHttpHeaders } from 'node:http'
import { PorticoError } from '../errors.ts'
import { headerValue } from '../http/headers.ts'
import { MODERN_PROTOCOL_VERSION } from '../protocol/classify.ts'
import { SUPPORTED_VERSIONS } from './dispatch.ts'

const SERVED: readonly string[] = [...SUPPORTED_VERSIONS, MODERN_PROTOCOL_VERSION]

/** Throws `unsupported_protocol_version` (400, -32022) for a header naming another revision. */
export function checkVersionHeader(headers: IncomingHttpHeaders): void {
  const requested = headerValue(headers, 'mcp-protocol-version')
  if (requested === undefined || SERVED.includes(requested)) return
  throw new PorticoError('unsupported_protocol_version', {
    message: `Unsupported protocol version: ${requested.slice(0, 64)}`,
    data: { supported: SERVED, requested: requested.slice(0, 64) },
  })
}
