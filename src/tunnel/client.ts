/**
 * The tunnel client in `portico run`: registers with a relay over one WebSocket (the token in
 * the upgrade request's Authorization header and in the first frame, never in the URL), then
 * answers every stream the relay opens by feeding it, as HTTP/1.1 over an in-memory socket
 * pair, into Portico's own request handler. Streams both ways with flow control (mux.ts). When
 * the connection drops it reconnects with capped exponential backoff and jitter, asking for the
 * same subdomain; it stops for good when the relay refuses it (4001, or 401 to the upgrade
 * request), evicts it (4002) or speaks another version (4003).
 */
import {
  type ClientRequest,
  createServer,
  type IncomingMessage,
  request,
  type Server,
} from 'node:http'
import { isIP } from 'node:net'
import WebSocket from 'ws'
import { isLoopback, normalizeAddress } from '../http/address.ts'
import { markTunnelled } from '../http/via.ts'
import type { Logger } from '../observe/logger.ts'
import {
  CloseCode,
  decodeFrame,
  encodeJson,
  endToEnd,
  FrameType,
  isHeaderPairs,
  PROTOCOL_VERSION,
  payloadObject,
  REGISTER_PATH,
  SUBDOMAIN_HEADER,
} from './frames.ts'
import { DEFAULT_MUX, Mux, type MuxOptions, type TunnelStream } from './mux.ts'
import { relaySocketUrl } from './relay-url.ts'
import { socketPair } from './socket-pair.ts'

export type RequestHandler = (req: IncomingMessage, res: import('node:http').ServerResponse) => void

export interface TunnelClientOptions {
  /** The relay: `https://tunnel.example.com` (→ wss), `http://…` (→ ws), or a bare host. */
  relayUrl: string
  token: string
  subdomain?: string
  logger: Logger
  /** Heartbeat and window settings (tests shorten the heartbeat). */
  mux?: Partial<Omit<MuxOptions, 'onOpen' | 'onClose'>>
  /** Reconnect backoff: first delay and cap, in ms (jittered). */
  backoff?: { initialMs: number; maxMs: number }
  registerTimeoutMs?: number
}

export interface Registration {
  subdomain: string
  url: string
}

/** A registration the relay refused, with its close code (4001 refused, 4003 version). */
export class TunnelError extends Error {
  readonly code: number | undefined
  constructor(message: string, code?: number) {
    super(message)
    this.name = 'TunnelError'
    this.code = code
  }
}

export type TunnelState = 'connecting' | 'connected' | 'reconnecting' | 'stopped'

/** `https://x` → `wss://x/_tunnel/register`; the token never goes into this URL. */
export function registerUrl(relayUrl: string): string {
  let url: URL
  try {
    url = relaySocketUrl(relayUrl)
  } catch (error) {
    throw new TunnelError(`relay_url: ${(error as Error).message}`)
  }
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${REGISTER_PATH}`
  url.search = ''
  url.hash = ''
  return url.toString()
}

/** A connection that stayed up this long was a good one: the next drop starts backoff over. */
const STEADY_MS = 30_000

function isPublicUrl(text: string): boolean {
  return URL.canParse(text) && /^https?:$/.test(new URL(text).protocol)
}

/** At most `limit` bytes of a small answer's body, as text; whatever came when it fails. */
function textOf(res: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    const finish = () => resolve(Buffer.concat(chunks).toString('utf8'))
    res.on('data', (chunk: Buffer) => {
      if (size >= limit) return
      chunks.push(chunk.subarray(0, limit - size))
      size += chunk.length
      if (size >= limit) {
        res.destroy()
        finish()
      }
    })
    res.once('end', finish)
    res.once('error', finish)
    res.once('close', finish)
  })
}

export class TunnelClient {
  readonly #options: TunnelClientOptions
  readonly #mux: Omit<MuxOptions, 'onOpen' | 'onClose'>
  readonly #server: Server
  #handler: RequestHandler | undefined
  #connection: Mux | undefined
  #registration: Registration | undefined
  #state: TunnelState = 'connecting'
  #attempts = 0
  #retry: NodeJS.Timeout | undefined
  /** When the current connection registered: only one that stayed up resets the backoff. */
  #registeredAt = 0
  /** The attempt in progress (its socket and timer), so `close` can end it at once. */
  #pending: (() => void) | undefined
  /** Each successful registration (tests and logs follow reconnects). */
  registrations = 0
  onRegistered: ((registration: Registration) => void) | undefined

  constructor(options: TunnelClientOptions) {
    this.#options = options
    this.#mux = { ...DEFAULT_MUX, ...options.mux }
    // Parses the in-memory connections; never listens on a port.
    this.#server = createServer({ requestTimeout: 0 }, (req, res) => {
      if (this.#handler) this.#handler(req, res)
      else {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('portico is starting\n')
      }
    })
    registerUrl(options.relayUrl)
  }

  get state(): TunnelState {
    return this.#state
  }

  get registration(): Registration | undefined {
    return this.#registration
  }

  /** First registration; rejects (TunnelError) when the relay refuses or cannot be reached. */
  async connect(): Promise<Registration> {
    const registration = await this.#attempt(this.#options.subdomain)
    this.#state = 'connected'
    return registration
  }

  /** Where tunnel requests go from now on: Portico's request handler. */
  serve(handler: RequestHandler): void {
    this.#handler = handler
  }

  /** Stops reconnecting and closes the tunnel (in-flight streams are reset). */
  close(): void {
    this.#state = 'stopped'
    clearTimeout(this.#retry)
    this.#pending?.()
    this.#connection?.close(CloseCode.GoingAway, 'client closing')
  }

  /** Cuts the WebSocket as a network failure would (tests); the client reconnects. */
  dropConnection(): void {
    this.#connection?.terminate()
  }

  #attempt(subdomain: string | undefined): Promise<Registration> {
    const { logger } = this.#options
    // The token (and the subdomain) in the upgrade request too: the relay checks them before
    // it accepts the WebSocket, so strangers' silent sockets never hold this one's place.
    const headers: Record<string, string> = { authorization: `Bearer ${this.#options.token}` }
    if (subdomain !== undefined) headers[SUBDOMAIN_HEADER] = subdomain
    const ws = new WebSocket(registerUrl(this.#options.relayUrl), {
      maxPayload: 1024 * 1024,
      perMessageDeflate: false,
      handshakeTimeout: this.#options.registerTimeoutMs ?? 10_000,
      headers,
    })
    return new Promise<Registration>((resolve, reject) => {
      const fail = (error: TunnelError) => {
        clearTimeout(timer)
        this.#pending = undefined
        ws.removeAllListeners()
        ws.on('error', () => {})
        ws.terminate()
        reject(error)
      }
      const timer = setTimeout(
        () => fail(new TunnelError('the relay did not answer the registration')),
        this.#options.registerTimeoutMs ?? 10_000,
      )
      this.#pending = () => fail(new TunnelError('the tunnel client was closed'))
      ws.once('open', () => {
        const hello: Record<string, unknown> = {
          version: PROTOCOL_VERSION,
          token: this.#options.token,
        }
        if (subdomain !== undefined) hello.subdomain = subdomain
        ws.send(encodeJson(FrameType.Register, 0, hello))
      })
      ws.once('unexpected-response', (_req: ClientRequest, res: IncomingMessage) => {
        if (res.statusCode !== 401) {
          res.resume()
          fail(new TunnelError(`the relay answered HTTP ${res.statusCode} instead of a WebSocket`))
          return
        }
        // The relay refused the token or subdomain before the WebSocket: as a close with 4001.
        void textOf(res, 1024).then((text) =>
          fail(new TunnelError(text.trim() || 'refused by the relay', CloseCode.Refused)),
        )
      })
      ws.once('error', (error) => fail(new TunnelError(`cannot reach the relay: ${error.message}`)))
      ws.once('close', (code, reason) =>
        fail(new TunnelError(reason.toString('utf8') || `closed (${code})`, code)),
      )
      ws.once('message', (data, isBinary) => {
        const frame = isBinary ? decodeFrame(data as Buffer) : undefined
        const ack = frame?.type === FrameType.Registered ? payloadObject(frame) : undefined
        if (ack === undefined || typeof ack.url !== 'string' || typeof ack.subdomain !== 'string') {
          fail(new TunnelError('the relay sent an unexpected first frame'))
          return
        }
        // The URL becomes Portico's public URL (widget CSP, OAuth metadata): only a web origin.
        if (!isPublicUrl(ack.url)) {
          fail(new TunnelError('the relay sent a public URL that is not an http(s) URL'))
          return
        }
        clearTimeout(timer)
        this.#pending = undefined
        ws.removeAllListeners()
        this.#registeredAt = Date.now()
        const registration = { subdomain: ack.subdomain, url: ack.url }
        this.#registration = registration
        this.registrations++
        this.#connection = new Mux(ws, {
          ...this.#mux,
          onOpen: (stream, head) => this.#onStream(stream, head),
          onClose: (code, reason) => this.#onClosed(code, reason),
        })
        logger.debug('tunnel registered', { url: registration.url })
        this.onRegistered?.(registration)
        resolve(registration)
      })
    })
  }

  #onClosed(code: number, reason: string): void {
    this.#connection = undefined
    // A relay that accepts and then drops at once must not be redialled every 250 ms.
    if (Date.now() - this.#registeredAt >= STEADY_MS) this.#attempts = 0
    if (this.#state === 'stopped') return
    const { logger } = this.#options
    if (code === CloseCode.Evicted || code === CloseCode.Refused || code === CloseCode.Version) {
      this.#state = 'stopped'
      logger.error(`tunnel closed by the relay: ${reason || code}; not reconnecting`)
      return
    }
    this.#state = 'reconnecting'
    logger.warn(`tunnel connection lost (${closeCause(code, reason)}); reconnecting`)
    this.#schedule()
  }

  /** A method, not a field read, so a check after an await is not narrowed away. */
  #isStopped(): boolean {
    return this.#state === 'stopped'
  }

  /** Schedules the next attempt; returns its delay in ms. */
  #schedule(): number {
    const { initialMs, maxMs } = this.#options.backoff ?? { initialMs: 250, maxMs: 15_000 }
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(this.#attempts, 16))
    // Equal jitter: never sooner than half the ceiling, so a fleet does not reconnect in step.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2)
    this.#attempts++
    this.#retry = setTimeout(() => void this.#reconnect(), delay)
    this.#retry.unref()
    return delay
  }

  async #reconnect(): Promise<void> {
    if (this.#state === 'stopped') return
    const subdomain = this.#registration?.subdomain ?? this.#options.subdomain
    try {
      const registration = await this.#attempt(subdomain)
      if (this.#isStopped()) {
        this.#connection?.close()
        return
      }
      this.#state = 'connected'
      this.#options.logger.info(`tunnel reconnected: ${registration.url}`)
    } catch (error) {
      const code = (error as TunnelError).code
      if (code === CloseCode.Refused || code === CloseCode.Evicted || code === CloseCode.Version) {
        this.#onClosed(code, (error as Error).message)
        return
      }
      if (this.#isStopped()) return
      const delay = this.#schedule()
      // Each failure is said (the backoff keeps it to a few lines a minute): a relay that
      // answers 401 or nothing is the operator's to fix.
      this.#options.logger.warn(
        `tunnel reconnect failed: ${(error as Error).message}; next attempt in ${(delay / 1000).toFixed(1)} s`,
      )
    }
  }

  /** One public request: HTTP/1.1 over an in-memory socket pair into Portico's handler. */
  #onStream(stream: TunnelStream, head: Record<string, unknown>): void {
    const { method, path, headers, remote } = head
    if (
      typeof method !== 'string' ||
      typeof path !== 'string' ||
      !path.startsWith('/') ||
      !isHeaderPairs(headers)
    ) {
      stream.reset('bad open frame')
      return
    }
    const [inner, outer] = socketPair()
    // Public traffic never looks local to Portico (address rules, admin on loopback): a
    // loopback address from the relay, however written, or anything not an address, is
    // dropped rather than trusted.
    const address = typeof remote === 'string' ? normalizeAddress(remote) : ''
    if (isIP(address) !== 0 && !isLoopback(address)) inner.remoteAddress = address
    markTunnelled(inner)
    this.#server.emit('connection', inner)
    let req: ClientRequest
    try {
      req = request({
        createConnection: () => outer,
        method,
        path,
        headers: [...framed(headers), 'connection', 'close'],
        setHost: false,
      })
    } catch {
      // Node refuses invalid header names or values: the relay's client sent them.
      inner.destroy()
      stream.sendHead(FrameType.Head, { status: 400, headers: [] })
      stream.end()
      return
    }
    req.on('error', () => stream.reset('request failed in portico'))
    req.on('response', (res) => void this.#respond(stream, req, res))
    stream.receive({
      data: (chunk) => {
        if (req.destroyed) return
        req.write(chunk, () => stream.consumed(chunk.length))
      },
      end: () => {
        if (!req.destroyed) req.end()
      },
      // The public client went away: closing the socket is what Portico sees as a disconnect.
      reset: () => {
        req.destroy()
        outer.destroy()
      },
    })
  }

  async #respond(stream: TunnelStream, req: ClientRequest, res: IncomingMessage): Promise<void> {
    stream.sendHead(FrameType.Head, {
      status: res.statusCode ?? 502,
      headers: endToEnd(res.rawHeaders),
    })
    try {
      for await (const chunk of res) {
        if (!(await stream.write(chunk as Buffer))) {
          req.destroy()
          return
        }
      }
      if (res.complete) stream.end()
      else stream.reset('response cut off')
    } catch {
      stream.reset('response failed')
    }
  }
}

/**
 * The public request's end-to-end headers, and its framing: a body the client sent chunked
 * (no Content-Length) goes on chunked. `Transfer-Encoding` is hop-by-hop and dropped with the
 * rest; without it Node writes the body of a GET, DELETE or OPTIONS bare, and Portico read it as
 * the start of a second request on the tunnel's connection.
 */
function framed(headers: readonly string[]): string[] {
  const out = endToEnd(headers)
  const named = (list: readonly string[], name: string) =>
    list.some((value, i) => i % 2 === 0 && value.toLowerCase() === name)
  if (named(headers, 'transfer-encoding') && !named(out, 'content-length'))
    out.push('transfer-encoding', 'chunked')
  return out
}

/**
 * Why a tunnel's WebSocket closed, in words: a bare `1006` (no close frame) is what a relay
 * killed, a relay host gone or a cut network all look like from here.
 */
function closeCause(code: number, reason: string): string {
  if (reason !== '') return reason
  if (code === 1006)
    return 'the connection dropped without a close (1006): relay stopped or network lost'
  if (code === CloseCode.GoingAway) return 'the relay is going away (1001)'
  return `closed with ${code}`
}
