import type { BackendStatus } from '../../../src/admin/fleet.ts'
import { getJson } from '../api.ts'
import { type Column, formatTime, h, table } from '../dom.ts'
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
        // Null where the mode does not count it (transparent mode's upstream): shown as —.
        counted('Restarts', (b) => b.restarts),
        counted('Connections', (b) => b.connections),
        counted('Failures in a row', (b) => b.consecutive_failures),
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

/** A count column: `—` (sorted first) where the count is not kept. */
function counted(label: string, count: (b: BackendStatus) => number | null): Column<BackendStatus> {
  return {
    label,
    value: (b) => count(b) ?? -1,
    render: (b) => {
      const n = count(b)
      return n === null ? '—' : String(n)
    },
    numeric: true,
  }
}
