import { getJson } from '../api.ts'
import { formatCount, formatTime, h, table } from '../dom.ts'
import { linkTo } from '../state.ts'
import type { ErrorGroup, Page } from './types.ts'

export const errors: Page = async (ctx) => {
  const { groups, more } = await getJson<{ groups: ErrorGroup[]; more?: boolean }>('errors', {
    since: ctx.since,
    proxy: ctx.proxy,
  })
  return h(
    'div',
    {},
    h('h1', {}, 'Errors'),
    table(
      'Errors grouped by target and code/message',
      [
        {
          label: 'Target',
          value: (g) => g.name ?? g.method,
          render: (g) =>
            g.name && g.target_kind
              ? h('a', { href: linkTo('targets', { kind: g.target_kind, name: g.name }) }, g.name)
              : g.method,
        },
        { label: 'Kind', value: (g) => g.target_kind ?? 'method' },
        { label: 'Code', value: (g) => g.error_code ?? '', numeric: true },
        { label: 'Message', value: (g) => g.error_message ?? g.outcome },
        {
          label: 'Count',
          value: (g) => g.count,
          render: (g) => formatCount(g.count),
          numeric: true,
        },
        {
          label: 'First seen',
          value: (g) => g.first_seen,
          render: (g) => formatTime(g.first_seen),
        },
        { label: 'Last seen', value: (g) => g.last_seen, render: (g) => formatTime(g.last_seen) },
      ],
      groups,
      { sort: 4, id: 'error-groups' },
    ),
    more
      ? h(
          'p',
          { id: 'errors-more' },
          `The ${formatCount(groups.length)} most frequent groups are shown; the window holds more: narrow it, or read them with portico logs --status error.`,
        )
      : null,
  )
}
