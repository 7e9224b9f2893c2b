/**
 * WebSocket backends (mcp-proxy's `transport = "websocket"`): JSON-RPC messages as text frames
 * on one socket per client session (like the HTTP backends' upstream sessions), both ways, with
 * the `mcp` subprotocol the MCP SDKs' WebSocket transports use. The configured headers and
 * `bearer_token` go with the upgrade request. A frame larger than the message bound closes the
 * socket (ws's `maxPayload`); binary frames are not JSON-RPC and are ignored; a closed socket
 * fails the calls in flight, and the session's next call opens a new one.
 */
import { createRequire } from 'node:module'
import type { WebSocket as Socket } from 'ws'
import { PorticoError } from '../../errors.ts'
import { encodeValues, type JsonRpcMessage, parseExact } from '../../jsonrpc/message.ts'
import { Connection, type ServerInfo } from './connection.ts'
import { connectionHeaders, type HttpConnectionOptions, labelOfBackend } from './http.ts'

// ws is loaded when a WebSocket backend first connects: most gateways have none.
const require = createRequire(import.meta.url)

const OPEN = 1

export class WebSocketConnection extends Connection {
  readonly #options: HttpConnectionOptions
  readonly #label: string
  #socket: Socket | undefined

  constructor(options: HttpConnectionOptions) {
    super(options.config.name)
    this.#options = options
    this.#label = labelOfBackend(options.config)
  }

  /**
   * Ended once its socket is closing, not only once closed: a close can take ws's 30 s close
   * timeout, and the session's next call opens a new socket instead of failing meanwhile.
   */
  override get closed(): boolean {
    const socket = this.#socket
    return super.closed || (socket !== undefined && socket.readyState > OPEN)
  }

  async open(): Promise<ServerInfo> {
    const { WebSocket } = require('ws') as typeof import('ws')
    const { config, startupTimeoutMs, maxMessageBytes } = this.#options
    const socket = new WebSocket(config.url ?? '', ['mcp'], {
      headers: connectionHeaders(this.#options),
      handshakeTimeout: startupTimeoutMs,
      maxPayload: maxMessageBytes,
      followRedirects: false,
    })
    this.#socket = socket
    // ws emits 'error' more than once on some paths (a refused upgrade, then the terminate);
    // one without a listener would crash the process. The close is what fails calls.
    socket.on('error', () => {})
    await new Promise<void>((resolve, reject) => {
      const refused = (message: string) => {
        socket.terminate()
        reject(new PorticoError('backend_failed', { message, data: { backend: this.backend } }))
      }
      socket.once('open', () => resolve())
      socket.once('unexpected-response', (_request, response) =>
        refused(
          `Backend ${this.#label} answered HTTP ${response.statusCode} to the WebSocket upgrade`,
        ),
      )
      socket.once('error', (error) =>
        refused(`Backend ${this.#label} could not be reached: ${error.message}`),
      )
    })
    socket.on('message', (data, isBinary) => {
      if (isBinary) return
      // A batch (an array) answers several requests at once, as on stdio.
      const value = parseExact(String(data))
      if (Array.isArray(value)) for (const item of value) this.receive(item)
      else this.receive(value)
    })
    socket.once('close', (code) =>
      this.fail(
        new PorticoError('backend_failed', {
          message: `Backend ${this.#label} closed its WebSocket (${code})`,
          data: { backend: this.backend },
        }),
      ),
    )
    return this.initialize(this.#options.initParams, startupTimeoutMs)
  }

  /**
   * Thrown (not rejected) when nothing was written, so the call counts as not sent (safe to
   * retry): a socket that is closing or closed, or one whose backend stopped reading.
   */
  protected transmit(message: JsonRpcMessage): Promise<void> {
    const socket = this.#socket
    if (socket === undefined || socket.readyState !== OPEN) {
      throw new PorticoError('backend_failed', {
        message: `Backend ${this.#label} is not connected`,
        data: { backend: this.backend },
      })
    }
    // Bounded like stdio's pipe: a backend that stops reading must not make ws buffer without end.
    if (socket.bufferedAmount > this.#options.maxMessageBytes) {
      throw new PorticoError('backend_failed', {
        message: `Backend ${this.#label} is not reading its WebSocket`,
        data: { backend: this.backend },
      })
    }
    return new Promise((resolve, reject) => {
      socket.send(encodeValues(message), (error) =>
        error ? reject(new PorticoError('backend_failed', { message: error.message })) : resolve(),
      )
    })
  }

  async close(): Promise<void> {
    this.fail(new PorticoError('backend_failed', { message: `Backend ${this.backend} closed` }))
    this.#socket?.close(1000)
  }
}
