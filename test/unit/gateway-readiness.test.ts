/**
 * `/readyz` in gateway mode: ready while a backend serves. One whose every call is refused for
 * now (its breaker open, or ejected) does not serve: with it alone the gateway is not ready
 * (it said ready while every call got 503), and beside one that serves it is degraded.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { BackendHealth } from '../../src/gateway/backends/backend.ts'
import type { Gateway } from '../../src/gateway/gateway.ts'
import { gatewayReadiness } from '../../src/gateway/health.ts'

function gatewayOf(...healths: Array<Partial<BackendHealth>>): Gateway {
  const backends = healths.map((health, i) => ({
    health: () =>
      ({ name: `b${i}`, state: 'up', connections: 1, restarts: 0, ...health }) as BackendHealth,
  }))
  return { backends: () => backends, sessions: { size: 0 } } as unknown as Gateway
}

describe('gateway readiness', () => {
  it('is not ready when its only backend refuses every call', () => {
    const open = gatewayReadiness(gatewayOf({ protect: { breaker: 'open' } }), false)
    assert.equal(open.ready, false)
    assert.equal(open.detail?.degraded, true)
    const ejected = gatewayReadiness(gatewayOf({ protect: { ejected: true } }), false)
    assert.equal(ejected.ready, false)
  })

  it('is ready but degraded while another backend serves', () => {
    const readiness = gatewayReadiness(gatewayOf({ protect: { breaker: 'open' } }, {}), false)
    assert.equal(readiness.ready, true)
    assert.equal(readiness.detail?.state, 'degraded')
    assert.equal(gatewayReadiness(gatewayOf({}, {}), false).detail?.state, 'ok')
  })
})
