/** The dashboard shell: navigation, the time range, proxy and auto-refresh controls, routing. */
import { ApiError, getJson, isSendableToken, setToken } from './api.ts'
import { h } from './dom.ts'
import { clients } from './pages/clients.ts'
import { errors } from './pages/errors.ts'
import { gateway } from './pages/gateway.ts'
import { live } from './pages/live.ts'
import { overview } from './pages/overview.ts'
import { schema } from './pages/schema.ts'
import { session, sessions } from './pages/sessions.ts'
import { targets } from './pages/targets.ts'
import type { Page } from './pages/types.ts'
import { currentRoute, go, linkTo } from './state.ts'

/** The studio (and its MCP Apps bridge) loads only when opened. */
const studio: Page = async (ctx) => (await import('./studio/studio.ts')).studio(ctx)

const PAGES: Record<string, { title: string; page: Page; nav?: boolean; refresh: boolean }> = {
  overview: { title: 'Overview', page: overview, nav: true, refresh: true },
  targets: { title: 'Tools', page: targets, nav: true, refresh: true },
  errors: { title: 'Errors', page: errors, nav: true, refresh: true },
  sessions: { title: 'Sessions', page: sessions, nav: true, refresh: true },
  session: { title: 'Session', page: session, refresh: true },
  clients: { title: 'Clients', page: clients, nav: true, refresh: true },
  schema: { title: 'Schema', page: schema, nav: true, refresh: true },
  gateway: { title: 'Gateway', page: gateway, nav: true, refresh: true },
  live: { title: 'Live', page: live, nav: true, refresh: false },
  studio: { title: 'Studio', page: studio, nav: true, refresh: false },
}

const RANGES = ['15m', '1h', '6h', '24h', '7d', '30d']
const REFRESH = [
  ['', 'off'],
  ['10s', '10 s'],
  ['30s', '30 s'],
  ['60s', '1 min'],
]

let leave = new AbortController()
let timer: ReturnType<typeof setTimeout> | undefined
let proxies: string[] = []

function select(
  id: string,
  label: string,
  options: string[][],
  value: string,
  onChange: (v: string) => void,
): HTMLElement {
  return h(
    'label',
    { for: id },
    label,
    h(
      'select',
      {
        id,
        onchange: ((e: Event) => onChange((e.target as HTMLSelectElement).value)) as EventListener,
      },
      options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)),
    ),
  )
}

function drawChrome(pageName: string): void {
  const { params } = currentRoute()
  document.getElementById('nav')?.replaceChildren(
    ...Object.entries(PAGES)
      .filter(([, p]) => p.nav)
      .map(([name, p]) =>
        h(
          'a',
          {
            href: linkTo(name, {}),
            'aria-current':
              name === pageName || (pageName === 'session' && name === 'sessions')
                ? 'page'
                : undefined,
          },
          p.title,
        ),
      ),
  )
  const since = params.get('since') ?? '1h'
  const refresh = params.get('refresh') ?? ''
  // A value the URL gives that the lists lack (`since=2h`) is what applies: shown as such, not
  // as the list's first entry.
  const ranges = RANGES.includes(since) ? RANGES : [...RANGES, since]
  const refreshes = REFRESH.some(([value]) => value === refresh)
    ? REFRESH
    : [...REFRESH, [refresh, refresh]]
  document.getElementById('controls')?.replaceChildren(
    select(
      'range',
      'Range',
      ranges.map((r) => [r, `last ${r}`]),
      since,
      (v) => go(pageName, { since: v }),
    ),
    select(
      'proxy',
      'Proxy',
      [['', 'all proxies'], ...proxies.map((p) => [p, p])],
      params.get('proxy') ?? '',
      (v) => go(pageName, { proxy: v }),
    ),
    select('refresh', 'Refresh', refreshes, refresh, (v) => go(pageName, { refresh: v })),
  )
}

async function render(): Promise<void> {
  leave.abort()
  leave = new AbortController()
  clearTimeout(timer)
  const route = currentRoute()
  // An own page only: `#/constructor` or `#/toString` named what every object inherits.
  const known = Object.hasOwn(PAGES, route.page)
  const entry = (known ? PAGES[route.page] : undefined) ?? PAGES.overview!
  drawChrome(route.page)
  document.title = `${entry.title} · Portico`
  const main = document.getElementById('main') as HTMLElement
  main.setAttribute('aria-busy', 'true')
  // This render's own signal: a page that answers after the user moved on (a slow overview)
  // must not replace the page they moved to.
  const signal = leave.signal
  try {
    const el = await entry.page({
      since: route.params.get('since') ?? '1h',
      proxy: route.params.get('proxy') ?? undefined,
      params: route.params,
      signal,
    })
    if (signal.aborted) return
    const focused = document.activeElement?.id
    main.replaceChildren(el)
    if (focused) document.getElementById(focused)?.focus()
  } catch (error) {
    if (signal.aborted) return
    main.replaceChildren(problem(error))
  } finally {
    if (!signal.aborted) main.removeAttribute('aria-busy')
  }
  const every = route.params.get('refresh')
  const seconds = every ? Number.parseInt(every, 10) : 0
  if (entry.refresh && seconds > 0) timer = setTimeout(() => void render(), seconds * 1000)
}

function problem(error: unknown): HTMLElement {
  if (error instanceof ApiError && error.status === 401) {
    const input = h('input', { id: 'token', type: 'password', autocomplete: 'current-password' })
    const said = h('p', { role: 'alert', id: 'token-problem' })
    return h(
      'form',
      {
        class: 'token',
        onsubmit: ((e: Event) => {
          e.preventDefault()
          if (!isSendableToken(input.value.trim())) {
            said.textContent =
              'A token is letters, digits and punctuation, without spaces: this one has other characters.'
            return
          }
          setToken(input.value)
          void start()
        }) as EventListener,
      },
      h('h1', {}, 'Admin token needed'),
      h('p', {}, 'This dashboard is protected by the admin token of the proxy ([admin] token).'),
      h('label', { for: 'token' }, 'Admin token'),
      input,
      said,
      h('button', { type: 'submit' }, 'Open the dashboard'),
    )
  }
  return h(
    'div',
    { role: 'alert', class: 'error' },
    h('h1', {}, 'Could not load this page'),
    h('p', {}, String(error instanceof Error ? error.message : error)),
  )
}

async function start(): Promise<void> {
  try {
    proxies = (await getJson<{ proxies: Array<{ name: string }> }>('proxies', {})).proxies.map(
      (p) => p.name,
    )
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      ;(document.getElementById('main') as HTMLElement).replaceChildren(problem(error))
      return
    }
  }
  await render()
}

window.addEventListener('hashchange', () => void render())
void start()
