/**
 * mcp-proxy's `BackendStatus` of a backend's health, for the admin tools and the admin API (in a
 * module of its own: the admin API's fleet view reads it in both modes, and gateway/admin.ts
 * loads the rest of the gateway).
 */
import type { JsonObject } from '../jsonrpc/message.ts'
import type { BackendHealth } from './backends/backend.ts'

/** mcp-proxy's BackendStatus for one backend's health. */
export function backendStatus(health: BackendHealth): JsonObject {
  return {
    namespace: health.name,
    healthy: health.state === 'up' || health.state === 'idle',
    last_checked_at: health.lastCheckedAt ?? null,
    consecutive_failures: health.consecutiveFailures,
    error: health.error ?? health.lastFailure?.message ?? null,
    transport: health.transport,
    state: health.state,
    restarts: health.restarts,
    connections: health.connections,
    protocol_version: health.protocolVersion ?? null,
  }
}
