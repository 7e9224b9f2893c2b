import { readEvents } from '../api.ts'
import { formatLatency, formatTime, h } from '../dom.ts'
import type { Exchange, Page } from './types.ts'

const KEEP = 500

export const live: Page = async (ctx) => {
  const status = h('p', { role: 'status', id: 'live-status' }, 'Connecting…')
  const body = h('tbody', { id: 'live-rows' })
  const page = h(
    'div',
    {},
    h('h1', {}, 'Live'),
    status,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        {},
        h('caption', {}, 'Calls as they happen (newest first)'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['When', 'Proxy', 'Method', 'Target', 'Outcome', 'Latency'].map((c) =>
              h('th', { scope: 'col' }, c),
            ),
          ),
        ),
        body,
      ),
    ),
  )
  /** The last call shown: a reconnect goes on after it (no hole while the stream was down). */
  let lastId: number | undefined
  const connect = () => {
    const search = new URLSearchParams()
    if (ctx.proxy) search.set('proxy', ctx.proxy)
    if (lastId !== undefined) search.set('after', String(lastId))
    return readEvents(`api/live?${search}`, ctx.signal, (event, data) => {
      if (event === 'ready') {
        status.textContent = 'Connected: new calls appear here.'
        // The first connection starts from now: what came before is the Logs page's.
        lastId ??= (JSON.parse(data) as { after: number }).after
      }
      if (event !== 'calls') return
      for (const row of JSON.parse(data) as Exchange[]) {
        lastId = Math.max(lastId ?? 0, row.id)
        body.prepend(
          h(
            'tr',
            { class: row.status },
            h('td', {}, formatTime(row.ts)),
            h('td', {}, row.proxy),
            h('td', {}, row.method),
            h('td', {}, row.name ?? ''),
            h('td', {}, row.outcome),
            h('td', { class: 'num' }, formatLatency(row.latency_us)),
          ),
        )
      }
      while (body.childElementCount > KEEP) body.lastElementChild?.remove()
    })
  }
  const loop = async () => {
    while (!ctx.signal.aborted) {
      try {
        await connect()
      } catch (error) {
        if (ctx.signal.aborted) return
        status.textContent = `Disconnected (${String(error)}); retrying…`
      }
      await new Promise((r) => setTimeout(r, 2000))
    }
  }
  void loop()
  return page
}
