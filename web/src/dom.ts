/** A tiny DOM builder, formatting, and the sortable table every page uses. */

type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | number | boolean | EventListener | undefined>

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Array<Child | Child[]>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue
    if (typeof value === 'function') el.addEventListener(key.replace(/^on/, ''), value)
    else if (value === true) el.setAttribute(key, '')
    else el.setAttribute(key, String(value))
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    el.append(typeof child === 'object' ? child : String(child))
  }
  return el
}

/**
 * A name from a server or a client (a tool, a URI), which may be thousands of characters long:
 * shown on one line, cut with an ellipsis at the width it has (`.name`), whole in its title.
 */
export function nameOf(text: string, tag: 'span' | 'code' = 'span'): HTMLElement {
  return h(tag, { class: 'name', title: text }, text)
}

/** Text past this many characters may be cut in a table cell (40ch): its title holds it whole. */
const CELL_CUT = 30

export function formatLatency(us: number): string {
  if (us < 1000) return `${us} µs`
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 1 : 0)} ms`
  return `${(us / 1_000_000).toFixed(2)} s`
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US')
}

export function formatPct(p: number): string {
  return `${p.toFixed(1)}%`
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}

/**
 * A time in the viewer's own zone, date and clock alike (the date was UTC's beside the local
 * clock: a day off east of UTC+12). A time no date can hold (a damaged store) is `?`, as
 * `portico logs` prints it, not an exception that empties the page.
 */
export function formatTime(ms: number): string {
  const d = new Date(ms)
  if (Number.isNaN(d.getTime())) return '?'
  const pad = (n: number) => String(n).padStart(2, '0')
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
  return `${date} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

export interface Column<T> {
  label: string
  value: (row: T) => string | number
  render?: (row: T) => Child
  numeric?: boolean
}

/** The sort chosen for each table (by id, else caption), for as long as the page is open. */
const CHOSEN_SORTS = new Map<string, { index: number; descending: boolean }>()

/**
 * A table whose headers sort it (click or Enter; `aria-sort` says how), and whose rows can be
 * opened (click or Enter on the focused row).
 */
export function table<T>(
  caption: string,
  columns: Column<T>[],
  rows: T[],
  options: { onOpen?: (row: T) => void; sort?: number; id?: string } = {},
): HTMLElement {
  // The sort the user chose outlives the table: auto-refresh builds every table again, and the
  // chosen order went back to the default at each refresh.
  const key = options.id ?? caption
  const chosen = CHOSEN_SORTS.get(key)
  let sortIndex = chosen?.index ?? options.sort ?? -1
  let descending = chosen?.descending ?? true
  const wrap = h('div', { class: 'table-wrap' })
  const draw = () => {
    const sorted = [...rows]
    const column = columns[sortIndex]
    if (column) {
      sorted.sort((a, b) => {
        const x = column.value(a)
        const y = column.value(b)
        const order =
          typeof x === 'number' && typeof y === 'number'
            ? x - y
            : String(x).localeCompare(String(y))
        return descending ? -order : order
      })
    }
    const head = h(
      'tr',
      {},
      columns.map((c, i) =>
        h(
          'th',
          {
            scope: 'col',
            class: c.numeric ? 'num' : undefined,
            'aria-sort': i === sortIndex ? (descending ? 'descending' : 'ascending') : undefined,
          },
          h(
            'button',
            {
              type: 'button',
              class: 'sort',
              onclick: () => {
                if (sortIndex === i) descending = !descending
                else {
                  sortIndex = i
                  descending = true
                }
                CHOSEN_SORTS.set(key, { index: sortIndex, descending })
                draw()
              },
            },
            c.label,
          ),
        ),
      ),
    )
    const body = sorted.map((row) =>
      h(
        'tr',
        options.onOpen
          ? {
              tabindex: 0,
              class: 'open',
              onclick: () => options.onOpen?.(row),
              onkeydown: ((e: KeyboardEvent) => {
                if (e.key === 'Enter') options.onOpen?.(row)
              }) as EventListener,
            }
          : {},
        columns.map((c) => {
          const value = c.render ? undefined : c.value(row)
          return h(
            'td',
            {
              class: c.numeric ? 'num' : undefined,
              title: typeof value === 'string' && value.length > CELL_CUT ? value : undefined,
            },
            c.render ? c.render(row) : value,
          )
        }),
      ),
    )
    wrap.replaceChildren(
      h(
        'table',
        { id: options.id },
        h('caption', {}, caption),
        h('thead', {}, head),
        h(
          'tbody',
          {},
          body.length
            ? body
            : h('tr', {}, h('td', { colspan: columns.length }, 'Nothing recorded in this window.')),
        ),
      ),
    )
  }
  draw()
  return wrap
}

export function stat(label: string, value: string, id: string): HTMLElement {
  return h(
    'div',
    { class: 'stat' },
    h('div', { class: 'stat-label' }, label),
    h('div', { class: 'stat-value', id }, value),
  )
}

export function section(title: string | Node, ...children: Child[]): HTMLElement {
  return h('section', {}, h('h2', {}, title), ...children)
}
