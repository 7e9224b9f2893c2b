/**
 * Pipelined requests: Node answers the requests of one connection in order, so the response
 * to a request sent behind another waits, without a socket, until the ones before it are done.
 * If the connection dies first, Node never emits `close` on that waiting response: whatever
 * listens for it (the in-flight count a drain waits on, the call's cancellation, the set of
 * open answers) never hears of it, and the call, its answer and its buffers are held for the
 * process's life (a client sending requests behind an event stream and leaving grew memory
 * without bound, and each stop waited `drain_timeout`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

/**
 * When `res` waits behind another response (no socket yet) and the connection closes before
 * it gets one, it is destroyed and its `close` emitted, as for any answer cut by the client.
 */
export function closeWithConnection(req: IncomingMessage, res: ServerResponse): void {
  if (res.socket !== null) return
  const connection = req.socket
  const gone = () => {
    if (res.socket !== null) return // it was given the connection: its own `close` follows
    res.destroy()
    res.emit('close')
  }
  connection.once('close', gone)
  res.once('close', () => connection.off('close', gone))
}
