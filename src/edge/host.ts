/**
 * Host-header validation against DNS rebinding without an Origin header: a page on
 * `evil.example` that resolves to 127.0.0.1 reaches a local Portico with `Host: evil.example`.
 * A listener on a loopback address accepts only loopback names (and `public_url`'s host and
 * `allowed_hosts`); a listener on a routable address checks only when `allowed_hosts` is set
 * (behind a load balancer the names are the deployment's to list). `"*"` allows any.
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
  const names = new Set(rules.allowed.map((name) => name.toLowerCase()))
  if (loopback) for (const name of LOOPBACK_NAMES) names.add(name)
  if (rules.publicUrl !== undefined) names.add(new URL(rules.publicUrl).hostname.toLowerCase())
  return (host) => host !== undefined && names.has(hostnameOf(host))
}

function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || address.startsWith('127.')
}

/** The name part of a Host header (`[::1]:3000` → `[::1]`, `Example.com:80` → `example.com`). */
export function hostnameOf(host: string): string {
  const value = host.trim().toLowerCase()
  if (value.startsWith('[')) {
    const end = value.indexOf(']')
    return end === -1 ? value : value.slice(0, end + 1)
  }
  const colon = value.indexOf(':')
  return colon === -1 ? value : value.slice(0, colon)
}
