/**
 * Serves a built widget folder (`widgets = "./dist"`): GET and HEAD of files inside the folder,
 * with content types, validators (ETag, Last-Modified → 304) and caching headers. A path that
 * escapes the folder (`..`, encoded or through a symlink) is refused; a file that does not exist
 * is left to the caller, which forwards the request to the upstream's origin.
 */

import { type FileHandle, open, realpath, stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, resolve, sep } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { ProxyContext } from '../context.ts'
import { addressOf } from '../edge/exchange.ts'
import { arrivalOf } from '../http/arrival.ts'
import { headerValue } from '../http/headers.ts'
import { HttpRecorder } from '../observe/recorder.ts'
import { contentTypeOf } from './content-types.ts'

/** Answers from the folder, or resolves false when the folder has no such file. */
export type StaticWidgets = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>

/** True when `widgets` names a folder rather than a dev-server URL. */
export function isWidgetsFolder(widgets: string | undefined): widgets is string {
  return widgets !== undefined && !/^https?:\/\//i.test(widgets)
}

export function staticWidgets(context: ProxyContext, folder: string): StaticWidgets {
  const root = resolve(folder)
  return async function serveWidgetFile(req, res) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false
    // Resolved for each request: a deploy that points a symlinked folder at a new release
    // (`dist -> releases/v2`) is served at once (resolved once, every file was then "outside").
    const realRoot = await realpath(root).catch(() => undefined)
    const found = await locate(realRoot, req.url ?? '/')
    if (found === 'forbidden') return refuse(context, req, res)
    if (found === undefined) return false
    const file = await opened(found)
    if (file === undefined) return false
    try {
      await sendFile(context, req, res, file)
    } finally {
      await file.handle.close().catch(() => {})
    }
    return true
  }
}

/** A file found in the folder, by its real path. */
interface FoundFile {
  path: string
}

/** An open file and what it held when opened: what is sent, whatever happens to the path. */
interface OpenFile {
  path: string
  handle: FileHandle
  size: number
  mtime: Date
}

/**
 * The file a request names, looked up under the folder's real path as resolved for this
 * request: a symlinked folder switched to another release meanwhile leaves this request in the
 * release it began in (looked up under the link, a switch between the two steps made the file
 * look outside the folder: 403).
 */
async function locate(
  realRoot: string | undefined,
  url: string,
): Promise<FoundFile | 'forbidden' | undefined> {
  if (realRoot === undefined) return undefined
  const pathname = url.split(/[?#]/, 1)[0] ?? '/'
  let decoded: string
  try {
    decoded = decodeURIComponent(pathname)
  } catch {
    return 'forbidden'
  }
  if (decoded.includes('\0') || decoded.split(/[\\/]/).includes('..')) return 'forbidden'
  let path = resolve(realRoot, `.${decoded}`)
  if (path !== realRoot && !path.startsWith(realRoot + sep)) return 'forbidden'
  let info = await stat(path).catch(() => undefined)
  if (info?.isDirectory()) {
    path = join(path, 'index.html')
    info = await stat(path).catch(() => undefined)
  }
  if (!info?.isFile()) return undefined
  // A symlink inside the folder must not lead outside it.
  const real = await realpath(path).catch(() => undefined)
  if (real === undefined || !real.startsWith(realRoot + sep)) return 'forbidden'
  return { path: real }
}

/** Opens a found file; undefined when it is gone, or no longer a file, by then. */
async function opened(found: FoundFile): Promise<OpenFile | undefined> {
  const handle = await open(found.path, 'r').catch(() => undefined)
  if (handle === undefined) return undefined
  const info = await handle.stat().catch(() => undefined)
  if (info?.isFile() !== true) {
    await handle.close().catch(() => {})
    return undefined
  }
  return { path: found.path, handle, size: info.size, mtime: info.mtime }
}

function refuse(context: ProxyContext, req: IncomingMessage, res: ServerResponse): true {
  const recorder = recorderFor(context, req)
  const body = 'Forbidden\n'
  res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length })
  res.end(body)
  recorder.wrote(body.length)
  recorder.fail('http_error', {
    reason: 'forbidden',
    errorMessage: 'path outside the widgets folder',
  })
  recorder.finish(403)
  return true
}

async function sendFile(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  file: OpenFile,
): Promise<void> {
  const recorder = recorderFor(context, req)
  const etag = `W/"${file.size.toString(16)}-${Math.floor(file.mtime.getTime()).toString(16)}"`
  const headers = {
    'content-type': contentTypeOf(extname(file.path)),
    'cache-control': cacheControlOf(file.path),
    etag,
    'last-modified': file.mtime.toUTCString(),
    // Hosts load widget assets from sandboxed, cross-origin iframes (`<script crossorigin>`).
    'access-control-allow-origin': '*',
    'x-content-type-options': 'nosniff',
  }
  if (notModified(req, etag, file.mtime)) {
    res.writeHead(304, headers)
    res.end()
    recorder.finish(304)
    return
  }
  res.writeHead(200, { ...headers, 'content-length': file.size })
  if (req.method === 'HEAD') {
    res.end()
    recorder.finish(200)
    return
  }
  if (file.size === 0) {
    res.end()
    recorder.finish(200)
    return
  }
  // Exactly the bytes Content-Length announced: a file that grows while it is sent must not
  // spill past them (the client would read the rest as its next answer on the connection).
  const body = file.handle.createReadStream({ start: 0, end: file.size - 1, autoClose: false })
  let sent = 0
  body.on('data', (chunk: string | Buffer) => {
    sent += chunk.length
  })
  try {
    // Not ended here: an answer short of its length is cut instead (a finished answer leaves
    // its socket, which destroying the answer then no longer closes).
    await pipeline(body, res, { end: false })
  } catch {
    res.destroy()
    recorder.fail('cancelled', { reason: 'cancelled' })
    recorder.finish(499)
    return
  }
  recorder.wrote(sent)
  if (sent === file.size) {
    res.end()
    recorder.finish(200)
    return
  }
  // Cut short while it was sent (a deploy truncated it): the answer can never reach its
  // length, so the connection is closed for the client to see it, not left waiting.
  res.destroy()
  recorder.fail('http_error', {
    reason: 'upstream_stream_ended',
    errorMessage: `widget file shrank to ${sent} of ${file.size} bytes while it was sent`,
  })
  recorder.finish(200)
}

/** HTML names stable entry points, so it is revalidated; hashed assets may be cached. */
function cacheControlOf(path: string): string {
  return /\.html?$/i.test(path) ? 'no-cache' : 'public, max-age=3600'
}

function notModified(req: IncomingMessage, etag: string, mtime: Date): boolean {
  const match = headerValue(req.headers, 'if-none-match')
  if (match !== undefined)
    return match.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')
  const since = headerValue(req.headers, 'if-modified-since')
  if (since === undefined) return false
  const time = Date.parse(since)
  return !Number.isNaN(time) && Math.floor(mtime.getTime() / 1000) * 1000 <= time
}

function recorderFor(context: ProxyContext, req: IncomingMessage): HttpRecorder {
  const userAgent = headerValue(req.headers, 'user-agent')
  return new HttpRecorder(
    context.bus,
    {
      proxy: context.proxy,
      transport: 'http',
      bytesIn: 0,
      method: req.method ?? 'GET',
      kind: 'http',
      path: (req.url ?? '/').split('?', 1)[0] ?? '/',
      ...(userAgent ? { userAgent } : {}),
      ...addressOf(req),
    },
    arrivalOf(req),
  )
}
