/**
 * Client address rules (`[security] allow_ips`, `deny_ips`, `trusted_proxies`). The client is
 * the socket's peer, unless that peer is a trusted proxy: then `X-Forwarded-For` is read from
 * the right, skipping trusted proxies, and the first address not trusted is the client (the
 * left part of the header is whatever the client wrote and is never believed). Deny wins; a
 * non-empty allow list admits only its blocks. node's BlockList does the matching.
 */
import type { IncomingMessage } from 'node:http'
import { BlockList, isIP } from 'node:net'
import { parseCidr } from '../config/auth.ts'
import { PorticoError } from '../errors.ts'
// `::ffff:10.0.0.1` → `10.0.0.1`, so IPv4 rules match IPv4 clients on a dual-stack socket; a
// forwarded hop with a port (`1.2.3.4:5678`) → its address, so a deny rule matches it too.
import { isLoopback, normalizeAddress } from '../http/address.ts'
import { attachClientAddress, isLocalPeer } from '../http/client-address.ts'
import { viaOf } from '../http/via.ts'

export interface IpRules {
  allow: readonly string[]
  deny: readonly string[]
  trustedProxies: readonly string[]
}

function blockList(blocks: readonly string[]): BlockList {
  const list = new BlockList()
  for (const block of blocks) {
    const parsed = parseCidr(block)
    if (parsed !== undefined) list.addSubnet(parsed.address, parsed.prefix, parsed.family)
  }
  return list
}

function contains(list: BlockList, address: string): boolean {
  const version = isIP(address)
  if (version === 0) return false
  return list.check(address, version === 4 ? 'ipv4' : 'ipv6')
}

export class IpPolicy {
  readonly #allow: BlockList | undefined
  readonly #deny: BlockList
  readonly #trusted: BlockList
  readonly #hasTrusted: boolean

  constructor(rules: IpRules) {
    this.#allow = rules.allow.length > 0 ? blockList(rules.allow) : undefined
    this.#deny = blockList(rules.deny)
    this.#trusted = blockList(rules.trustedProxies)
    this.#hasTrusted = rules.trustedProxies.length > 0
  }

  /** The client's address as far as trusted proxies vouch for it. */
  clientAddress(req: IncomingMessage): string {
    let address = normalizeAddress(req.socket?.remoteAddress ?? '')
    // Through the tunnel the peer is the relay, which names the public client itself: that
    // address is no proxy to trust, whatever it is (a relay naming one in trusted_proxies, with
    // X-Forwarded-For: 127.0.0.1, passed allow_ips = ["127.0.0.1"] and read /readyz's details).
    if (viaOf(req.socket) === 'tunnel') return address
    if (!this.#hasTrusted || !contains(this.#trusted, address)) return address
    const header = req.headers['x-forwarded-for']
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map(normalizeAddress)
      .filter(Boolean)
    for (let i = hops.length - 1; i >= 0; i--) {
      address = hops[i] as string
      if (!contains(this.#trusted, address)) return address
    }
    return address
  }

  /**
   * Whether the client is on this machine (`/readyz` shows it pids and error texts): the
   * address a trusted proxy vouches for when the peer is one and forwards (a proxy on this
   * host relays clients from anywhere), else a loopback peer that relays no one.
   */
  isLocal(req: IncomingMessage): boolean {
    if (viaOf(req.socket) === 'tunnel') return false
    if (this.#hasTrusted && req.headers['x-forwarded-for'] !== undefined && this.#trustsPeer(req)) {
      return isLoopback(this.clientAddress(req))
    }
    return isLocalPeer(req)
  }

  /**
   * Attaches the address trusted proxies vouch for (when it is one) to the request: the
   * client's for rate limits and records, without address rules to check it against.
   */
  vouch(req: IncomingMessage): void {
    if (!this.#hasTrusted) return
    const address = this.clientAddress(req)
    if (isIP(address) !== 0) attachClientAddress(req, address, this.#trustsPeer(req))
  }

  /** Whether the socket's peer is a trusted proxy. */
  #trustsPeer(req: IncomingMessage): boolean {
    if (viaOf(req.socket) === 'tunnel') return false
    return contains(this.#trusted, normalizeAddress(req.socket?.remoteAddress ?? ''))
  }

  /**
   * Throws 403 for an address the rules refuse, and for one that is not an address at all (a
   * forwarded hop a deny rule could not judge is not let in). An address trusted proxies vouch
   * for is attached to the request first, so it is the client's everywhere after (rate limits,
   * records), refusals included.
   */
  check(req: IncomingMessage): void {
    const address = this.clientAddress(req)
    if (this.#hasTrusted) attachClientAddress(req, address, this.#trustsPeer(req))
    const allowed =
      isIP(address) !== 0 &&
      !contains(this.#deny, address) &&
      (this.#allow === undefined || contains(this.#allow, address))
    if (!allowed) {
      throw new PorticoError('forbidden', { message: 'Forbidden: client address not allowed' })
    }
  }
}
