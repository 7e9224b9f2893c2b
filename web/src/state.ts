/**
 * The page state lives in the URL hash (`#/tools?since=1h&proxy=a&name=x`), so every view can
 * be shared as a link and survives a reload.
 */

export interface Route {
  page: string
  params: URLSearchParams
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, '')
  const [page = '', query = ''] = hash.split('?', 2)
  return { page: page || 'overview', params: new URLSearchParams(query) }
}

export function linkTo(page: string, params: Record<string, string | undefined>): string {
  const current = currentRoute().params
  const next = new URLSearchParams()
  for (const key of ['since', 'proxy', 'refresh']) {
    const value = current.get(key)
    if (value) next.set(key, value)
  }
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === '') next.delete(k)
    else next.set(k, v)
  }
  const query = next.toString()
  return `#/${page}${query ? `?${query}` : ''}`
}

export function go(page: string, params: Record<string, string | undefined> = {}): void {
  location.hash = linkTo(page, params)
}
