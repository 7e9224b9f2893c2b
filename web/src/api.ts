/** Calls to the dashboard's JSON API (relative to the page), with the admin token when needed. */

const TOKEN_KEY = 'portico-admin-token'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** What a bearer token can be: visible ASCII, no spaces (anything else no header can carry). */
export function isSendableToken(value: string): boolean {
  return /^[\x21-\x7e]+$/.test(value)
}

/**
 * The token the tab holds, when one could be sent: a stored one no header can carry (a typed
 * `’`) made every fetch throw before any request, and the page never asked for the token again.
 */
export function token(): string | null {
  const value = sessionStorage.getItem(TOKEN_KEY)
  return value !== null && isSendableToken(value) ? value : null
}

export function setToken(value: string): void {
  sessionStorage.setItem(TOKEN_KEY, value.trim())
}

export function authHeaders(): Record<string, string> {
  const t = token()
  return t ? { authorization: `Bearer ${t}` } : {}
}

export async function getJson<T>(
  page: string,
  params: Record<string, string | undefined>,
): Promise<T> {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') search.set(k, v)
  const res = await fetch(`api/${page}?${search}`, {
    headers: authHeaders(),
    signal: AbortSignal.timeout(30_000),
  })
  const body = (await res.json().catch(() => ({ error: `HTTP ${res.status}` }))) as
    | T
    | { error: string }
  if (!res.ok)
    throw new ApiError(res.status, (body as { error: string }).error ?? `HTTP ${res.status}`)
  return body as T
}

/** Reads a server-sent event stream with fetch (EventSource cannot send the token). */
export async function readEvents(
  path: string,
  signal: AbortSignal,
  onEvent: (event: string, data: string) => void,
): Promise<void> {
  const res = await fetch(path, { headers: authHeaders(), signal })
  if (!res.ok || res.body === null) throw new ApiError(res.status, `live tail: HTTP ${res.status}`)
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buffer += value
    let end = buffer.indexOf('\n\n')
    while (end !== -1) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      let event = 'message'
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7)
        else if (line.startsWith('data: ')) data.push(line.slice(6))
      }
      if (data.length > 0) onEvent(event, data.join('\n'))
      end = buffer.indexOf('\n\n')
    }
  }
}
