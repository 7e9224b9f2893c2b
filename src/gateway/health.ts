/**
 * `/readyz` in gateway mode: ready while at least one backend serves (a gateway with one dead
 * backend still serves the others), with every backend's health in the body so operators and
 * probes see exactly which one is down.
 */
import type { Gateway } from './gateway.ts'

export function gatewayReadiness(gateway: Gateway): {
  ready: boolean
  detail: Record<string, unknown>
} {
  const backends = gateway.backends().map((backend) => backend.health())
  const up = backends.filter((b) => b.state === 'up').length
  const waiting = backends.filter((b) => b.state === 'idle').length
  const ready = up > 0 || (backends.length > 0 && waiting === backends.length)
  return {
    ready,
    detail: { degraded: up + waiting < backends.length, sessions: gateway.sessions.size, backends },
  }
}
