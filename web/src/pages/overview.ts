import type { StatusTotals } from '../../../src/store/report-status.ts'
import { getJson } from '../api.ts'
import { latencyChart, type SeriesPoint, trafficChart } from '../chart.ts'
import { formatCount, formatPct, h, section, stat, table } from '../dom.ts'
import { go } from '../state.ts'
import type { Page } from './types.ts'

interface Overview extends StatusTotals {
  per_proxy: StatusTotals[]
  series: { bucket_ms: number; points: SeriesPoint[] }
}

export const overview: Page = async (ctx) => {
  const data = await getJson<Overview>('overview', { since: ctx.since, proxy: ctx.proxy })
  return h(
    'div',
    {},
    h('h1', {}, 'Overview'),
    h(
      'div',
      { class: 'stats' },
      stat('Requests', formatCount(data.total_requests), 'stat-requests'),
      stat('Errors', formatCount(data.errors), 'stat-errors'),
      stat('Error rate', formatPct(data.error_pct), 'stat-error-rate'),
      stat('Sessions', formatCount(data.sessions.total), 'stat-sessions'),
      stat('Active sessions', formatCount(data.sessions.active), 'stat-active'),
    ),
    h(
      'div',
      { class: 'charts' },
      trafficChart(data.series.points),
      latencyChart(data.series.points, 'Latency p50 / p95 / p99'),
    ),
    data.per_proxy.length > 0 &&
      section(
        'Per proxy',
        table(
          'Requests per proxy',
          [
            { label: 'Proxy', value: (r) => r.proxy ?? '' },
            {
              label: 'Requests',
              value: (r) => r.total_requests,
              render: (r) => formatCount(r.total_requests),
              numeric: true,
            },
            {
              label: 'Errors',
              value: (r) => r.error_pct,
              render: (r) => formatPct(r.error_pct),
              numeric: true,
            },
            { label: 'Sessions', value: (r) => r.sessions.total, numeric: true },
          ],
          data.per_proxy,
          { onOpen: (r) => go('overview', { proxy: r.proxy ?? undefined }) },
        ),
      ),
  )
}
