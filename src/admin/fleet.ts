/**
 * What the admin surfaces (REST API, metrics gauges) read and change, the same for both
 * modes: the backends with their health in mcp-proxy's `BackendStatus` shape (plus Portico's
 * state, restarts and connections), sessions, and runtime backend changes. Gateway mode reads
 * the Gateway; transparent mode shows its one upstream and has no sessions of its own.
 */

import { redactedConfig } from '../config/redact-config.ts'
import type { Config } from '../config/schema.ts'
import type { Readiness } from '../edge/mode.ts'
import { backendStatus } from '../gateway/backend-status.ts'
import type { BackendHealth } from '../gateway/backends/backend.ts'
import type { Gateway, HealthTransition } from '../gateway/gateway.ts'
import type { JsonObject } from '../jsonrpc/message.ts'

/** mcp-proxy's BackendStatus, with Portico's details after its fields. */
export interface BackendStatus {
  namespace: string
  healthy: boolean
  /** Ejected by outlier detection (gateway backends; transparent mode has none). */
  ejected?: boolean
  /** Its circuit breaker's state (`closed`, `open`, `half_open`), or null without one. */
  breaker?: string | null
  last_checked_at: string | null
  consecutive_failures: number
  error: string | null
  transport: string | null
  state: string
  restarts: number
  connections: number
}

export interface SessionDetail {
  id: string
  uptime_seconds: number
  idle_seconds: number
}

export interface Fleet {
  readonly mode: 'gateway' | 'transparent'
  backends(): Promise<BackendStatus[]>
  history(name: string): HealthTransition[]
  /** Undefined when the mode keeps no sessions (transparent). */
  sessions(): SessionDetail[] | undefined
  endSession(id: string): boolean
  /** Runtime changes; undefined in transparent mode. */
  changes?: {
    add(input: unknown): Promise<string>
    replace(input: unknown): Promise<string>
    remove(name: string): Promise<boolean>
  }
  /** The running config with every secret redacted. */
  config(): JsonObject
}

export function statusOf(health: BackendHealth): BackendStatus {
  return backendStatus(health) as unknown as BackendStatus
}

export function gatewayFleet(gateway: Gateway): Fleet {
  return {
    mode: 'gateway',
    backends: async () => gateway.backends().map((b) => statusOf(b.health())),
    history: (name) => gateway.history(name),
    sessions() {
      const now = Date.now()
      return [...gateway.sessions.values()].map((s) => ({
        id: s.key,
        uptime_seconds: Math.round((now - s.createdAt) / 1000),
        idle_seconds: Math.round((now - s.lastSeen) / 1000),
      }))
    },
    endSession: (id) => gateway.sessions.delete(id),
    changes: {
      async add(input) {
        const added = await gateway.addBackend(input)
        gateway.announceListChanges()
        return added.name
      },
      async replace(input) {
        const replaced = await gateway.addBackend(input, true)
        gateway.announceListChanges()
        return replaced.name
      },
      async remove(name) {
        const removed = await gateway.removeBackend(name)
        if (removed) gateway.announceListChanges()
        return removed
      },
    },
    config: () => redactedConfig(gateway.config),
  }
}

/** `running`: the config in force, which a hot reload changes. */
export function transparentFleet(
  running: () => Config,
  readiness: () => Promise<Readiness> | Readiness,
): Fleet {
  const since = new Date().toISOString()
  return {
    mode: 'transparent',
    async backends() {
      const { ready, detail } = await readiness()
      const error = typeof detail?.error === 'string' ? detail.error : null
      return [
        {
          namespace: 'upstream',
          healthy: ready,
          last_checked_at: new Date().toISOString(),
          consecutive_failures: ready ? 0 : 1,
          error: ready ? null : error,
          transport: 'http',
          state: ready ? 'up' : 'down',
          restarts: 0,
          connections: 0,
        },
      ]
    },
    history: () => [],
    sessions: () => undefined,
    endSession: () => false,
    config: () => {
      const config = running()
      return redactedConfig(config, { upstream: config.upstream ?? null, since })
    },
  }
}
