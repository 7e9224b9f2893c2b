import { getJson } from '../api.ts'
import { formatCount, formatPct, formatTime, h, section, table } from '../dom.ts'
import { go } from '../state.ts'
import type { ClientRow, Page } from './types.ts'

export const clients: Page = async (ctx) => {
  const { clients: rows } = await getJson<{ clients: ClientRow[] }>('clients', {
    since: ctx.since,
    proxy: ctx.proxy,
  })
  const platforms = new Map<
    string,
    { platform: string; sessions: number; calls: number; errors: number }
  >()
  for (const row of rows) {
    const p = platforms.get(row.platform) ?? {
      platform: row.platform,
      sessions: 0,
      calls: 0,
      errors: 0,
    }
    p.sessions += row.sessions
    p.calls += row.calls
    p.errors += row.errors
    platforms.set(row.platform, p)
  }
  return h(
    'div',
    {},
    h('h1', {}, 'Clients'),
    table(
      'Clients by name and version',
      [
        { label: 'Client', value: (r) => r.client_name },
        { label: 'Version', value: (r) => r.client_version },
        { label: 'Platform', value: (r) => r.platform },
        { label: 'Sessions', value: (r) => r.sessions, numeric: true },
        {
          label: 'Calls',
          value: (r) => r.calls,
          render: (r) => formatCount(r.calls),
          numeric: true,
        },
        {
          label: 'Error rate',
          value: (r) => r.error_pct,
          render: (r) => formatPct(r.error_pct),
          numeric: true,
        },
        { label: 'Last seen', value: (r) => r.last_seen, render: (r) => formatTime(r.last_seen) },
      ],
      rows,
      { onOpen: (r) => go('sessions', { client: r.client_name }), sort: 4, id: 'clients' },
    ),
    section(
      'By platform',
      table(
        'Platforms',
        [
          { label: 'Platform', value: (r) => r.platform },
          { label: 'Sessions', value: (r) => r.sessions, numeric: true },
          {
            label: 'Calls',
            value: (r) => r.calls,
            render: (r) => formatCount(r.calls),
            numeric: true,
          },
          { label: 'Errors', value: (r) => r.errors, numeric: true },
        ],
        [...platforms.values()],
        { sort: 2, id: 'platforms' },
      ),
    ),
  )
}
