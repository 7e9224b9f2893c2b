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
