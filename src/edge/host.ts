import { isIPv6 } from 'node:net'

/**
 * Host-header validation against DNS rebinding without an Origin header: a page on
 * `evil.example` that resolves to 127.0.0.1 reaches a local Portico with `Host: evil.example`.
 * A listener on a loopback address accepts only loopback names (and `public_url`'s host and
 * `allowed_hosts`); a listener on a routable address checks only when `allowed_hosts` is set
 * (behind a load balancer the names are the deployment's to list). `"*"` allows any name.
 * Whatever the names, a Host that is not `host[:port]` is malformed (`isWellFormedHost`).
 */

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1', '[::1]']

export type HostCheck = (host: string | undefined) => boolean

export interface HostRules {
  /** The address Portico listens on (`host`). */
  listen: string
  allowed: readonly string[]
  /** `public_url`, whose host is always allowed. */
  publicUrl?: string
}

export function hostCheck(rules: HostRules): HostCheck | undefined {
  if (rules.allowed.includes('*')) return undefined
  const loopback = isLoopback(rules.listen)
  if (!loopback && rules.allowed.length === 0) return undefined
  const names = new Set(rules.allowed.map((name) => withoutRootDot(name.toLowerCase())))
  if (loopback) for (const name of LOOPBACK_NAMES) names.add(name)
  if (rules.publicUrl !== undefined) {
    names.add(withoutRootDot(new URL(rules.publicUrl).hostname.toLowerCase()))
  }
  return (host) => host !== undefined && names.has(hostnameOf(host))
}

function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || address.startsWith('127.')
}

/**
 * The name part of a Host header (`[::1]:3000` → `[::1]`, `Example.com:80` → `example.com`),
 * without the root's dot: `example.com.` is the same name (DNS resolves it alike, and a relay
 * routes it to the same tunnel).
 */
export function hostnameOf(host: string): string {
  const value = host.trim().toLowerCase()
  if (value.startsWith('[')) {
    const end = value.indexOf(']')
    return end === -1 ? value : value.slice(0, end + 1)
  }
  const colon = value.indexOf(':')
  return withoutRootDot(colon === -1 ? value : value.slice(0, colon))
}

function withoutRootDot(name: string): string {
  return name.endsWith('.') ? name.slice(0, -1) : name
}

/** A name of letters, digits, `.`, `-`, `_`, `~`: not starting with `.`, no `..` (nginx's rule). */
const HOST_NAME = /^(?!\.)(?!.*\.\.)[A-Za-z0-9._~-]+$/

/**
 * Whether a Host header is `host[:port]` (RFC 9110 §7.2): a name or IPv4 address, or an IPv6
 * address in brackets, then at most one port of digits up to 65535. `localhost:80:81`,
 * `[::1]x`, `localhost@evil`, `a/b` are not: nginx answers them 400, and a name check that
 * reads only the part before the first `:` would admit them.
 */
export function isWellFormedHost(host: string): boolean {
  // Every request asks, and a listener's clients nearly always send the same Host: the last
  // well-formed one is remembered (a string compare instead of slices and two regexps).
  if (host === lastWellFormed) return true
  if (!checkHost(host)) return false
  lastWellFormed = host
  return true
}

let lastWellFormed: string | undefined

function checkHost(host: string): boolean {
  let port: string | undefined
  if (host.startsWith('[')) {
    const end = host.indexOf(']')
    if (end === -1 || !isIPv6(host.slice(1, end))) return false
    const rest = host.slice(end + 1)
    if (rest !== '') {
      if (rest[0] !== ':') return false
      port = rest.slice(1)
    }
  } else {
    const colon = host.indexOf(':')
    const name = colon === -1 ? host : host.slice(0, colon)
    if (!HOST_NAME.test(name)) return false
    if (colon !== -1) port = host.slice(colon + 1)
  }
  return port === undefined || (/^\d{1,5}$/.test(port) && Number(port) <= 65535)
}
