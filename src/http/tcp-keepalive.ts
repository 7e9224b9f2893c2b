/**
 * TCP keepalive on every connection Portico accepts (its MCP port, the admin listener, the
 * dashboard, the relay). A client that vanishes without closing its connection (a laptop put to
 * sleep, a NAT that forgets, a cable pulled) sends no FIN: an event stream it held open (a GET
 * listening for server messages, a long call's SSE answer) has nothing to write while the server
 * is quiet, so nothing ever found out, and the stream, its connection slot and its upstream
 * connection were held for ever. With keepalive the kernel probes a connection quiet for a minute
 * and closes it when the peer is gone (after the system's probes: Linux's defaults are 9 probes
 * 75 s apart, so about 12 minutes in all); a live peer answers the probes at no cost to it.
 */
export const TCP_KEEPALIVE = { keepAlive: true, keepAliveInitialDelay: 60_000 } as const
