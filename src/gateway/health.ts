/**
 * `/readyz` in gateway mode: ready while at least one backend serves (a gateway with one dead
 * backend still serves the others), or while every backend is still idle or starting. The
 * state says which: `ok` (all up), `starting` (some still starting, none down) or `degraded`
 * (one down, or refusing every call: ejected, or its breaker open).
 * Anyone gets each backend's name and state; the full health (pids, last errors) only on the
 * local admin surface (`detailed`), since error texts can name paths and hosts.
 */
import type { Readiness } from '../edge/mode.ts'
import { refusesCalls } from './backend-status.ts'
import type { Gateway } from './gateway.ts'

export function gatewayReadiness(gateway: Gateway, detailed: boolean): Readiness {
  const health = gateway.backends().map((backend) => backend.health())
  const count = (states: readonly string[]) => health.filter((b) => states.includes(b.state)).length
  const up = count(['up'])
  const waiting = count(['idle', 'starting'])
  // Ejected or with its breaker open, a backend refuses every call for now: the gateway is
  // degraded (it still serves, and so stays ready, as Envoy's does with a host ejected).
  const refusing = health.filter(refusesCalls).length
  // Ready while a backend serves: one that refuses every call for now does not.
  const serving = health.filter((b) => b.state === 'up' && !refusesCalls(b)).length
  const ready = serving > 0 || (health.length > 0 && waiting === health.length)
  const state =
    refusing > 0
      ? 'degraded'
      : up === health.length
        ? 'ok'
        : up + waiting === health.length
          ? 'starting'
          : 'degraded'
  const backends = detailed
    ? health
    : health.map((b) => ({ name: b.name, state: b.state, connections: b.connections }))
  return {
    ready,
    detail: { state, degraded: state === 'degraded', sessions: gateway.sessions.size, backends },
  }
}
