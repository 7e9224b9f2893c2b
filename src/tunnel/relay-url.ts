/**
 * The relay's WebSocket address from `relay_url`: `https://x` → `wss://x`, `http://x` →
 * `ws://x`, `ws(s)://` as is, a bare host is `wss://`. Throws what is wrong with it, in words
 * for the config's problem list (checked when the file is read, so `portico check` and
 * `portico run` agree on it).
 */
export function relaySocketUrl(relayUrl: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(relayUrl) ? relayUrl : `wss://${relayUrl}`
  if (!URL.canParse(withScheme)) {
    throw new Error("expected the relay's address: https://host, wss://host or a host name")
  }
  const url = new URL(withScheme)
  if (url.protocol === 'https:') url.protocol = 'wss:'
  else if (url.protocol === 'http:') url.protocol = 'ws:'
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new Error(`unsupported scheme ${url.protocol} (expected https, http, wss or ws)`)
  }
  if (url.hostname === '') throw new Error('the relay URL names no host')
  return url
}
