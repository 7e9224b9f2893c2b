/**
 * Pure CSP list arithmetic: which declared sources are development-local, de-duplication, and
 * the per-directive merge of upstream-declared, global and per-widget domains.
 */
import { SAFE_SOURCE } from '../config/csp.ts'
import type { Mode } from './directives.ts'

/** Hosts that only mean something on the developer's machine (any port, any scheme). */
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1', '0.0.0.0', '[::]'])

/** `host[:port]` of a CSP source (`https://a.b:8443/x` → `a.b:8443`), lower-cased. */
export function hostPortOf(source: string): string {
  const rest = source.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
  const end = rest.search(/[/?#]/)
  const authority = end === -1 ? rest : rest.slice(0, end)
  // Without its `user:password@` (an upstream URL's credentials): kept, the host read as an
  // IPv6 literal, and a private upstream's address went to every client.
  const at = authority.lastIndexOf('@')
  return (at === -1 ? authority : authority.slice(at + 1)).toLowerCase()
}

function hostOf(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(0, hostPort.indexOf(']') + 1)
  // An unbracketed IPv6 literal (`::1`) has several colons and no port.
  if (hostPort.indexOf(':') !== hostPort.lastIndexOf(':')) return hostPort
  return hostPort.split(':')[0] ?? hostPort
}

/**
 * Loopback however a browser reads it: `localhost.`, `127.1`, `2130706433`,
 * `[0:0:0:0:0:0:0:1]` and `[::ffff:127.0.0.1]` are loopback too (the URL parser writes each as
 * its canonical host), and were kept as the app's own sources.
 */
function isLoopback(host: string): boolean {
  const name = canonicalHost(host)
  return (
    LOCAL_HOSTS.has(name) ||
    name.endsWith('.localhost') ||
    /^127(\.\d{1,3}){3}$/.test(name) ||
    /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(name)
  )
}

/** A host as the URL parser writes it, without a trailing dot; as it is when it does not parse. */
function canonicalHost(host: string): string {
  if (!URL.canParse(`http://${host}`)) return host
  return new URL(`http://${host}`).hostname.replace(/\.$/, '')
}

/**
 * True for a host no browser outside the operator's network can reach: loopback, RFC 1918
 * addresses, link-local, and single-label names (`app`, a container's service name).
 */
export function isPrivateHost(host: string): boolean {
  if (isLoopback(host)) return true
  // However it is spelt: `167772161` is 10.0.0.1, `[::ffff:a00:1]` too (IPv4-mapped).
  const name = canonicalHost(host)
  const v4 = mappedIpv4(name) ?? name
  if (/^(10|192\.168|169\.254)\./.test(v4) || /^172\.(1[6-9]|2\d|3[01])\./.test(v4)) return true
  // IPv6 link-local (fe80::/10) and unique local (fc00::/7) addresses.
  if (/^\[(fe[89ab][0-9a-f]|f[cd][0-9a-f]{2}):/i.test(name)) return true
  return !host.startsWith('[') && /^[a-z0-9-]+$/i.test(host) && !/^\d+$/.test(host)
}

/** The IPv4 address an IPv4-mapped IPv6 literal holds (`[::ffff:a00:1]` → `10.0.0.1`). */
function mappedIpv4(name: string): string | undefined {
  const match = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/i.exec(name)
  if (match === null) return undefined
  const high = Number.parseInt(match[1] as string, 16)
  const low = Number.parseInt(match[2] as string, 16)
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
}

/**
 * Builds the test for "this source points at a development origin": localhost and loopback
 * addresses (`*.localhost`, `127.x.x.x`, `[::1]`, `0.0.0.0`) on any port, plus the given
 * `host:port`s of the app's own servers when they are private (a public upstream host may be
 * what the widget really calls, so it is kept).
 */
export function localSourceTest(selfHostPorts: Iterable<string> = []): (source: string) => boolean {
  // Compared as the URL parser writes them, a default port left out: `http://10.0.0.1` is the
  // upstream at `http://10.0.0.1:80`, and `[fe80:0::1]` is `[fe80::1]`.
  const selves = new Set(
    [...selfHostPorts]
      .map((value) => value.toLowerCase())
      .filter((hp) => isPrivateHost(hostOf(hp)))
      .map(canonicalHostPort),
  )
  return (source) => {
    const hostPort = hostPortOf(source)
    if (isLoopback(hostOf(hostPort))) return true
    return selves.size > 0 && selves.has(canonicalHostPort(hostPort))
  }
}

/** `host[:port]` with its host canonical and a default port (80, 443) left out. */
function canonicalHostPort(hostPort: string): string {
  const host = hostOf(hostPort)
  const name = canonicalHost(host)
  // As a browser reads them: `[::ffff:a01:203]` is 10.1.2.3, and `:05173` is port 5173.
  const v4 = mappedIpv4(name) ?? name
  const written = hostPort.slice(host.length)
  // Leading zeros dropped however many (a port is at most five digits once they are).
  const digits = /^:0*(\d{1,5})$/.exec(written)
  const port = digits === null ? written : `:${Number(digits[1])}`
  return `${v4}${port === ':80' || port === ':443' ? '' : port}`
}

/** A source that stays one token in a CSP directive (the same rule config domains follow). */

export function isSafeSource(source: string): boolean {
  return SAFE_SOURCE.test(source)
}

/** Comparison key of a source: case-insensitive, one trailing `/` ignored. */
function sourceKey(source: string): string {
  return source.toLowerCase().replace(/\/$/, '')
}

/** Removes repeats, keeping the first occurrence of each source (and the order). */
export function dedupe(sources: Iterable<string>): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const source of sources) {
    const key = sourceKey(source)
    if (seen.has(key)) continue
    seen.add(key)
    out.push(source)
  }
  return out
}

export interface DomainRule {
  mode: Mode
  domains: readonly string[]
}

export interface MergeInput {
  /** Sources the upstream declared for this directive (both shapes, in order). */
  declared: readonly string[]
  global: DomainRule
  /** Rules of the `[[csp.widget]]` entries matching this widget, in config order. */
  widgets: readonly DomainRule[]
  /** Portico's public origin, when one is configured. */
  publicOrigin?: string
  /** Whether the public origin is always listed first (connect and resource). */
  leadWithPublicOrigin: boolean
  isLocal: (source: string) => boolean
}

/**
 * The merge, step by step:
 * 1. global `replace` drops what the upstream declared; `extend` keeps it, with every
 *    development-local source replaced by the public origin (or dropped when there is none);
 * 2. the global domains are appended;
 * 3. each matching widget rule in order: `replace` discards everything so far, `extend` appends;
 * 4. connect and resource lead with the public origin;
 * 5. repeats are removed, first occurrence kept.
 */
export function mergeDirective(input: MergeInput): string[] {
  const { publicOrigin } = input
  let list: string[] = []
  if (input.global.mode === 'extend') {
    for (const source of input.declared) {
      if (!input.isLocal(source)) list.push(source)
      else if (publicOrigin !== undefined) list.push(publicOrigin)
    }
  }
  list.push(...input.global.domains)
  for (const rule of input.widgets) {
    list = rule.mode === 'replace' ? [...rule.domains] : [...list, ...rule.domains]
  }
  if (input.leadWithPublicOrigin && publicOrigin !== undefined) list.unshift(publicOrigin)
  return dedupe(list)
}
