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

const VOUCHED = new WeakMap<IncomingMessage, string>()

/** Notes the address the trusted proxies vouch for (auth/setup.ts's address filter). */
export function attachClientAddress(req: IncomingMessage, address: string): void {
  VOUCHED.set(req, address)
}

/** The vouched address of a request, else its socket's peer. */
export function clientAddressOf(req: IncomingMessage): string | undefined {
  return VOUCHED.get(req) ?? req.socket?.remoteAddress
}
