import { getJson } from '../api.ts'
import { latencyChart, type SeriesPoint } from '../chart.ts'
import {
  formatBytes,
  formatCount,
  formatLatency,
  formatPct,
  formatTime,
  h,
  section,
  table,
} from '../dom.ts'
import { go, linkTo } from '../state.ts'
import type { Exchange, Page, TargetStats } from './types.ts'

const KINDS = [
  ['tool', 'Tools', 'tools'],
  ['resource', 'Resources', 'resources'],
  ['prompt', 'Prompts', 'prompts'],
  ['', 'Methods', 'methods'],
] as const

type Kinds = 'tools' | 'resources' | 'prompts' | 'methods'
/** The most called of each kind (at most 500), and how many the window has. */
type Targets = Record<Kinds, TargetStats[]> & { counts?: Record<Kinds, number> }

interface TargetDetail {
  series: { points: SeriesPoint[] }
  slowest: Exchange[]
  failed: Exchange[]
}

export const targets: Page = async (ctx) => {
  const kind = ctx.params.get('kind') ?? 'tool'
  const entry = KINDS.find((k) => (k[0] || 'method') === kind) ?? KINDS[0]
  const name = ctx.params.get('name')
  const data = await getJson<Targets>('targets', { since: ctx.since, proxy: ctx.proxy })
  const rows = data[entry[2]]
  const tabs = h(
    'nav',
    { class: 'tabs', 'aria-label': 'Kind' },
    KINDS.map(([k, label]) =>
      h(
        'a',
        {
          href: linkTo('targets', { kind: k || 'method', name: undefined }),
          'aria-current': k === entry[0] ? 'page' : undefined,
        },
        label,
      ),
    ),
  )
  const health = table(
    `${entry[1]}: health`,
    [
      { label: 'Name', value: (r) => r.name },
      { label: 'Calls', value: (r) => r.calls, render: (r) => formatCount(r.calls), numeric: true },
      {
        label: 'Errors',
        value: (r) => r.errors,
        render: (r) => `${formatCount(r.errors)} (${formatPct(r.error_pct)})`,
        numeric: true,
      },
      {
        label: 'p50',
        value: (r) => r.p50_us,
        render: (r) => formatLatency(r.p50_us),
        numeric: true,
      },
      {
        label: 'p95',
        value: (r) => r.p95_us,
        render: (r) => formatLatency(r.p95_us),
        numeric: true,
      },
      {
        label: 'p99',
        value: (r) => r.p99_us,
        render: (r) => formatLatency(r.p99_us),
        numeric: true,
      },
      {
        label: 'Max',
        value: (r) => r.max_us,
        render: (r) => formatLatency(r.max_us),
        numeric: true,
      },
      {
        label: 'Bytes in',
        value: (r) => r.bytes_in,
        render: (r) => formatBytes(r.bytes_in),
        numeric: true,
      },
      {
        label: 'Bytes out',
        value: (r) => r.bytes_out,
        render: (r) => formatBytes(r.bytes_out),
        numeric: true,
      },
    ],
    rows,
    {
      ...(entry[0] === ''
        ? {}
        : { onOpen: (r: TargetStats) => go('targets', { kind: entry[0], name: r.name }) }),
      sort: 1,
      id: 'health',
    },
  )
  const page = h('div', {}, h('h1', {}, 'Tools, resources and prompts'), tabs, health)
  const count = data.counts?.[entry[2]] ?? rows.length
  if (count > rows.length) {
    page.append(
      h(
        'p',
        { id: 'targets-shown' },
        `The ${formatCount(rows.length)} most called of ${formatCount(count)} are shown; portico status lists them all.`,
      ),
    )
  }
  if (name && entry[0] !== '') page.append(await detail(ctx.since, ctx.proxy, entry[0], name))
  return page
}

export function callsTable(caption: string, rows: Exchange[], id?: string): HTMLElement {
  return table(
    caption,
    [
      { label: 'When', value: (r) => r.ts, render: (r) => formatTime(r.ts) },
      { label: 'Call', value: (r) => (r.name ? `${r.method} ${r.name}` : r.method) },
      {
        label: 'Latency',
        value: (r) => r.latency_us,
        render: (r) => formatLatency(r.latency_us),
        numeric: true,
      },
      { label: 'Outcome', value: (r) => r.outcome },
      {
        label: 'Error',
        value: (r) => r.error_message ?? (r.error_code === null ? '' : String(r.error_code)),
      },
      {
        label: 'Session',
        value: (r) => r.session_id ?? '',
        render: (r) =>
          r.session_id
            ? h(
                'a',
                { href: linkTo('session', { id: r.session_id, of: r.proxy }) },
                r.session_id.slice(0, 12),
              )
            : '',
      },
    ],
    rows,
    { ...(id === undefined ? {} : { id }) },
  )
}

async function detail(
  since: string,
  proxy: string | undefined,
  kind: string,
  name: string,
): Promise<HTMLElement> {
  const data = await getJson<TargetDetail>('target', { since, proxy, kind, name })
  return section(
    name,
    latencyChart(data.series.points, `Latency of ${name}`),
    callsTable(`Slowest calls of ${name}`, data.slowest, 'slowest'),
    callsTable(`Failed calls of ${name}`, data.failed, 'failed'),
  )
}
