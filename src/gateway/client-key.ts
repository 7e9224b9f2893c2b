/**
 * Whose a call is, for the bounds kept per client (`max_sessions_per_client`, the calls one
 * client may hold parked for input): the principal `[auth]` verified, else the client's
 * address. By address alone, one user's entries pushed out another's behind the same address
 * (a NAT, a proxy, the same host), and one user spread over addresses had no bound.
 */
import type { Call } from '../pipeline/call.ts'

export function clientKeyOf(call: Call): string {
  const identity = call.identity
  return identity === undefined ? `addr:${call.request.clientAddress ?? ''}` : `id:${identity.key}`
}
