/**
 * Header hygiene between the client and the upstream: hop-by-hop headers (RFC 9110 §7.6.1
 * plus those named in `Connection`) stop at Portico; everything else, MCP headers
 * (`Mcp-Session-Id`, `MCP-Protocol-Version`, `Last-Event-ID`, `Mcp-Method`, `Mcp-Name`,
 * `Mcp-Param-*`), auth and unknown headers, passes through.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import { clientAddressOf, isFromTrustedProxy } from './client-address.ts'
import { viaOf } from './via.ts'

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
])

export type HeaderMap = Record<string, string | string[]>

/** Whether a (lower-case) header name describes one connection only (the tunnel uses it too). */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name)
}

const NONE: string[] = []

function connectionTokens(value: string | string[] | undefined): string[] {
  if (value === undefined) return NONE
  const text = Array.isArray(value) ? value.join(',') : value
  return text
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter(Boolean)
}

export interface ForwardHeaderOptions {
  /** Headers Portico sets itself (e.g. `host`, `content-length`). */
  drop?: ReadonlySet<string>
}

/** Copies end-to-end headers, dropping hop-by-hop ones. Names are lower-case on both sides. */
export function endToEndHeaders(
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  options: ForwardHeaderOptions = {},
): HeaderMap {
  const named = connectionTokens(headers.connection)
  const drop = options.drop
  const out: HeaderMap = {}
  // for…in over the own, lower-cased keys: no [key, value] array per header (hot path).
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || HOP_BY_HOP.has(name) || drop?.has(name)) continue
    if (named.length > 0 && named.includes(name)) continue
    out[name] = value
  }
  return out
}

/** Request headers that undici or Portico set for the upstream hop. */
export const REQUEST_MANAGED = new Set(['host', 'content-length', 'expect'])

/** Response headers recomputed for the client hop. */
export const RESPONSE_MANAGED = new Set(['content-length'])

/**
 * Forwarding headers other proxies set (Traefik, Spring, Rails read them) that this hop cannot
 * vouch for: from a client that is not a trusted proxy they are removed, or an upstream that
 * builds URLs from `X-Forwarded-Port` or `X-Forwarded-Prefix` would build them from what the
 * client chose.
 */
const UNVOUCHED = [
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-forwarded-ssl',
  'x-forwarded-scheme',
] as const

/**
 * The forwarding headers by their hyphenated name: the same names spelt with underscores
 * (`x_real_ip`) are dropped from every request, as nginx drops them by default. A CGI or WSGI
 * server reads both spellings as one variable (`HTTP_X_REAL_IP`, Python's wsgiref joins them),
 * so a client would name an address or a prefix past what Portico sets; no proxy sends them.
 */
const FORWARDING = new Set<string>([
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  ...UNVOUCHED,
])

function dropUnderscoreSpellings(headers: HeaderMap): void {
  for (const name in headers) {
    if (name.includes('_') && FORWARDING.has(name.replace(/_/g, '-'))) delete headers[name]
  }
}

/**
 * Adds the de-facto standard forwarding headers for the upstream, as a reverse proxy does:
 * the peer is appended to `X-Forwarded-For` (nginx's `$proxy_add_x_forwarded_for`), and
 * `X-Forwarded-Host` and `X-Forwarded-Proto` say what this hop saw (the `Host`, the socket's
 * scheme), overwriting what the client wrote (Envoy overwrites `X-Forwarded-Proto`): a client
 * could otherwise make an upstream that builds URLs or redirects from them name another host
 * or claim https. Only a trusted proxy's values (`trusted`: `[security] trusted_proxies`, or
 * Portico's own relay through the tunnel) are kept, since they describe the hop before it.
 *
 * The two other headers that name a client are not added, but one a request carries is made
 * true for this hop: an `X-Real-IP` becomes the peer (nginx's usual
 * `proxy_set_header X-Real-IP $remote_addr`), unless a trusted proxy set it, and a `Forwarded`
 * (RFC 7239) gets this hop's element appended, as the RFC asks of a proxy, so that its last
 * element is always Portico's. Without this, a client could name any address to an upstream
 * that reads either. Other forwarding headers a client wrote are removed (`UNVOUCHED`).
 */
export function addForwarded(
  headers: HeaderMap,
  client: {
    address: string | undefined
    host: string | undefined
    proto: string
    trusted?: boolean
  },
): void {
  const address = client.address ?? ''
  const trusted = client.trusted === true
  dropUnderscoreSpellings(headers)
  headers['x-forwarded-for'] = forwardedFor(headers['x-forwarded-for'], address, trusted)
  if (headers['x-forwarded-for'] === '') delete headers['x-forwarded-for']
  if (!trusted || !headers['x-forwarded-host']) {
    if (client.host) headers['x-forwarded-host'] = client.host
    else delete headers['x-forwarded-host']
  }
  if (!trusted || !headers['x-forwarded-proto']) headers['x-forwarded-proto'] = client.proto
  if (!trusted) for (const name of UNVOUCHED) delete headers[name]
  if (headers['x-real-ip'] !== undefined && !trusted) {
    if (address) headers['x-real-ip'] = address
    else delete headers['x-real-ip']
  }
  const prior7239 = headers.forwarded
  if (prior7239 !== undefined) {
    const element = forwardedElement(address, client.host, client.proto)
    headers.forwarded = `${Array.isArray(prior7239) ? prior7239.join(', ') : prior7239}, ${element}`
  }
}

/**
 * `X-Forwarded-For` with this hop's peer appended: nothing when it is unknown (an empty element
 * broke parsers: `127.0.0.1,`), and not a second time when a trusted hop already named it last
 * (the relay names the public client, who is also the tunnel's peer address here).
 */
function forwardedFor(
  prior: string | string[] | undefined,
  address: string,
  trusted: boolean,
): string {
  const before = prior === undefined ? '' : Array.isArray(prior) ? prior.join(', ') : String(prior)
  if (!address) return before
  if (!before) return address
  if (trusted && before.split(',').at(-1)?.trim() === address) return before
  return `${before}, ${address}`
}

/** This hop's `Forwarded` element (RFC 7239 §4): an IPv6 address and a host with a port quoted. */
function forwardedElement(address: string, host: string | undefined, proto: string): string {
  const node = address.includes(':') ? `"[${address}]"` : address || 'unknown'
  const parts = [`for=${node}`]
  if (host) parts.push(`host=${/^[\w.-]+$/.test(host) ? host : JSON.stringify(host)}`)
  parts.push(`proto=${proto}`)
  return parts.join(';')
}

/** Where an HTTP request came from: what forwarding headers and upstream URLs are built from. */
export interface RequestInfo {
  /** The request URL's path, without its query. */
  readonly path: string
  /** The request URL's query string with its `?`, or ''. */
  readonly search: string
  /** The socket's peer: what `X-Forwarded-For` gets appended. */
  readonly remoteAddress: string | undefined
  /** The client: the address trusted proxies vouch for, else the peer (client-address.ts). */
  readonly clientAddress: string | undefined
  readonly host: string | undefined
  readonly encrypted: boolean
  /**
   * Whether the peer is a trusted proxy (or the tunnel's relay), whose `X-Forwarded-Host` and
   * `X-Forwarded-Proto` are kept; anyone else's are overwritten.
   */
  readonly trustedPeer?: boolean
  /**
   * The origin a trusted peer says the client used (`X-Forwarded-Proto` and `-Host`, first
   * values, when well-formed): behind a TLS proxy, `https://mcp.example.com`, not the `http://`
   * of the proxy's own connection. Undefined for anyone else, whose word is not taken.
   */
  readonly forwardedOrigin?: string | undefined
}

export function requestInfoOf(req: IncomingMessage): RequestInfo {
  const url = req.url ?? '/'
  const query = url.indexOf('?')
  const trustedPeer = isFromTrustedProxy(req) || viaOf(req.socket) === 'tunnel'
  return {
    path: query === -1 ? url : url.slice(0, query),
    search: query === -1 ? '' : url.slice(query),
    remoteAddress: req.socket?.remoteAddress,
    clientAddress: clientAddressOf(req),
    host: req.headers.host,
    // The socket may already be detached once a streamed request body has been consumed.
    encrypted: (req.socket as { encrypted?: boolean } | null)?.encrypted === true,
    trustedPeer,
    forwardedOrigin: trustedPeer ? forwardedOriginOf(req.headers) : undefined,
  }
}

/** `X-Forwarded-Proto` and `-Host` as an origin, when both are there and well-formed. */
function forwardedOriginOf(headers: IncomingHttpHeaders): string | undefined {
  const proto = firstValue(headers['x-forwarded-proto'])?.toLowerCase()
  const host = firstValue(headers['x-forwarded-host'])
  if ((proto !== 'https' && proto !== 'http') || host === undefined) return undefined
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) return undefined
  return `${proto}://${host.toLowerCase()}`
}

function firstValue(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value
  const first = text?.split(',', 1)[0]?.trim()
  return first === '' ? undefined : first
}

/** The headers sent upstream for a client request: end-to-end ones plus X-Forwarded-*. */
export function forwardHeaders(headers: IncomingHttpHeaders, info: RequestInfo): HeaderMap {
  const out = endToEndHeaders(headers, { drop: REQUEST_MANAGED })
  addForwarded(out, {
    address: info.remoteAddress,
    host: info.host,
    proto: info.encrypted ? 'https' : 'http',
    trusted: info.trustedPeer === true,
  })
  return out
}

export function upstreamHeaders(req: IncomingMessage): HeaderMap {
  return forwardHeaders(req.headers, requestInfoOf(req))
}

/**
 * The same, for a request whose answer Portico reads (an MCP GET stream: its events are
 * recorded, rewritten): asked uncoded, as calls are (pipeline/call.ts `upstreamHeadersOf`).
 */
export function readUpstreamHeaders(req: IncomingMessage): HeaderMap {
  return askUncoded(upstreamHeaders(req))
}

/**
 * Asks for an answer uncoded (`accept-encoding: identity`): Portico reads MCP answers, and one
 * coded anyway is decoded (upstream/content-coding.ts `asksIdentity` looks for this). Returns
 * the headers, changed in place.
 */
export function askUncoded(headers: HeaderMap): HeaderMap {
  headers['accept-encoding'] = UNCODED
  return headers
}

export const UNCODED = 'identity'

/** Response headers for the client: end-to-end ones, without those recomputed for this hop. */
export function clientHeaders(upstream: HeaderMap): HeaderMap {
  return endToEndHeaders(upstream, { drop: RESPONSE_MANAGED })
}

export function headerValue(
  headers: IncomingHttpHeaders | HeaderMap,
  name: string,
): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

/**
 * The Content-Type as compared: lower-cased and trimmed (media types are case-insensitive,
 * RFC 9110 §8.3.1: `Text/Event-Stream` is an event stream), or '' when there is none.
 */
export function contentTypeOf(headers: IncomingHttpHeaders | HeaderMap): string {
  const value = headerValue(headers, 'content-type')
  return value === undefined ? '' : value.trim().toLowerCase()
}

export type { OutgoingHttpHeaders }

/**
 * A browser's CORS preflight: `OPTIONS` asking `Access-Control-Request-Method`, with no body.
 * It carries no credentials, so authentication lets it through; any other `OPTIONS` (one
 * a script writes, with a body) is a request like the rest.
 */
export function isCorsPreflight(req: IncomingMessage): boolean {
  if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) {
    return false
  }
  // A browser always names the page's origin in a preflight: without one it is any OPTIONS,
  // which needs credentials like every other request.
  if (req.headers.origin === undefined) return false
  const length = req.headers['content-length']
  return (length === undefined || length === '0') && req.headers['transfer-encoding'] === undefined
}

/** Whether a header map set by configuration names `name` (given lower-case), in any case. */
export function hasHeader(headers: Record<string, string> | undefined, name: string): boolean {
  return Object.keys(headers ?? {}).some((key) => key.toLowerCase() === name)
}

/**
 * The `Authorization` that sends a URL's `user:password@` as HTTP Basic authentication (as
 * Node's `http.request` and mcp-proxy's HTTP client send it), or undefined for a URL without
 * them. Requests go to a pool opened on the URL's origin, which has no credentials, so without
 * this they were dropped without a word. Not valid percent-encoding (the config refuses it):
 * sent as written.
 */
export function basicAuthorizationOf(url: URL): string | undefined {
  const credentials = urlCredentials(url)
  if (credentials === undefined) return undefined
  const pair =
    credentials === 'malformed'
      ? `${url.username}:${url.password}`
      : `${credentials.user}:${credentials.password}`
  return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`
}

/**
 * `user:password@` of a URL, percent-decoded (what HTTP Basic authentication sends): undefined
 * when it has none, `'malformed'` when they are not valid percent-encoding (the URL parser keeps
 * `%ZZ` as it is; decoding it throws).
 */
export function urlCredentials(
  url: URL,
): { user: string; password: string } | 'malformed' | undefined {
  if (url.username === '' && url.password === '') return undefined
  try {
    return { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
  } catch {
    return 'malformed'
  }
}
