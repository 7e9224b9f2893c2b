/**
 * `portico relay`: the public side of the tunnel. One plain-HTTP listener (TLS is terminated
 * in front of it) with two jobs: WebSocket registrations at `/_tunnel/register`, and every
 * other request routed by the first label of its Host (`<subdomain>.<domain>`) to that
 * tunnel, streamed both ways (mux.ts). The relay's own `/healthz` answers on the bare domain
 * (or any host that is not a tunnel's). Per tunnel: concurrent streams, requests per second,
 * request and response body sizes, the time to the response head. Nothing a client or a tunnel
 * sends can take the process down: every failure ends one request or one tunnel.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { type RawData, WebSocket, WebSocketServer } from 'ws'
import type { RelayConfig } from '../config/tunnel.ts'
import { refuseConnect } from '../http/connect-method.ts'
import { continueWithin } from '../http/expect-continue.ts'
import { OpenAnswers, serveWithoutUpgrade } from '../http/ignored-upgrade.ts'
import { SendWatch } from '../http/send-timeout.ts'
import { TCP_KEEPALIVE } from '../http/tcp-keepalive.ts'
import type { Logger } from '../observe/logger.ts'
import {
  CloseCode,
  decodeFrame,
  encodeJson,
  endToEnd,
  FrameType,
  isHeaderPairs,
  MAX_HEADER_FIELDS,
  PROTOCOL_VERSION,
  pairValue,
  payloadObject,
  REGISTER_PATH,
  SUBDOMAIN_HEADER,
} from '../tunnel/frames.ts'
import { DEFAULT_MUX, Mux, type TunnelStream } from '../tunnel/mux.ts'
import { OpenList } from '../util/open-list.ts'
import type { AuthResult, RelayAuth } from './auth.ts'

export interface RelayOptions {
  config: RelayConfig & { domain: string }
  auth: RelayAuth
  logger: Logger
  /** Where access log lines go (default: stdout). */
  accessLog?: (line: string) => void
}

export interface RelayAddress {
  host: string
  port: number
  url: string
}

interface Tunnel {
  subdomain: string
  /** SHA-256 of the token it registered with: only that token may take its place. */
  owner: Buffer
  mux: Mux
  /** Token bucket for requests per second. */
  tokens: number
  refilled: number
}

/** Sockets open at once (public clients and tunnels); past it new ones are closed. */
const MAX_CONNECTIONS = 20_000

/** Registration sockets waiting at once, of each kind (with or without a token), and per address. */
const MAX_WAITING = 64
const MAX_WAITING_PER_ADDRESS = 8

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

/** A token and subdomain checked in the upgrade request, with the verdict. */
interface Checked {
  hash: Buffer
  requested: string | undefined
  result: AuthResult
}

/** `Bearer <token>` → the token. */
function bearerOf(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^bearer +(\S+)\s*$/i.exec(header)
  return match?.[1]
}

/**
 * Places for sockets waiting to register: `limit` at once, `perAddress` from one address (the
 * public client's), so one address cannot take them all. The map holds only addresses with a
 * socket waiting, so it is bounded by `limit`.
 */
class Waiting {
  #total = 0
  readonly #byAddress = new Map<string, number>()
  readonly #limit: number
  readonly #perAddress: number

  constructor(limit: number, perAddress: number) {
    this.#limit = limit
    this.#perAddress = perAddress
  }

  /** A place, released by the function returned (once), or undefined when there is none. */
  take(address: string): (() => void) | undefined {
    const mine = this.#byAddress.get(address) ?? 0
    if (this.#total >= this.#limit || mine >= this.#perAddress) return undefined
    this.#total++
    this.#byAddress.set(address, mine + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      this.#total--
      const left = (this.#byAddress.get(address) ?? 1) - 1
      if (left > 0) this.#byAddress.set(address, left)
      else this.#byAddress.delete(address)
    }
  }
}

/**
 * Response header pairs with every cookie's `Domain` attribute removed: a tenant's cookie then
 * belongs to its own subdomain only, never to the relay's domain, where every other tenant's
 * site would receive it (or set one for it).
 */
export function hostOnlyCookies(pairs: string[]): string[] {
  const out = pairs.slice()
  for (let i = 0; i + 1 < out.length; i += 2) {
    if ((out[i] as string).toLowerCase() === 'set-cookie') {
      // Browsers trim around an attribute's name and `=` (RFC 6265 §5.2): `; Domain = x`.
      out[i + 1] = (out[i + 1] as string).replace(/;\s*domain\s*(?:=[^;]*)?(?=;|$)/gi, '')
    }
  }
  return out
}

/** Whether raw header pairs say `content-type: text/event-stream`. */
function isEventStream(pairs: readonly string[]): boolean {
  return /^\s*text\/event-stream\b/i.test(pairValue(pairs, 'content-type') ?? '')
}

/**
 * Answers an upgrade request that gets no WebSocket, then closes the socket once the answer is
 * written (as ws does). The HTTP server's sockets are half-open, so `end()` alone would keep the
 * socket, and the registration place it holds, until the peer closes its side, which a peer need
 * never do: 64 refused sockets left open would keep every tunnel out.
 */
function refuseUpgrade(socket: Socket, response: string): void {
  socket.once('finish', () => socket.destroy())
  socket.end(response)
}

/**
 * What is wrong with a registration's fields, if anything. A token or subdomain of another
 * type is refused rather than read as absent: a subdomain of `42` would otherwise register
 * the tunnel under a random name the client did not ask for.
 */
function malformedRegistration(hello: Record<string, unknown>): string | undefined {
  for (const field of ['token', 'subdomain'] as const) {
    const value = hello[field]
    if (value !== undefined && value !== null && typeof value !== 'string') {
      return `malformed registration: ${field} must be a string`
    }
  }
  return undefined
}

/** WebSocket close reasons are limited to 123 bytes. */
function closeReason(text: string): string {
  const bytes = Buffer.from(text)
  return bytes.length <= 120 ? text : `${bytes.subarray(0, 117).toString('utf8')}...`
}

export class Relay {
  readonly #config: RelayConfig & { domain: string }
  readonly #auth: RelayAuth
  readonly #logger: Logger
  readonly #accessLog: (line: string) => void
  readonly #tunnels = new Map<string, Tunnel>()
  readonly #server: Server
  readonly #wss: WebSocketServer
  /** Answers open per connection: an ignored upgrade is served once they are done. */
  readonly #answers = new OpenAnswers()
  /** Registration sockets that presented no token in their upgrade request. */
  readonly #anonymous = new Waiting(MAX_WAITING, MAX_WAITING_PER_ADDRESS)
  /** Registration sockets that presented a token: checked, or being checked. */
  readonly #presented = new Waiting(MAX_WAITING, MAX_WAITING_PER_ADDRESS)
  /** Answers being sent, for `send_timeout`'s sweep (why a list: util/open-list.ts). */
  readonly #open = new OpenList<ServerResponse>()
  readonly #sendWatch: SendWatch
  /** Set by `close`: requests and registrations arriving now are refused (503). */
  #closing = false
  /** Wakes `close` when the last answer in flight is done. */
  #whenDrained: (() => void) | undefined

  constructor(options: RelayOptions) {
    this.#config = options.config
    this.#auth = options.auth
    this.#logger = options.logger
    this.#accessLog = options.accessLog ?? ((line) => process.stdout.write(`${line}\n`))
    this.#sendWatch = new SendWatch({
      timeoutMs: options.config.send_timeout,
      onCut: (socket, stalledMs) =>
        this.#logger.warn('closed the connection of a client that took nothing for send_timeout', {
          client: socket.remoteAddress,
          ms: Math.round(stalledMs),
        }),
    })
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: 1024 * 1024,
      perMessageDeflate: false,
    })
    this.#server = createServer(
      // A request (head and body; not the answer, which may be a long SSE stream) must arrive
      // within two minutes: a body sent a byte at a time cannot hold a socket for ever.
      {
        headersTimeout: 20_000,
        requestTimeout: 120_000,
        keepAliveTimeout: 65_000,
        ...TCP_KEEPALIVE,
      },
      (req, res) => this.#onRequest(req, res),
    )
    continueWithin(
      this.#server,
      () => this.#config.max_request_body_size,
      (req, res) => this.#onRequest(req, res),
    )
    refuseConnect(this.#server)
    this.#server.maxConnections = MAX_CONNECTIONS
    this.#server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket as Socket, head))
    // A request the parser refuses gets a status, as Node's default gives (a front proxy
    // otherwise reports a 502 that blames the tunnel): 431 for headers too large, else 400.
    this.#server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      if (!socket.writable || socket.destroyed) {
        socket.destroy()
        return
      }
      const status =
        error.code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : '400 Bad Request'
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
      // Written, then closed whether or not the client reads it.
      setTimeout(() => socket.destroy(), 1000).unref()
    })
  }

  /** WebSockets the relay holds now: registering, or registered (closed ones are let go). */
  get webSockets(): number {
    return this.#wss.clients.size
  }

  /** Subdomains with a live tunnel. */
  get subdomains(): string[] {
    return [...this.#tunnels.keys()]
  }

  /** Cuts one tunnel's WebSocket at once, as a network failure would (tests, operators). */
  drop(subdomain: string): boolean {
    const tunnel = this.#tunnels.get(subdomain)
    tunnel?.mux.terminate()
    return tunnel !== undefined
  }

  async listen(): Promise<RelayAddress> {
    this.#server.listen(this.#config.port, this.#config.host)
    await once(this.#server, 'listening')
    this.#sendWatch.start(() => this.#open.items())
    const address = this.#server.address() as AddressInfo
    const host = address.address.includes(':') ? `[${address.address}]` : address.address
    return { host: address.address, port: address.port, url: `http://${host}:${address.port}` }
  }

  /**
   * Stops taking connections, requests and registrations, lets the answers in flight finish
   * for up to `drainMs` (`drain_timeout` on SIGTERM; in-flight requests got 502s when the
   * tunnels were cut at once), then closes every tunnel and connection.
   */
  async close(drainMs = 0): Promise<void> {
    this.#closing = true
    // ws refuses the handshakes still to complete (503) from now on.
    this.#wss.close()
    this.#server.close()
    // Connections kept alive between requests carry nothing to finish.
    this.#server.closeIdleConnections()
    for (const res of this.#open.items()) keepNoConnection(res)
    if (drainMs > 0 && this.#open.size > 0) {
      const inFlight = this.#open.size
      this.#logger.info('draining answers in flight', { requests: inFlight, ms: drainMs })
      await this.#drained(drainMs)
      if (this.#open.size > 0) {
        this.#logger.warn('drain_timeout ended with answers in flight; closing them', {
          requests: this.#open.size,
        })
      }
    }
    for (const tunnel of this.#tunnels.values()) {
      tunnel.mux.close(CloseCode.GoingAway, 'relay shutting down')
    }
    this.#tunnels.clear()
    this.#sendWatch.stop()
    this.#server.close()
    this.#server.closeAllConnections()
    for (const ws of this.#wss.clients) ws.terminate()
  }

  /** Resolves when no answer is in flight, or after `withinMs`. */
  #drained(withinMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, withinMs)
      const self = this
      function done() {
        clearTimeout(timer)
        self.#whenDrained = undefined
        resolve()
      }
      this.#whenDrained = done
    })
  }

  /** The tunnel a Host names: `<label>.<domain>`, or the first label of another name. */
  #subdomainOf(hostHeader: string | undefined): string | undefined {
    if (!hostHeader) return undefined
    const host = hostHeader.replace(/:\d+$/, '').toLowerCase().replace(/\.$/, '')
    const domain = this.#config.domain.toLowerCase()
    if (host === domain) return undefined
    if (host.endsWith(`.${domain}`)) return host.slice(0, -domain.length - 1)
    const dot = host.indexOf('.')
    return dot > 0 && !/^[\d.]+$/.test(host) && !host.startsWith('[')
      ? host.slice(0, dot)
      : undefined
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== REGISTER_PATH) {
      // Only a tunnel's registration is upgraded: any other request is served as the plain
      // request it also is, to its tunnel (it was a bare 404).
      serveWithoutUpgrade(this.#server, this.#answers, req, socket, head)
      return
    }
    socket.on('error', () => socket.destroy())
    if (this.#closing) {
      refuseUnavailable(socket, 1)
      return
    }
    const token = bearerOf(req.headers.authorization)
    const header = req.headers[SUBDOMAIN_HEADER]
    const requested = typeof header === 'string' && header !== '' ? header : undefined
    // A full relay still lets in a registration naming a tunnel it holds: it may replace it (a
    // client reconnecting while its old connection is still held); `#register` decides. Refused
    // here, such a client was locked out until the old one's heartbeat ran out.
    const full =
      this.#tunnels.size >= this.#config.max_tunnels &&
      !(token !== undefined && requested !== undefined && this.#tunnels.has(requested))
    // Strangers without a token and clients that present one wait in separate places, each
    // bounded overall and per address: silent sockets cannot hold the places of tunnels that
    // authenticate in their upgrade request.
    const release = full
      ? undefined
      : (token === undefined ? this.#anonymous : this.#presented).take(publicAddressOf(req) ?? '')
    if (release === undefined) {
      refuseUnavailable(socket)
      return
    }
    // Released by the handshake's end, or here if the socket closes first (an upgrade that ws
    // refuses never reaches the handshake).
    socket.once('close', release)
    if (token === undefined) {
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#register(ws, release))
      return
    }
    // The deadline covers the check too (an auth provider has its own, shorter one).
    const timer = setTimeout(() => socket.destroy(), this.#config.registration_timeout)
    socket.once('close', () => clearTimeout(timer))
    void this.#auth
      .authorize(token, requested)
      .then((result) => {
        if (socket.destroyed) return
        clearTimeout(timer)
        // SIGTERM came while the provider checked it: no registration after the close (it
        // held a tunnel, and the relay, alive for ever).
        if (this.#closing) {
          refuseUnavailable(socket, 1)
          return
        }
        if (!result.ok && result.unavailable) {
          this.#logger.warn('tunnel registration deferred: the auth provider is unavailable')
          refuseUnavailable(socket, 5)
          return
        }
        const refusal = result.ok ? this.#takenFrom(result.subdomain, token) : result.message
        if (refusal !== undefined) {
          this.#logger.info('tunnel refused', { reason: refusal })
          const body = Buffer.from(`${closeReason(refusal)}\n`)
          refuseUpgrade(
            socket,
            `HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
          )
          return
        }
        const checked = { hash: digest(token), requested, result }
        this.#wss.handleUpgrade(req, socket, head, (ws) => this.#register(ws, release, checked))
      })
      .catch((error: unknown) => {
        // Nothing above is expected to throw; if it does, this socket ends, not the relay.
        this.#logger.warn('tunnel registration failed', { error: String(error) })
        socket.destroy()
      })
  }

  /**
   * Why `subdomain` cannot go to `token`: another token's tunnel holds it, or the token holds
   * `max_tunnels_per_token` tunnels already.
   */
  #takenFrom(subdomain: string, token: string): string | undefined {
    const owner = digest(token)
    const holder = this.#tunnels.get(subdomain)
    // A client reconnecting with its own token replaces its old tunnel; another token (an
    // open relay lets any token ask for any name) never takes a tunnel over.
    if (holder !== undefined) {
      return timingSafeEqual(holder.owner, owner)
        ? undefined
        : `subdomain '${subdomain}' is in use by another token`
    }
    const limit = this.#config.max_tunnels_per_token
    if (this.#tunnelsOwnedBy(owner) >= limit) {
      return `this token holds ${limit} tunnels already (the relay's max_tunnels_per_token)`
    }
    return undefined
  }

  /** How many tunnels `owner` (a token's digest) holds: a scan, made only at registration. */
  #tunnelsOwnedBy(owner: Buffer): number {
    let count = 0
    for (const tunnel of this.#tunnels.values()) {
      if (tunnel.owner.equals(owner)) count++
    }
    return count
  }

  /**
   * The handshake: the first frame carries the version, the token and the subdomain asked for,
   * within `registration_timeout`. A socket whose upgrade request was checked already (`checked`)
   * must repeat the same token and subdomain; it is not authorized a second time.
   */
  #register(ws: WebSocket, release: () => void, checked?: Checked): void {
    let settled = false
    // Only the handshake's own listeners are taken off when it ends: all of them went before,
    // the server's too, which takes a closed socket out of `wss.clients`, and every tunnel
    // that ever registered stayed there (about 8 KB each, for the relay's life).
    const onClose = () => done()
    const done = () => {
      if (settled) return false
      settled = true
      release()
      clearTimeout(timer)
      ws.off('close', onClose)
      ws.off('message', onMessage)
      return true
    }
    const refuse = (code: number, reason: string) => {
      if (done()) ws.close(code, closeReason(reason))
    }
    const timer = setTimeout(
      () => refuse(CloseCode.Protocol, 'no registration'),
      this.#config.registration_timeout,
    )
    ws.on('error', () => {})
    ws.once('close', onClose)
    const onMessage = (data: RawData, isBinary: boolean) => {
      const frame = isBinary ? decodeFrame(data as Buffer) : undefined
      const hello = frame?.type === FrameType.Register ? payloadObject(frame) : undefined
      if (hello === undefined) {
        refuse(CloseCode.Protocol, 'expected a registration')
        return
      }
      if (hello.version !== PROTOCOL_VERSION) {
        refuse(CloseCode.Version, `unsupported protocol version (relay speaks ${PROTOCOL_VERSION})`)
        return
      }
      const malformed = malformedRegistration(hello)
      if (malformed !== undefined) {
        refuse(CloseCode.Protocol, malformed)
        return
      }
      const token = typeof hello.token === 'string' ? hello.token : ''
      const requested = typeof hello.subdomain === 'string' ? hello.subdomain : undefined
      if (checked !== undefined) {
        if (!timingSafeEqual(checked.hash, digest(token)) || requested !== checked.requested) {
          refuse(CloseCode.Refused, 'the registration differs from its upgrade request')
          return
        }
      }
      const authorized =
        checked === undefined ? this.#auth.authorize(token, requested) : checked.result
      void Promise.resolve(authorized).then((result) => {
        if (settled || ws.readyState !== WebSocket.OPEN) {
          done()
          return
        }
        // Draining: no registrations (the client reconnects, to this relay once it is back).
        if (this.#closing) {
          refuse(CloseCode.GoingAway, 'relay shutting down')
          return
        }
        if (!result.ok) {
          if (result.unavailable) {
            this.#logger.warn('tunnel registration deferred: the auth provider is unavailable')
            refuse(CloseCode.TryAgainLater, `${result.message}: try again later`)
            return
          }
          this.#logger.info('tunnel refused', { reason: result.message })
          refuse(CloseCode.Refused, result.message)
          return
        }
        // Checked again here: registrations admitted at their upgrade together (up to 128
        // wait at once) must not take more places than there are.
        if (
          !this.#tunnels.has(result.subdomain) &&
          this.#tunnels.size >= this.#config.max_tunnels
        ) {
          this.#logger.info('tunnel refused', { reason: 'max_tunnels reached' })
          refuse(CloseCode.TryAgainLater, 'the relay holds max_tunnels tunnels: try again later')
          return
        }
        const taken = this.#takenFrom(result.subdomain, token)
        if (taken !== undefined) {
          this.#logger.info('tunnel refused', { reason: taken })
          refuse(CloseCode.Refused, taken)
          return
        }
        done()
        this.#attach(ws, result.subdomain, digest(token))
      })
    }
    ws.once('message', onMessage)
  }

  #attach(ws: WebSocket, subdomain: string, owner: Buffer): void {
    const config = this.#config
    const previous = this.#tunnels.get(subdomain)
    if (previous) {
      this.#tunnels.delete(subdomain)
      previous.mux.close(
        CloseCode.Evicted,
        'evicted: another client registered with the same tunnel',
      )
    }
    const tunnel: Tunnel = {
      subdomain,
      owner,
      tokens: config.requests_per_second * 2,
      refilled: performance.now(),
      mux: new Mux(ws, {
        ...DEFAULT_MUX,
        // What the relay may hold unsent for a tunnel is what flow control lets honest traffic
        // leave there (max_streams windows) plus 16 MiB (the Mux's default from maxStreams): a
        // flat 16 MB cut a tenant that was reading as 'peer not reading' when 100 clients
        // uploaded 1 MB each at once. A tunnel that grants windows without reading is still cut.
        maxStreams: config.max_streams,
        heartbeatMs: config.heartbeat_interval,
        timeoutMs: config.heartbeat_timeout,
        onClose: (code, reason) => {
          if (this.#tunnels.get(subdomain) === tunnel) {
            this.#tunnels.delete(subdomain)
            this.#logger.info('tunnel closed', { subdomain, code, reason })
          }
        },
      }),
    }
    this.#tunnels.set(subdomain, tunnel)
    const url = `${config.public_scheme}://${subdomain}.${config.domain}`
    ws.send(
      encodeJson(FrameType.Registered, 0, {
        version: PROTOCOL_VERSION,
        subdomain,
        url,
        window: DEFAULT_MUX.window,
        maxFrame: DEFAULT_MUX.maxFrame,
      }),
    )
    this.#logger.info('tunnel registered', { subdomain })
  }

  /** Token bucket: `requests_per_second`, bursts of twice that. */
  #admit(tunnel: Tunnel): boolean {
    const now = performance.now()
    const rate = this.#config.requests_per_second
    tunnel.tokens = Math.min(rate * 2, tunnel.tokens + ((now - tunnel.refilled) / 1000) * rate)
    tunnel.refilled = now
    if (tunnel.tokens < 1) return false
    tunnel.tokens -= 1
    return true
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#answers.opened(req, res)
    const started = performance.now()
    const subdomain = this.#subdomainOf(req.headers.host)
    let bytesOut = 0
    const open = this.#open.add(res)
    res.once('close', () => {
      open.remove()
      if (this.#open.size === 0) this.#whenDrained?.()
      const ms = Math.round(performance.now() - started)
      const path = (req.url ?? '/').split('?')[0]
      // Closed before an answer started: nginx's 499 (the client went away), not the 200 Node
      // keeps as a response's status until one is written.
      const status = res.headersSent ? res.statusCode : 499
      this.#accessLog(
        `${new Date().toISOString()}  ${subdomain ?? '-'}  ${req.method} ${path}  → ${status}  ${bytesOut}b  ${ms}ms`,
      )
    })
    const count = (bytes: number) => {
      bytesOut += bytes
    }
    if (this.#closing) {
      // A request on a connection kept alive from before: the next one goes to another relay.
      keepNoConnection(res)
      res.setHeader('retry-after', '1')
      plain(req, res, 503, 'relay shutting down', count)
      return
    }
    if (subdomain === undefined) {
      this.#own(req, res, count)
      return
    }
    if (!(req.url ?? '').startsWith('/')) {
      // Absolute-form (`GET http://host/x`) and asterisk-form (`OPTIONS *`) targets: the
      // tunnel carries origin-form paths only (its client refused them, a 502 blaming the
      // tunnel); a 400 here says whose the mistake is, as Portico answers them itself.
      res.setHeader('connection', 'close')
      plain(req, res, 400, 'request target must be a path (origin-form)', count)
      return
    }
    const tunnel = this.#tunnels.get(subdomain)
    if (tunnel === undefined) {
      plain(req, res, 404, 'tunnel not found', count)
      return
    }
    if (!this.#admit(tunnel)) {
      res.setHeader('retry-after', '1')
      plain(req, res, 429, 'too many requests for this tunnel', count)
      return
    }
    if (tunnel.mux.streams >= this.#config.max_streams) {
      res.setHeader('retry-after', '1')
      plain(req, res, 503, 'tunnel overloaded', count)
      return
    }
    const declared = Number(req.headers['content-length'])
    if (declared > this.#config.max_request_body_size) {
      // Read and dropped (bounded), so the client reads the 413 instead of a reset.
      if (declared > this.#config.max_request_body_size + DISCARD_BYTES) {
        res.setHeader('connection', 'close')
      }
      plain(req, res, 413, 'request body too large', count)
      return
    }
    this.#forward(tunnel, req, res, count)
  }

  #own(req: IncomingMessage, res: ServerResponse, count: (n: number) => void): void {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      const body = JSON.stringify({ status: 'ok', tunnels: this.#tunnels.size })
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      count(body.length)
      res.end(body)
      return
    }
    plain(req, res, 404, 'not found', count)
  }

  #forward(
    tunnel: Tunnel,
    req: IncomingMessage,
    res: ServerResponse,
    count: (n: number) => void,
  ): void {
    const config = this.#config
    const remote = publicAddressOf(req)
    // The scheme and host the public client used are the relay's to say (Portico keeps what
    // its relay sends): a client's own X-Forwarded-Proto/-Host are dropped, not joined to them.
    const forwarded = ['x-forwarded-proto', config.public_scheme]
    if (req.headers.host !== undefined) forwarded.push('x-forwarded-host', req.headers.host)
    if (req.headers['x-forwarded-for'] === undefined && remote !== undefined) {
      forwarded.push('x-forwarded-for', remote)
    }
    // A body without a length (sent chunked) is said so: `Transfer-Encoding` is hop-by-hop and
    // dropped with the rest, and the tunnel client frames the body by it (client.ts, `framed`).
    const framing =
      req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined
        ? ['transfer-encoding', 'chunked']
        : []
    const headers = [...withoutForwardedHost(endToEnd(req.rawHeaders)), ...framing, ...forwarded]
    // More than a head frame carries: the tunnel client would drop the stream, and the 502
    // would blame the tunnel for the client's request.
    if (headers.length > 2 * MAX_HEADER_FIELDS) {
      plain(req, res, 431, `too many header fields (at most ${MAX_HEADER_FIELDS})`, count)
      return
    }
    const stream = tunnel.mux.open({
      method: req.method,
      path: req.url,
      headers,
      ...(remote === undefined ? {} : { remote }),
    })
    let timedOut = false
    // `response_timeout` is the tunnel's time to start answering, counted once the request is
    // all sent, as nginx's proxy_read_timeout: a client uploading slowly is bounded by the
    // relay's own request timeout, not cut with a 504 while it still sends.
    let timer: NodeJS.Timeout | undefined
    const giveUp = () => {
      timedOut = true
      stream.reset('no answer in time')
    }
    const awaitAnswer = () => {
      if (res.headersSent || stream.closed) return
      timer = setTimeout(giveUp, config.response_timeout)
      timer.unref()
    }
    let sent = 0
    // The head waits for the first body bytes (or the end), as Node would send it then anyway,
    // and `response_timeout` runs until it goes: a tunnel that breaks off or falls silent
    // before them still gets its client a 502 or 504, not a cut or a wait without end. An
    // event stream's head goes at once: its first event can come minutes later (an MCP GET
    // stream waits for a notification) and its client waits for the head.
    let pendingHead: { status: number; headers: string[] } | undefined
    let events = false
    /** The body's length the head declared, when it has a body to send. */
    let expected: number | undefined
    /** The answer may carry no body (a HEAD's, a 204, a 304). */
    let bodyless = false
    const writeHead = (): boolean => {
      if (pendingHead === undefined) return res.headersSent
      const { status, headers } = pendingHead
      pendingHead = undefined
      try {
        // A tenant's client may send hop-by-hop headers (`Connection`, what it names,
        // `Transfer-Encoding` beside `Content-Length`): never passed on (RFC 9110 §7.6.1).
        res.writeHead(status, hostOnlyCookies(endToEnd(headers)))
        clearTimeout(timer)
        return true
      } catch {
        stream.reset('bad response headers')
        return false
      }
    }
    stream.onHead = (head) => {
      const status = head.status
      if (
        typeof status !== 'number' ||
        !Number.isInteger(status) ||
        status < 200 ||
        status > 599 ||
        !isHeaderPairs(head.headers) ||
        pendingHead !== undefined ||
        res.headersSent
      ) {
        stream.reset('bad response head')
        return
      }
      const declared = declaredLength(head.headers)
      if (declared === null) {
        stream.reset('bad response head: Content-Length is not one length')
        return
      }
      // A HEAD (or 204, 304) answer's length is the body's it stands for: none comes with it.
      bodyless = req.method === 'HEAD' || status === 204 || status === 304
      if (!bodyless && declared !== undefined && declared > config.max_response_body_size) {
        stream.reset('response body too large')
        return
      }
      pendingHead = { status, headers: withOneLength(head.headers, declared) }
      events = isEventStream(head.headers)
      expected = bodyless ? undefined : declared
      if (events && writeHead()) res.flushHeaders()
    }
    // Once a body has started, a tunnel that sends nothing more for `response_timeout` is cut
    // off, as nginx's proxy_read_timeout does; not an event stream, which may rightly wait
    // minutes for its next event. Counted from the last credit the client's reading gave the
    // tunnel: while bytes wait for the client, the tunnel is silent because the relay holds
    // its credit back, and a client that takes nothing is send_timeout's to judge (a download
    // paused for longer than response_timeout was cut off).
    let idle: NodeJS.Timeout | undefined
    const silentTunnel = () => {
      if (res.writableLength > 0) idle?.refresh()
      else stream.reset('no data in time')
    }
    const noteProgress = () => {
      if (events) return
      if (idle !== undefined) {
        idle.refresh()
        return
      }
      idle = setTimeout(silentTunnel, config.response_timeout)
      idle.unref()
    }
    stream.receive({
      data: (chunk) => {
        // Node sends nothing for an empty write, not even the head: the head stays pending.
        if (chunk.length === 0) return
        if (!writeHead()) {
          if (!res.headersSent) stream.reset('data before the response head')
          return
        }
        sent += chunk.length
        if (sent > config.max_response_body_size) {
          stream.reset('response body too large')
          return
        }
        // Past its Content-Length (or any body for a HEAD, 204, 304): the bytes would be read
        // as the next response on the client's keep-alive connection, another tenant's
        // perhaps. The stream is reset and the connection closed, as for one cut short.
        if ((expected !== undefined && sent > expected) || bodyless) {
          stream.reset('response longer than its head said')
          return
        }
        count(chunk.length)
        res.write(chunk, () => {
          stream.consumed(chunk.length)
          noteProgress()
        })
        noteProgress()
      },
      end: () => {
        clearTimeout(timer)
        clearTimeout(idle)
        // Fewer bytes than the head declared is an answer cut off: said by closing, as a proxy
        // does, not ended (the client waited for the rest until the keep-alive timeout).
        if (expected !== undefined && sent < expected) {
          if (res.headersSent) res.destroy()
          else plain(req, res, 502, 'tunnel response cut off', count)
          return
        }
        if (writeHead()) res.end()
        else if (!res.headersSent) plain(req, res, 502, 'tunnel sent no response', count)
      },
      reset: (reason) => {
        clearTimeout(timer)
        clearTimeout(idle)
        // An answer already complete (the 413 of a body too large) is left to reach the client.
        if (res.writableEnded) return
        if (res.headersSent) {
          res.destroy()
          return
        }
        if (timedOut) plain(req, res, 504, 'tunnel timeout', count)
        else if (reason === 'response body too large') {
          plain(req, res, 502, 'tunnel response body too large', count)
        } else plain(req, res, 502, 'tunnel dropped request', count)
      },
    })
    // The public client went away: the stream is cancelled at Portico.
    res.once('close', () => {
      clearTimeout(timer)
      clearTimeout(idle)
      if (!stream.closed) stream.reset('client disconnected')
    })
    this.#upload(req, res, stream, count, { sent: awaitAnswer, stalled: giveUp })
  }

  /**
   * The request body into the stream, bounded by `max_request_body_size`, paused while the
   * stream has no credit. Past the bound the client gets 413 and the rest of its body is read
   * and dropped (up to DISCARD_BYTES more, then the connection is cut): closing at once would
   * make the client's kernel reset the connection before it read the 413. `sent` is called
   * once the whole body went into the stream; `stalled` when the tunnel took none of it for
   * `response_timeout` (it gave no credit: it is not reading, and would never answer).
   */
  #upload(
    req: IncomingMessage,
    res: ServerResponse,
    stream: TunnelStream,
    count: (n: number) => void,
    { sent, stalled }: { sent: () => void; stalled: () => void },
  ): void {
    let received = 0
    let discarding = false
    let writing: Promise<void> = Promise.resolve()
    req.on('data', (chunk: Buffer) => {
      received += chunk.length
      if (discarding) {
        if (received > this.#config.max_request_body_size + DISCARD_BYTES) req.socket.destroy()
        return
      }
      if (received > this.#config.max_request_body_size) {
        discarding = true
        // Answered before the reset, so the stream's reset handler finds the answer sent.
        if (!res.headersSent) plain(req, res, 413, 'request body too large', count)
        stream.reset('request body too large')
        return
      }
      req.pause()
      const stall = setTimeout(stalled, this.#config.response_timeout)
      stall.unref()
      writing = stream.write(chunk).then((written) => {
        clearTimeout(stall)
        // A stream gone (answered early, reset, tunnel closed): the rest is dropped.
        if (!written) discarding = true
        req.resume()
      })
    })
    // 'end' may come while the last chunk still waits for credit: End goes after it.
    req.once('end', () => {
      void writing.then(() => {
        if (discarding) return
        stream.end()
        sent()
      })
    })
    req.once('error', () => stream.reset('client request failed'))
  }
}

/** Body bytes read and dropped after a 413 before the connection is cut instead. */
const DISCARD_BYTES = 8 * 1024 * 1024

/** Loopback: the relay's own machine (its TLS terminator). */
export function isLoopback(address: string): boolean {
  return /^(127\.|::1$|::ffff:127\.)/.test(address)
}

/**
 * The public client's address: the socket's, unless the socket is loopback (the TLS
 * terminator in front of the relay on the same machine), then the last hop of the
 * X-Forwarded-For that terminator set. Only a local process can connect over loopback, so
 * only the local proxy's word is taken.
 */
function publicAddressOf(req: IncomingMessage): string | undefined {
  const socket = req.socket.remoteAddress
  if (socket === undefined || !isLoopback(socket)) return socket
  const header = req.headers['x-forwarded-for']
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',')
  const last = hops[hops.length - 1]?.trim()
  return last ? last : socket
}

/**
 * The Content-Length of raw header pairs: undefined when none is declared, null when the
 * declaration is no one length (values that differ, as in `5` and `50`, or are not decimal
 * digits, as `0x5`). RFC 9112 §6.3 makes such an answer unrecoverable for a proxy: a client
 * that read the other value would take the rest of the body for the next response on its
 * connection. Repeats of one value (`5, 5`) are one length.
 */
function declaredLength(headers: readonly string[]): number | undefined | null {
  let length: number | undefined
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if ((headers[i] as string).toLowerCase() !== 'content-length') continue
    for (const part of (headers[i + 1] as string).split(',')) {
      const text = part.trim()
      if (!/^\d{1,15}$/.test(text)) return null
      const value = Number(text)
      if (length !== undefined && value !== length) return null
      length = value
    }
  }
  return length
}

/** Header pairs with their Content-Length (however many times declared) as one `length`. */
function withOneLength(headers: readonly string[], length: number | undefined): string[] {
  if (length === undefined) return [...headers]
  const out: string[] = []
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if ((headers[i] as string).toLowerCase() === 'content-length') continue
    out.push(headers[i] as string, headers[i + 1] as string)
  }
  out.push('content-length', String(length))
  return out
}

/** The connection closes after this answer (a relay shutting down keeps none). */
function keepNoConnection(res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('connection', 'close')
  res.shouldKeepAlive = false
}

function plain(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  message: string,
  count: (n: number) => void,
): void {
  if (res.headersSent || res.writableEnded) {
    res.destroy()
    return
  }
  const body = `${message}\n`
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
  })
  count(body.length)
  res.end(body)
  if (!req.complete && !req.readableFlowing) req.resume()
}

/**
 * Forwarding headers a public client may not write: the relay sets `X-Forwarded-Proto` and
 * `X-Forwarded-Host` itself, and vouches for nothing else. Portico trusts what comes through a
 * tunnel as its relay's word (headers.ts `trustedPeer`), so a client's `X-Real-IP: 192.0.2.77`
 * or `X-Forwarded-Prefix: /admin` reached the upstream as if the relay had said it.
 */
const CLIENT_MAY_NOT_SAY = new Set([
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-real-ip',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-forwarded-ssl',
  'x-forwarded-scheme',
  'forwarded',
])

/** Raw header pairs without the forwarding headers a client may not say (`CLIENT_MAY_NOT_SAY`). */
function withoutForwardedHost(raw: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    if (CLIENT_MAY_NOT_SAY.has((raw[i] as string).toLowerCase())) continue
    out.push(raw[i] as string, raw[i + 1] as string)
  }
  return out
}

/**
 * A registration the relay cannot take now (full, draining, its auth provider down): 503,
 * with when to try again when the relay knows.
 */
function refuseUnavailable(socket: Socket, retryAfterSeconds?: number): void {
  const retry = retryAfterSeconds === undefined ? '' : `retry-after: ${retryAfterSeconds}\r\n`
  refuseUpgrade(
    socket,
    `HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n${retry}content-length: 0\r\n\r\n`,
  )
}
