/**
 * Non-MCP traffic (widget HTML/JS/CSS, images, OAuth metadata, CORS preflights): forwarded
 * with method, path, query, headers and streamed body intact, to `widgets` when configured,
 * else to the upstream's origin. OAuth metadata bodies get the upstream origin mapped to
 * Portico's public origin so the upstream's own OAuth keeps working through the proxy.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { type ProxyContext, publicOrigin } from '../context.ts'
import { relayExchange } from '../edge/exchange.ts'
import { failRelay, relayAnswer } from '../edge/send.ts'
import { PorticoError } from '../errors.ts'
import { clientHeaders, headerValue, isCorsPreflight, upstreamHeaders } from '../http/headers.ts'
import { MessageReply } from '../pipeline/reply.ts'
import { isOAuthMetadataPath, mapOrigin, mapOriginHeaders } from './url-map.ts'

const MAX_METADATA_BYTES = 1024 * 1024

export interface RawOptions {
  /**
   * The upstream's deadline (the running `request_timeout`): until the answer starts, then
   * between two of its chunks (a large file in progress is not cut; a body that stalls is).
   */
  timeoutMs: number
  /** The request's body, when it was read already (else the request is streamed on). */
  body?: Buffer
}

/** Forwards to `target` (the full URL, path and query included). */
export async function forwardRaw(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
  { timeoutMs, body }: RawOptions,
): Promise<void> {
  const options = relayExchange(context, req, res, { transport: 'http', kind: 'http' })
  const { recorder, signal } = options
  const origin = publicOrigin(context, req)
  try {
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
    const response = await context.http.send({
      url: target,
      method: req.method ?? 'GET',
      headers: upstreamHeaders(req),
      body: hasBody ? (body ?? req) : null,
      signal,
      label: target.origin,
      timeoutMs,
    })
    recorder.upstreamStatus = response.status
    const headers = mapOriginHeaders(clientHeaders(response.headers), target.origin, origin)
    if (isCorsPreflight(req)) {
      // A preflight passes without credentials (a browser sends none), so its answer carries
      // the upstream's status and CORS headers only: a browser reads no preflight body, and an
      // upstream's OPTIONS handler must not hand one to whoever spells a preflight.
      response.body.resume()
      delete headers['transfer-encoding']
      headers['content-length'] = '0'
      await relayAnswer(
        res,
        MessageReply.fromBytes(Buffer.alloc(0), { status: response.status, headers }),
        options,
      )
      return
    }
    const type = headerValue(response.headers, 'content-type') ?? ''
    if (isOAuthMetadataPath(target.pathname) && type.includes('json')) {
      // OAuth metadata names the upstream's origin: rewritten to Portico's (bounded read).
      const reply = MessageReply.fromBody(response.body, MAX_METADATA_BYTES, {
        status: response.status,
        headers,
      })
      await reply.fill(MAX_METADATA_BYTES)
      const body = reply.body()
      if (!('bytes' in body)) {
        throw new PorticoError('response_too_large', {
          message: 'Upstream OAuth metadata document is too large',
        })
      }
      const mapped = Buffer.from(mapOrigin(body.bytes.toString('utf8'), target.origin, origin))
      headers['content-length'] = String(mapped.length)
      await relayAnswer(
        res,
        MessageReply.fromBytes(mapped, { status: response.status, headers }),
        options,
      )
      return
    }
    await relayAnswer(
      res,
      { kind: 'http', status: response.status, headers, body: response.body },
      options,
    )
  } catch (error) {
    failRelay(res, error, options)
  }
}

/**
 * The upstream URL of a request, on the configured origin only. Absolute-form targets
 * (`GET http://other/…`) and protocol-relative paths (`//other/…`) would name another host:
 * they are refused, so Portico is never an open proxy.
 */
export function targetOf(req: IncomingMessage, origin: URL): URL | undefined {
  const path = req.url ?? ''
  if (!path.startsWith('/') || path.startsWith('//')) return undefined
  if (!URL.canParse(origin.origin + path)) return undefined
  const url = new URL(origin.origin + path)
  return url.origin === origin.origin ? url : undefined
}
