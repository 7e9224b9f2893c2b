/**
 * The client's address as a request's records and per-client bounds see it. Behind a trusted
 * proxy (`[security] trusted_proxies`) every socket comes from the proxy: the address the proxy
 * vouches for (read by the address rules, auth/ip.ts) is attached to the request here, so the
 * per-client rate limit, the gateway's sessions per client, the audit log, the store and the
 * traces count each client as itself rather than all of them as the proxy. Without a vouched
 * address it is the socket's peer. Forwarding headers (`X-Forwarded-For`) still name the peer:
 * that is what a proxy appends.
 */
import type { IncomingMessage } from 'node:http'
import { isLoopback, normalizeAddress } from './address.ts'
import { viaOf } from './via.ts'

const VOUCHED = new WeakMap<IncomingMessage, string>()
/** Requests whose peer is a trusted proxy: their `X-Forwarded-Host`/`-Proto` are its word. */
const FROM_TRUSTED = new WeakSet<IncomingMessage>()

/**
 * Notes the address the trusted proxies vouch for (auth/setup.ts's address filter), and
 * whether the socket's peer is one of them (`trustedPeer`).
 */
export function attachClientAddress(
  req: IncomingMessage,
  address: string,
  trustedPeer = false,
): void {
  VOUCHED.set(req, address)
  if (trustedPeer) FROM_TRUSTED.add(req)
}

/** Whether the request's peer is a trusted proxy (`[security] trusted_proxies`). */
export function isFromTrustedProxy(req: IncomingMessage): boolean {
  return FROM_TRUSTED.has(req)
}

/** The vouched address of a request, else its socket's peer. */
export function clientAddressOf(req: IncomingMessage): string | undefined {
  return VOUCHED.get(req) ?? req.socket?.remoteAddress
}

/**
 * Whether a proxy relayed the request: it carries a forwarding header naming a client, or it
 * came through the tunnel (from the relay, whatever headers the relay wrote: one that sent
 * none passed for a local client, and reached the admin API that answers local ones only).
 */
export function isRelayed(req: IncomingMessage): boolean {
  const headers = req.headers
  return (
    headers['x-forwarded-for'] !== undefined ||
    headers.forwarded !== undefined ||
    headers['x-real-ip'] !== undefined ||
    viaOf(req.socket) === 'tunnel'
  )
}

/**
 * Whether the client is on this machine as far as the socket alone tells: a loopback peer
 * relaying no one. A reverse proxy on the same host is a loopback peer too, and everyone
 * behind it would pass for local; its forwarding header gives it away (unless the peer is a
 * trusted proxy, whose header names the client: auth/ip.ts `IpPolicy.isLocal`).
 */
export function isLocalPeer(req: IncomingMessage): boolean {
  return isLoopback(normalizeAddress(req.socket?.remoteAddress ?? '')) && !isRelayed(req)
}
