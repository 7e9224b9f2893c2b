/**
 * Which way a request came in: the tunnel client marks the in-memory sockets it feeds Portico's
 * handler with, so the recorder can tell tunnel traffic from local traffic. A WeakSet of
 * sockets, not a header: a client cannot forge it.
 */
const TUNNELLED = new WeakSet<object>()

export function markTunnelled(socket: object): void {
  TUNNELLED.add(socket)
}

/** `'tunnel'` for a request that arrived through the tunnel, else undefined (local). */
export function viaOf(socket: object | null | undefined): 'tunnel' | undefined {
  return socket != null && TUNNELLED.has(socket) ? 'tunnel' : undefined
}
