/**
 * MCP sent around the MCP endpoint: a JSON POST to another path is forwarded to the upstream's
 * origin as other traffic, and an upstream that answers MCP on more paths than one (or a
 * servlet container reading `/mcp;x` as `/mcp`) would serve it past every per-call check
 * (roles, argument validation, pins, limits, the record). Such a body is read first, bounded
 * like any MCP request, and an MCP message in it is refused with 404 naming the endpoint.
 * Other bodies (uploads, forms, an app's JSON API) are forwarded as they came.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ProxyContext } from '../context.ts'
import { refuse } from '../edge/exchange.ts'
import { PorticoError } from '../errors.ts'
import { decodeContentEncoding, readBody } from '../http/body.ts'
import { declaresAsciiCharset } from '../http/charset.ts'
import { requestIdOf } from '../jsonrpc/message.ts'
import { mcpInText } from '../protocol/classify.ts'

/** Content types an MCP server may read as JSON (the SDKs require JSON; some accept none). */
function mayHoldJson(req: IncomingMessage): boolean {
  const type = req.headers['content-type']
  return type === undefined || /json|^text\/plain/i.test(type)
}

/**
 * A POST that may hold JSON, read whole: `body` when it holds no MCP message, `refused` when it
 * was answered already (MCP at the wrong path, too large, undecodable). Other requests are not
 * read (no `body`): their stream is forwarded as it comes.
 */
export async function readUnlessMcp(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<{ body?: Buffer; refused: boolean }> {
  if (req.method !== 'POST' || !mayHoldJson(req)) return { refused: false }
  const limit = context.config.max_request_body_size
  try {
    if (!declaresAsciiCharset(req.headers['content-type'] ?? '')) {
      // In a charset that writes ASCII otherwise (UTF-7's `+ACI-` is a quote), an MCP message
      // would pass the check below unseen, and a server that decodes by charset read it.
      throw new PorticoError('unsupported_media_type', {
        message:
          'Unsupported Media Type: a JSON body in a charset other than UTF-8 (or one writing ASCII as itself) is not forwarded',
      })
    }
    const body = await readBody(req, limit)
    const plain =
      req.headers['content-encoding'] === undefined
        ? body
        : await decodeContentEncoding(body, req.headers, limit)
    const mcp = mcpInText(plain)
    if (mcp !== undefined) {
      // A request is refused with its id, as every refusal is (its client can match it): read
      // as the scan read it when JSON.parse cannot read the body.
      const id = requestIdOf(plain) ?? mcp.id
      throw new PorticoError('not_found', {
        message: `Not Found: MCP messages are served at ${context.config.mcp_path} only`,
        ...(id === undefined ? {} : { id }),
      })
    }
    return { body, refused: false }
  } catch (error) {
    refuse(context, req, res, error, 'http')
    return { refused: true }
  }
}
