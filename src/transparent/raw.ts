/**
 * Non-MCP traffic (widget HTML/JS/CSS, images, OAuth metadata, CORS preflights): forwarded
 * with method, path, query, headers and streamed body intact, to `widgets` when configured,
 * else to the upstream's origin. OAuth metadata bodies get the upstream origin mapped to
 * Portico's public origin so the upstream's own OAuth keeps working through the proxy.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { type HeaderMap, headerValue, upstreamHeaders } from '../edge/headers.ts'
import { PorticoError } from '../errors.ts'
import { type ProxyContext, publicOrigin } from './context.ts'
import { endHttpExchange } from './http-failure.ts'
import { abortOnClose } from './mcp-post.ts'
import { Recorder } from './recorder.ts'
import { clientHeaders, pipeCounting } from './relay.ts'
import { isOAuthMetadataPath, mapChallenge, mapOrigin } from './url-map.ts'

const MAX_METADATA_BYTES = 1024 * 1024

/** Forwards to `target` (the full URL, path and query included). */
export async function handleRaw(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
): Promise<void> {
  const abort = abortOnClose(req, res)
  const base = new URL(target.origin)
  const userAgent = headerValue(req.headers, 'user-agent')
  const recorder = new Recorder(
    context.bus,
    {
      proxy: context.proxy,
      transport: 'http',
      bytesIn: Number(req.headers['content-length']) || 0,
      ...(userAgent ? { userAgent } : {}),
      http: { method: req.method ?? 'GET', kind: 'http', path: target.pathname },
    },
    [],
  )
  const origin = publicOrigin(context, req)
  try {
    const headers = upstreamHeaders(req)
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
    const response = await context.http.send({
      url: target,
      method: req.method ?? 'GET',
      headers,
      body: hasBody ? req : null,
      signal: abort.signal,
      label: `${target.origin}`,
    })
    recorder.upstreamStatus = response.status
    const out = mapChallenge(clientHeaders(response.headers), base.origin, origin)
    const type = headerValue(response.headers, 'content-type') ?? ''
    if (isOAuthMetadataPath(target.pathname) && type.includes('json')) {
      await sendMapped(res, response.status, out, response.body, base.origin, origin, recorder)
    } else {
      res.writeHead(response.status, out)
      await pipeCounting(res, response.body, recorder, abort.signal)
    }
    recorder.finish(response.status)
  } catch (error) {
    endHttpExchange(res, recorder, error, { signal: abort.signal, logger: context.logger })
  }
}

async function sendMapped(
  res: ServerResponse,
  status: number,
  headers: HeaderMap,
  body: Readable,
  upstreamOrigin: string,
  publicOrigin: string,
  recorder: Recorder,
): Promise<void> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_METADATA_BYTES) {
      throw new PorticoError('upstream_bad_response', {
        message: 'Upstream OAuth metadata document is too large',
      })
    }
    chunks.push(chunk)
  }
  const text = mapOrigin(Buffer.concat(chunks).toString('utf8'), upstreamOrigin, publicOrigin)
  const payload = Buffer.from(text)
  res.writeHead(status, { ...headers, 'content-length': payload.length })
  res.end(payload)
  recorder.wrote(payload.length)
}
