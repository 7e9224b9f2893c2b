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
import type { StatusBoard } from '../observe/status.ts'

/** mcp-proxy's BackendStatus, with Portico's details after its fields. */
export interface BackendStatus {
  namespace: string
  healthy: boolean
  /** Ejected by outlier detection (gateway backends; transparent mode has none). */
  ejected?: boolean
  /** Its circuit breaker's state (`closed`, `open`, `half_open`), or null without one. */
  breaker?: string | null
  last_checked_at: string | null
  /** Null where the mode does not track it (transparent mode's one upstream). */
  consecutive_failures: number | null
  error: string | null
  transport: string | null
  state: string
  restarts: number | null
  connections: number | null
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

/**
 * `running`: the config in force, which a hot reload changes; `status`: where the upstream's
 * breaker says its state. The one upstream's row says what is known of it: its readiness
 * (checked at most once a second) and its breaker; what a transparent proxy does not track (a
 * count of failures in a row, restarts, connections) is null, not a made-up 0.
 */
export function transparentFleet(
  running: () => Config,
  readiness: () => Promise<Readiness> | Readiness,
  status: StatusBoard,
): Fleet {
  const since = new Date().toISOString()
  return {
    mode: 'transparent',
    async backends() {
      const { ready, detail } = await readiness()
      const problem = detail?.problem ?? detail?.error
      const error = typeof problem === 'string' ? problem : null
      const breaker = status.breakers().find((b) => b.backend === 'upstream')?.state ?? null
      // Every call is refused at once while the breaker is open: not healthy, and it says why.
      const open = breaker === 'open'
      return [
        {
          namespace: 'upstream',
          healthy: ready && !open,
          breaker,
          last_checked_at: typeof detail?.checkedAt === 'string' ? detail.checkedAt : null,
          consecutive_failures: null,
          error: open
            ? 'circuit breaker open: calls are refused until it half-opens'
            : ready
              ? null
              : error,
          transport: 'http',
          state: ready ? 'up' : 'down',
          restarts: null,
          connections: null,
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
