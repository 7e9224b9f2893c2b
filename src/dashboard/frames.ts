/**
 * The studio's widget frames: the page posts a widget's HTML and the CSP a host would put on it,
 * and gets an unguessable URL serving that HTML with that CSP as a real response header (a
 * `srcdoc` frame would inherit the dashboard's own policy instead). Bounded: 64 frames, each
 * for ten minutes, 2 MB each.
 */
import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { PorticoError } from '../errors.ts'
import { readBody } from '../http/body.ts'
import { BadRequest } from './query.ts'

const MAX_FRAMES = 64
const FRAME_TTL_MS = 10 * 60_000
const MAX_HTML = 2 * 1024 * 1024

interface Frame {
  html: string
  csp: string
  expires: number
}

export class FrameStore {
  readonly #frames = new Map<string, Frame>()

  /** `POST api/studio/frame` with `{ html, csp }`: answers `{ path }` (relative to the dashboard). */
  async create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') throw new BadRequest('POST a JSON { html, csp }', 405)
    let body: unknown
    try {
      body = JSON.parse((await readBody(req, MAX_HTML)).toString('utf8'))
    } catch (error) {
      if (error instanceof PorticoError) throw new BadRequest(`widget over ${MAX_HTML} bytes`, 413)
      throw new BadRequest('the body is not JSON')
    }
    const { html, csp } = (body ?? {}) as { html?: unknown; csp?: unknown }
    if (typeof html !== 'string' || typeof csp !== 'string') {
      throw new BadRequest('expected { "html": string, "csp": string }')
    }
    if (/[\r\n]/.test(csp)) throw new BadRequest('csp: one line expected')
    // What a header value may hold (visible ASCII, space, tab): else the frame, accepted here,
    // could never be served (Node refuses the header: a 500 later instead of a 400 now).
    if (!/^[\t\x20-\x7e]*$/.test(csp))
      throw new BadRequest('csp: printable ASCII expected (a header value)')
    if (/(?:^|;)\s*sandbox\b/i.test(csp))
      throw new BadRequest('csp: the frame sets its own sandbox')
    this.#sweep()
    const id = randomBytes(16).toString('hex')
    this.#frames.set(id, { html, csp, expires: Date.now() + FRAME_TTL_MS })
    res.writeHead(201, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(JSON.stringify({ path: `studio-frame/${id}` }))
  }

  /** `GET studio-frame/<id>`: the widget under its CSP. */
  serve(id: string, res: ServerResponse): void {
    const frame = this.#frames.get(id)
    if (frame === undefined || frame.expires < Date.now()) {
      throw new BadRequest('no such widget frame (they last ten minutes)', 404)
    }
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      // `sandbox`: an opaque origin even when opened outside the studio's sandboxed iframe, so a
      // widget never runs as the dashboard's origin. First: of two directives of one name a
      // browser keeps the first, so nothing in the widget's own policy can loosen it.
      'content-security-policy': `sandbox allow-scripts allow-forms; ${frame.csp}`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    })
    res.end(frame.html)
  }

  #sweep(): void {
    const now = Date.now()
    for (const [id, frame] of this.#frames) if (frame.expires < now) this.#frames.delete(id)
    while (this.#frames.size >= MAX_FRAMES) {
      const oldest = this.#frames.keys().next()
      if (oldest.done) break
      this.#frames.delete(oldest.value)
    }
  }
}
