import { getJson } from '../api.ts'
import { formatCount, formatLatency, formatTime, h, section, table } from '../dom.ts'
import { go } from '../state.ts'
import { callsTable } from './targets.ts'
import type { Exchange, Page, SessionRow as Session } from './types.ts'

export const sessions: Page = async (ctx) => {
  const data = await getJson<{ sessions: Session[]; more?: boolean }>('sessions', {
    since: ctx.since,
    proxy: ctx.proxy,
    client: ctx.params.get('client') ?? undefined,
  })
  return h(
    'div',
    {},
    h('h1', {}, 'Sessions'),
    table(
      'Sessions seen in this window (newest first)',
      [
        { label: 'Session', value: (s) => s.session_id, render: (s) => s.session_id.slice(0, 16) },
        {
          label: 'Client',
          value: (s) => `${s.client_name ?? '(unknown)'} ${s.client_version ?? ''}`,
        },
        { label: 'Platform', value: (s) => s.platform ?? 'unknown' },
        { label: 'Started', value: (s) => s.started_at, render: (s) => formatTime(s.started_at) },
        {
          label: 'Calls',
          value: (s) => s.calls,
          render: (s) => formatCount(s.calls),
          numeric: true,
        },
        { label: 'Errors', value: (s) => s.errors, numeric: true },
        { label: 'State', value: (s) => (s.ended_at ? 'ended' : s.active ? 'active' : 'idle') },
      ],
      data.sessions,
      // The session's proxy as its own parameter: the page-wide proxy filter stays as it was.
      { onOpen: (s) => go('session', { id: s.session_id, of: s.proxy }), id: 'sessions' },
    ),
    data.more
      ? h(
          'p',
          { id: 'sessions-more' },
          `The ${formatCount(data.sessions.length)} newest are shown; the window holds more: narrow it, or portico sessions --since … --limit … lists them.`,
        )
      : null,
  )
}

export const session: Page = async (ctx) => {
  const id = ctx.params.get('id') ?? ''
  // Two proxies sharing a store may each have a session "1": `of` names the one meant.
  const data = await getJson<{ session: Session; calls: Exchange[]; more?: boolean }>('session', {
    id,
    proxy: ctx.params.get('of') ?? ctx.proxy,
  })
  const s = data.session
  return h(
    'div',
    {},
    h('h1', {}, `Session ${s.session_id.slice(0, 16)}`),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Client'),
      h(
        'dd',
        {},
        `${s.client_name ?? '(unknown)'} ${s.client_version ?? ''} (${s.platform ?? 'unknown'})`,
      ),
      h('dt', {}, 'Proxy'),
      h('dd', {}, s.proxy),
      h('dt', {}, 'Started'),
      h('dd', {}, formatTime(s.started_at)),
      h('dt', {}, 'Calls'),
      h('dd', {}, `${s.calls} (${s.errors} failed)`),
    ),
    data.more
      ? h(
          'p',
          { id: 'session-more' },
          `Its latest ${formatCount(data.calls.length)} calls are shown; portico session ${s.session_id.slice(0, 16)} lists them all.`,
        )
      : null,
    section('Timeline', timeline(data.calls)),
    callsTable('Calls in order', data.calls, 'session-calls'),
  )
}

/** Each call a bar on a shared time axis: where it started, how long it took, how it ended. */
function timeline(calls: Exchange[]): HTMLElement {
  if (calls.length === 0) return h('p', {}, 'No calls recorded.')
  const start = Math.min(...calls.map((c) => c.ts))
  const end = Math.max(...calls.map((c) => c.ts + c.latency_us / 1000))
  const span = Math.max(1, end - start)
  const list = h('ol', {
    class: 'timeline',
    id: 'timeline',
    'aria-label': `${calls.length} calls on a time axis of ${formatLatency(Math.round(span * 1000))}`,
  })
  for (const call of calls) {
    const left = ((call.ts - start) / span) * 100
    const width = Math.max(0.4, (call.latency_us / 1000 / span) * 100)
    const label = call.name ? `${call.method} ${call.name}` : call.method
    list.append(
      h(
        'li',
        {
          class: `bar-row ${call.status}`,
          'data-status': call.status,
          'data-method': call.method,
          'data-name': call.name ?? '',
        },
        h('span', { class: 'bar-label', title: label }, label),
        h(
          'span',
          { class: 'bar-track' },
          h('span', {
            class: 'bar',
            style: `left:${left.toFixed(2)}%;width:${Math.min(width, 100 - left).toFixed(2)}%`,
            title: `${label}: ${call.outcome}, ${formatLatency(call.latency_us)}`,
          }),
        ),
        h('span', { class: 'bar-outcome' }, `${call.outcome} · ${formatLatency(call.latency_us)}`),
      ),
    )
  }
  return list
}
