import { getJson } from '../api.ts'
import { formatCount, formatPct, formatTime, h, section, table } from '../dom.ts'
import { go } from '../state.ts'
import type { ClientRow, Page } from './types.ts'

interface PlatformRow {
  platform: string
  sessions: number
  calls: number
  errors: number
}

export const clients: Page = async (ctx) => {
  const data = await getJson<{
    clients: ClientRow[]
    count?: number
    platforms?: PlatformRow[]
  }>('clients', { since: ctx.since, proxy: ctx.proxy })
  const rows = data.clients
  const platforms = data.platforms ?? []
  const count = data.count ?? rows.length
  const shown =
    count > rows.length
      ? h(
          'p',
          { id: 'clients-shown' },
          `The ${formatCount(rows.length)} most active of ${formatCount(count)} are shown; portico clients lists them all.`,
        )
      : null
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
    shown,
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
        platforms,
        { sort: 2, id: 'platforms' },
      ),
    ),
  )
}
