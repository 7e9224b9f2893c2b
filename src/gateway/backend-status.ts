/**
 * mcp-proxy's `BackendStatus` of a backend's health, for the admin tools and the admin API (in a
 * module of its own: the admin API's fleet view reads it in both modes, and gateway/admin.ts
 * loads the rest of the gateway).
 */
import type { JsonObject } from '../jsonrpc/message.ts'
import type { BackendHealth } from './backends/backend.ts'

/**
 * mcp-proxy's BackendStatus for one backend's health. A backend whose calls are all refused at
 * once (ejected, or its breaker open) is not healthy, whatever its process or connection says:
 * it was reported healthy while every call got 503.
 */
export function backendStatus(health: BackendHealth): JsonObject {
  const ejected = health.protect?.ejected === true
  const breaker = health.protect?.breaker
  return {
    namespace: health.name,
    healthy: (health.state === 'up' || health.state === 'idle') && !refusesCalls(health),
    ejected,
    breaker: breaker ?? null,
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

/** Whether every call to the backend is refused at once: ejected, or its breaker open. */
export function refusesCalls(health: BackendHealth): boolean {
  return health.protect?.ejected === true || health.protect?.breaker === 'open'
}
