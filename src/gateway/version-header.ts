/**
 * The protocol revisions the gateway serves, and the refusal of any other: named by a
 * session's `MCP-Protocol-Version` header (POST, GET, DELETE) or by a stateless request's
 * `_meta` (terminal.ts). MCP (2025-06-18 on) says an invalid or unsupported value is answered
 * 400 Bad Request, as the SDK servers do; served anyway, a client that named a revision the
 * gateway does not speak would take answers of another revision for its own. Without the header
 * the client speaks 2025-03-26 (the spec's default), which the gateway serves.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { PorticoError } from '../errors.ts'
import { headerValue } from '../http/headers.ts'
import { MODERN_PROTOCOL_VERSION } from '../protocol/classify.ts'
import { SUPPORTED_VERSIONS } from './dispatch.ts'

const SERVED: readonly string[] = [...SUPPORTED_VERSIONS, MODERN_PROTOCOL_VERSION]

/**
 * `unsupported_protocol_version` (400, -32022) for a revision the gateway does not serve;
 * `supported` lists those a client may retry with on the same path (a stateless request: only
 * 2026-07-28, not the revisions served on sessions after an `initialize`).
 */
export function unsupportedVersion(
  requested: string,
  supported: readonly string[] = SERVED,
): PorticoError {
  return new PorticoError('unsupported_protocol_version', {
    message: `Unsupported protocol version: ${requested.slice(0, 64)}`,
    data: { supported, requested: requested.slice(0, 64) },
  })
}

/** The refusal of a session request whose header names another revision; undefined if served. */
export function versionHeaderRefusal(headers: IncomingHttpHeaders): PorticoError | undefined {
  const requested = headerValue(headers, 'mcp-protocol-version')
  return requested === undefined || SERVED.includes(requested)
    ? undefined
    : unsupportedVersion(requested)
}
