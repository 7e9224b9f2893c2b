/**
 * The admin credential and the admin routes' HTTP filter. One token (`[admin] token`) guards
 * every admin route and the admin tools that change things; it is compared in constant time
 * (both sides hashed first, so neither its length nor its prefix leaks through timing) and
 * never logged. Without a token the admin API is served on loopback only (config refuses
 * anything else) and checks the Host header too, so a DNS-rebinding page cannot reach it, and
 * refuses a request a proxy relays (it carries a forwarding header), which comes from anywhere.
 *
 * Seam for the auth issue: `adminCredential` is the one place that decides what proves admin
 * rights; an identity with an admin role can be accepted here as well.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { PorticoError } from '../errors.ts'
import { isRelayed } from '../http/client-address.ts'
import { headerValue } from '../http/headers.ts'
import type { HttpFilter } from './filters.ts'
import { isLocalOrigin } from './origin.ts'

export interface AdminCredential {
  /** Whether a token is configured (then every admin request must present it). */
  readonly configured: boolean
  /** Whether the request headers carry the admin token (`Authorization: Bearer …`). */
  verify(headers: IncomingHttpHeaders): boolean
}

/** An admin credential whose token a reload may replace by another (`rotate`). */
export interface RotatableCredential extends AdminCredential {
  /**
   * Puts `token` in force from the next request: the old one is refused from then on. Only a
   * configured token is replaced by another: whether there is one at all decides how the admin
   * routes are guarded (loopback names only without), which a reload does not change.
   */
  rotate(token: string): void
}

export function adminCredential(token: string | undefined): RotatableCredential {
  let expected = token === undefined ? undefined : digest(token)
  return {
    configured: expected !== undefined,
    verify(headers) {
      if (expected === undefined) return false
      const presented = bearerOf(headers)
      return presented !== undefined && timingSafeEqual(digest(presented), expected)
    },
    rotate(next) {
      if (expected === undefined) throw new Error('no admin token to rotate')
      expected = digest(next)
    },
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerOf(headers: IncomingHttpHeaders): string | undefined {
  const value = headerValue(headers, 'authorization')
  const match = value === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(value)
  return match?.[1]
}

const CHALLENGE = 'Bearer realm="portico-admin"'

/**
 * Refuses admin requests from browser pages of other origins (always: no allowlist applies to
 * the admin API), without the token when one is configured, and, without a token, to a Host
 * that is not a loopback name (`hostCheck`; off for `/metrics`, which Prometheus scrapes from
 * other hosts and which shows no secrets). A page's origin must be the admin API's own (the
 * Host it was asked by, or `publicOrigin`): a page another local server serves
 * (`http://localhost:5173`, a dev server, a notebook) may not call it, which without a token
 * would let it add a stdio backend, a command Portico runs.
 */
export function adminFilter(
  credential: AdminCredential,
  hostCheck = true,
  publicOrigin?: string,
): HttpFilter {
  return function admin(req) {
    const origin = headerValue(req.headers, 'origin')
    if (
      origin !== undefined &&
      !isOwnOrigin(origin, headerValue(req.headers, 'host'), publicOrigin)
    ) {
      throw new PorticoError('forbidden_origin')
    }
    if (credential.configured) {
      if (credential.verify(req.headers)) return
      throw new PorticoError('unauthorized', {
        message: 'Unauthorized: the admin API needs the admin token (Authorization: Bearer)',
        headers: { 'www-authenticate': CHALLENGE },
      })
    }
    if (hostCheck && !isLoopbackHostHeader(headerValue(req.headers, 'host'))) {
      throw new PorticoError('forbidden', {
        message: 'Forbidden: without an admin token the admin API answers loopback names only',
      })
    }
    // A reverse proxy on this host is a loopback peer and may send a loopback Host (nginx's
    // default `Host: $proxy_host`): what it relays comes from anywhere, and is not local.
    if (hostCheck && isRelayed(req)) {
      throw new PorticoError('forbidden', {
        message:
          'Forbidden: without an admin token the admin API does not answer requests a proxy relays (X-Forwarded-For, Forwarded, X-Real-IP) or the tunnel brings',
      })
    }
  }
}

/** Whether a page at `origin` is the admin API's own: the Host it asks, or the public origin. */
function isOwnOrigin(origin: string, host: string | undefined, publicOrigin?: string): boolean {
  if (publicOrigin !== undefined && origin.toLowerCase() === publicOrigin.toLowerCase()) {
    return true
  }
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false
  }
  // Portico serves plain HTTP itself; a TLS origin is its public one (above), through a proxy.
  return (
    url.protocol === 'http:' &&
    url.origin === origin.toLowerCase().replace(/\/$/, '') &&
    host !== undefined &&
    url.host === host.toLowerCase()
  )
}

/** `localhost`, `127.x.x.x` or `[::1]`, with an optional port. */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  if (host === undefined) return false
  return isLocalOrigin(`http://${host}`) || /^127\.\d+\.\d+\.\d+(:\d+)?$/.test(host)
}
