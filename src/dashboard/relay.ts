/**
 * The studio's way to any MCP endpoint: the page posts to `api/studio/mcp?url=…` and the
 * dashboard forwards the request (body, MCP headers, credentials the user typed) and streams
 * the answer back, so no endpoint needs CORS for the page. Only http(s) URLs, a bounded body,
 * a bounded time; the dashboard itself is loopback-only or behind the admin token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import type { ReadableStream as WebReadable } from 'node:stream/web'
import { PorticoError } from '../errors.ts'
import { readBody } from '../http/body.ts'
import { BadRequest, type Params } from './query.ts'

const MAX_BODY = 4 * 1024 * 1024
/** An answer (or an open SSE stream) ends after this long. */
const MAX_EXCHANGE_MS = 300_000

const FORWARDED = [
  'content-type',
  'accept',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
]
const RETURNED = ['content-type', 'mcp-session-id', 'mcp-protocol-version', 'www-authenticate']

export async function relayMcp(
  req: IncomingMessage,
  res: ServerResponse,
  params: Params,
): Promise<void> {
  const target = targetOf(params.required('url'))
  if (!['GET', 'POST', 'DELETE'].includes(req.method ?? '')) {
    throw new BadRequest(`${req.method} is not relayed (GET, POST, DELETE)`, 405)
  }
  const headers: Record<string, string> = {}
  for (const name of FORWARDED) {
    const value = req.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  // The target's credential travels in its own header: the dashboard's Authorization is its own.
  const credential = req.headers['x-mcp-authorization']
  if (typeof credential === 'string') headers.authorization = credential
  let body: Buffer | undefined
  try {
    body = req.method === 'POST' ? await readBody(req, MAX_BODY) : undefined
  } catch (error) {
    if (error instanceof PorticoError)
      throw new BadRequest(`request body over ${MAX_BODY} bytes`, 413)
    throw error
  }
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), MAX_EXCHANGE_MS)
  res.on('close', () => {
    clearTimeout(timer)
    abort.abort()
  })
  let answer: Response
  try {
    answer = await fetch(target, {
      method: req.method as string,
      headers,
      ...(body === undefined ? {} : { body }),
      signal: abort.signal,
      redirect: 'manual',
    })
  } catch (error) {
    clearTimeout(timer)
    throw new BadRequest(
      `could not reach ${target.origin}: ${String((error as Error).cause ?? error)}`,
      502,
    )
  }
  const out: Record<string, string> = { 'cache-control': 'no-store' }
  for (const name of RETURNED) {
    const value = answer.headers.get(name)
    if (value !== null) out[name] = value
  }
  res.writeHead(answer.status, out)
  if (answer.body === null) {
    res.end()
    return
  }
  const stream = Readable.fromWeb(answer.body as WebReadable<Uint8Array>)
  stream.on('error', () => res.destroy())
  stream.pipe(res)
}

function targetOf(text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new BadRequest(`url: not a URL: "${text}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BadRequest(`url: only http and https endpoints, got ${url.protocol}`)
  }
  return url
}
