import type { BackendStatus } from '../../../src/admin/fleet.ts'
import { getJson } from '../api.ts'
import { formatTime, h, table } from '../dom.ts'
import type { Page } from './types.ts'

export const gateway: Page = async () => {
  const data = await getJson<{ mode: string | null; backends: BackendStatus[] }>('gateway', {})
  if (data.mode === null) {
    return h(
      'div',
      {},
      h('h1', {}, 'Gateway'),
      h(
        'p',
        {},
        'Backends and their health are shown when the dashboard is served by a running proxy ([dashboard] enabled).',
      ),
    )
  }
  return h(
    'div',
    {},
    h('h1', {}, data.mode === 'gateway' ? 'Gateway backends' : 'Upstream'),
    table(
      'Backends now',
      [
        { label: 'Backend', value: (b) => b.namespace },
        { label: 'Healthy', value: (b) => (b.healthy ? 'yes' : 'no') },
        { label: 'State', value: (b) => b.state },
        // Why every call may be refused though the backend is up: an open breaker, an ejection.
        { label: 'Breaker', value: (b) => b.breaker ?? '—' },
        { label: 'Ejected', value: (b) => (b.ejected === true ? 'yes' : 'no') },
        { label: 'Transport', value: (b) => b.transport ?? '' },
        { label: 'Restarts', value: (b) => b.restarts, numeric: true },
        { label: 'Connections', value: (b) => b.connections, numeric: true },
        { label: 'Failures in a row', value: (b) => b.consecutive_failures, numeric: true },
        {
          label: 'Last checked',
          value: (b) => b.last_checked_at ?? '',
          render: (b) => (b.last_checked_at ? formatTime(Date.parse(b.last_checked_at)) : 'never'),
        },
        { label: 'Error', value: (b) => b.error ?? '' },
      ],
      data.backends,
      { id: 'backends' },
    ),
  )
}
