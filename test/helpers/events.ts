/** Exchange events as the proxy publishes them, for tests that feed the store directly. */
import type { ExchangeEvent } from '../../src/observe/event.ts'

/** A successful legacy-era request on proxy `p`, now; `fields` override any of it. */
export function exchangeEvent(fields: Partial<ExchangeEvent> & { method: string }): ExchangeEvent {
  return {
    type: 'exchange',
    ts: Date.now(),
    proxy: 'p',
    transport: 'streamable-http',
    era: 'legacy',
    kind: 'request',
    outcome: 'ok',
    httpStatus: 200,
    durationUs: 1000,
    bytesIn: 10,
    bytesOut: 20,
    ...fields,
  }
}
