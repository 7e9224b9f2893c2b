/**
 * Client addresses as sockets and proxies write them, reduced to one spelling: an address
 * rule, or the tunnel's "never loopback" rule, must not be passed by another way of writing
 * the same address (`[::1]:443`, `::FFFF:127.0.0.1`, `0:0:0:0:0:0:0:1`).
 */
import { BlockList, isIP } from 'node:net'

/** `[::1]:443` → `::1`, `1.2.3.4:80` → `1.2.3.4`, `::ffff:1.2.3.4` → `1.2.3.4`. */
export function normalizeAddress(address: string): string {
  let trimmed = address.trim()
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(trimmed)
  if (bracketed) trimmed = bracketed[1] as string
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(trimmed))
    trimmed = trimmed.slice(0, trimmed.indexOf(':'))
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(trimmed)
  return mapped ? (mapped[1] as string) : trimmed
}

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6')

/** Whether `address` (normalized) is this machine's loopback, however it is written. */
export function isLoopback(address: string): boolean {
  const version = isIP(address)
  return version !== 0 && LOOPBACK.check(address, version === 4 ? 'ipv4' : 'ipv6')
}
