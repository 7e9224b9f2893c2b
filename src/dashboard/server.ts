/**
 * The dashboard's HTTP handler: the page shell and its bundled assets (built by `npm run build`
 * into dist/web), one JSON endpoint per page under `api/`, the live tail as server-sent events
 * and the studio's relay to an MCP endpoint. Served by `portico dashboard` on its own listener
 * and, with `[dashboard] enabled`, as a mount of a running proxy.
 */
import { createReadStream, existsSync, statSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Fleet } from '../admin/fleet.ts'
import { pathOf } from '../edge/exchange.ts'
import { requestUrl } from '../http/request-url.ts'
import type { Db } from '../store/open.ts'
import { lookupTable } from '../util/lookup-table.ts'
import { FrameStore } from './frames.ts'
import { LiveTails } from './live.ts'
import type { PageRunner } from './page-runner.ts'
import { answerPage } from './pages.ts'
import { BadRequest, Params } from './query.ts'
import { relayMcp } from './relay.ts'

export interface DashboardOptions {
  /** The path the dashboard is served under, ending in `/` (`/` for `portico dashboard`). */
  basePath: string
  /** The store, opened when first needed (the error explains a missing store). */
  store: () => Db
  /**
   * Where page queries run when not on this thread (a dashboard mounted on a proxy: a slow
   * query must not stall its calls); without it they run here (`portico dashboard`).
   */
  pages?: Pick<PageRunner, 'run' | 'warm'>
  /** The MCP endpoint the studio connects to first (the proxy's own, when mounted on one). */
  mcpUrl?: string
  /** The backends and their health, when served by a running proxy (the admin API's fleet). */
  fleet?: Pick<Fleet, 'mode' | 'backends'>
  /** Folder of the built assets (default: dist/web beside the compiled server). */
  assetsDir?: string
}

export type DashboardHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>

const DEFAULT_ASSETS = fileURLToPath(new URL('../../web/', import.meta.url))

const TYPES: Record<string, string> = lookupTable({
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.map': 'application/json',
})

/**
 * The dashboard's API answers its own page only. A browser says where a request comes from
 * (`Sec-Fetch-Site`): another site, or another port of localhost (`same-site`), is refused. And
 * the studio's routes, which reach other servers on the user's behalf, need what only a script
 * of a page allowed by CORS can send (a JSON body, an MCP header): a plain link, image or form
 * on any website cannot make Portico relay a request into the user's network.
 */
function refuseCrossSite(req: IncomingMessage, rest: string): void {
  const site = req.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new BadRequest('the dashboard API answers its own page only', 403)
  }
  const studio =
    rest === 'api/studio/frame'
      ? /^application\/json\b/i.test(req.headers['content-type'] ?? '')
      : rest.startsWith('api/studio/')
        ? req.headers['mcp-protocol-version'] !== undefined
        : true
  if (!studio) throw new BadRequest('studio requests come from the dashboard page', 403)
}

/** The page shell's policy: everything from this origin, nothing from elsewhere (no CDN). */
const SHELL_CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-src 'self' blob: data:; connect-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

export function dashboardHandler(options: DashboardOptions): DashboardHandler {
  const assets = options.assetsDir ?? DEFAULT_ASSETS
  const frames = new FrameStore()
  const tails = new LiveTails()
  return async (req, res) => {
    // The path as the router matched it (not `url.pathname`, which resolves dot segments):
    // what decides the page is what decided the guard.
    const path = pathOf(req)
    const rest = path.startsWith(options.basePath) ? path.slice(options.basePath.length) : ''
    try {
      const url = requestUrl(req.url, 'http://dashboard.invalid')
      if (url === undefined) throw new BadRequest('the request target is not a path', 400)
      if (`${path}/` === options.basePath) {
        res.writeHead(308, { location: options.basePath }).end()
        return
      }
      if (rest.startsWith('api/')) refuseCrossSite(req, rest)
      if (rest === 'api/studio/frame') return await frames.create(req, res)
      if (rest.startsWith('api/studio/mcp'))
        return await relayMcp(req, res, new Params(url.searchParams))
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        throw new BadRequest(`${req.method} is not allowed here (GET only)`, 405)
      }
      if (rest === 'api/live')
        return tails.open(req, res, options.store, new Params(url.searchParams))
      if (rest === 'api/gateway') return sendJson(res, 200, await gatewayView(options.fleet))
      if (rest === 'api/config') return sendJson(res, 200, { mcp_url: options.mcpUrl ?? null })
      if (rest.startsWith('api/')) return await servePage(res, rest.slice(4), options, url)
      if (rest === '' || rest === 'index.html') {
        // The page's first queries follow at once: the worker starts now, not with them.
        options.pages?.warm()
        return serveFile(res, assets, 'index.html', false)
      }
      if (rest.startsWith('studio-frame/')) return frames.serve(rest.slice(13), res)
      if (rest.startsWith('assets/')) return serveFile(res, assets, rest, true)
      throw new BadRequest(`no dashboard page at ${path}`, 404)
    } catch (error) {
      if (res.headersSent) {
        res.destroy()
        return
      }
      if (error instanceof BadRequest) return sendJson(res, error.status, { error: error.message })
      const message = error instanceof Error ? error.message : String(error)
      return sendJson(res, 500, { error: message })
    }
  }
}

/** The gateway page: the proxy's backends now (a store alone has no live backends). */
async function gatewayView(fleet: DashboardOptions['fleet']) {
  if (fleet === undefined) return { mode: null, backends: [] }
  return { mode: fleet.mode, backends: await fleet.backends() }
}

async function servePage(
  res: ServerResponse,
  name: string,
  options: DashboardOptions,
  url: URL,
): Promise<void> {
  const started = performance.now()
  let body: unknown
  if (options.pages) {
    body = await options.pages.run(name, url.search.slice(1), Date.now())
  } else {
    body = answerPage(options.store(), name, new Params(url.searchParams), Date.now())
  }
  const took = performance.now() - started
  sendJson(res, 200, body, { 'server-timing': `db;dur=${took.toFixed(1)}` })
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify(value)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  })
  res.end(body)
}

/**
 * A built asset. Assets are revalidated by ETag (size and mtime): a rebuild is seen at once and an
 * unchanged file costs a 304.
 */
function serveFile(res: ServerResponse, dir: string, name: string, asset: boolean): void {
  const path = normalize(join(dir, name))
  if (!path.startsWith(normalize(dir)) || name.includes('..')) {
    throw new BadRequest('no such asset', 404)
  }
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new BadRequest(
      asset ? `no asset ${name}` : 'the dashboard assets are not built: run npm run build',
      404,
    )
  }
  const stat = statSync(path)
  const etag = `"${stat.size.toString(36)}-${Math.floor(stat.mtimeMs).toString(36)}"`
  const req = res.req as IncomingMessage | undefined
  const headers: Record<string, string> = {
    'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
    'cache-control': 'no-cache',
    etag,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  }
  if (!asset) headers['content-security-policy'] = SHELL_CSP
  if (req?.headers['if-none-match'] === etag) {
    res.writeHead(304, headers).end()
    return
  }
  res.writeHead(200, { ...headers, 'content-length': String(stat.size) })
  if (req?.method === 'HEAD') {
    res.end()
    return
  }
  // A file that cannot be read after all (removed since the stat) ends this answer, not the
  // process: a stream error without a listener would be thrown.
  const file = createReadStream(path)
  file.on('error', () => res.destroy())
  file.pipe(res)
}
