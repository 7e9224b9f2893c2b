/**
 * `Expect: 100-continue` (curl sends it for bodies over 1 MB): Node answers `100 Continue` to
 * every such request, inviting an upload the handler will refuse. With this, a body declared
 * over the listener's bound gets no 100, and its answer (the handler's 413, given at once from
 * the declared length) closes the connection, since the announced body never comes.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

export function continueWithin(
  server: Server,
  limit: () => number,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const declared = Number(req.headers['content-length'])
    if (declared > limit()) res.setHeader('connection', 'close')
    else res.writeContinue()
    handler(req, res)
  })
}

/**
 * An `Expect` other than `100-continue` gets 417 with a JSON-RPC error saying which (Node's own
 * answer was a bare status line), naming the worker when there is one; the connection closes.
 */
export function refuseExpectations(server: Server, workerSlot?: string): void {
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const expected = String(req.headers.expect ?? '').slice(0, 40)
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: null,
      error: {
        code: -32600,
        message: `Expectation Failed: Expect "${expected.replace(/[^\x20-\x7e]/g, '?')}" (only 100-continue is met)`,
      },
    })
    res.writeHead(417, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
      ...(workerSlot === undefined ? {} : { 'portico-worker': workerSlot }),
    })
    res.end(body)
  })
}
