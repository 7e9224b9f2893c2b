/**
 * Many streams over one WebSocket, after the handshake. Both ends use it: the relay opens a
 * stream per public request (`open`), the client answers each (`onOpen`). Each direction of a
 * stream is flow-controlled (flow.ts): a body is sent in frames of at most `maxFrame` bytes, each
 * paid for with credit the receiver granted once it handed the bytes on, so no end buffers more
 * than a window per stream. Heartbeats: each end pings every `heartbeatMs` and drops a
 * connection that sent nothing for `timeoutMs`.
 */
import type WebSocket from 'ws'
import { ReceiveWindow, SendWindow } from './flow.ts'
import {
  CloseCode,
  decodeFrame,
  encodeFrame,
  encodeJson,
  encodeWindow,
  type Frame,
  FrameType,
  type FrameTypeCode,
  payloadObject,
  windowIncrement,
} from './frames.ts'

export interface MuxOptions {
  /** Bytes a peer may send on a stream before it is granted more. */
  window: number
  /** Largest DATA payload sent. */
  maxFrame: number
  heartbeatMs: number
  timeoutMs: number
  /** Most streams open at once; more are reset at once (the client's side bound). */
  maxStreams: number
  /**
   * Bytes left unsent for the peer past which it is cut off as not reading. Default: what
   * flow control lets honest traffic leave unsent (every stream's window) plus 16 MiB.
   */
  maxBufferedBytes?: number
  /** A stream the peer opened (client side): the Open frame's head. */
  onOpen?: (stream: TunnelStream, head: Record<string, unknown>) => void
  onClose?: (code: number, reason: string) => void
}

/** A heartbeat's payload (a timestamp); a bigger ping is not a heartbeat, and is refused. */
const PING_BYTES = 8
/**
 * What this side may hold unsent for a peer beyond what flow control lets it send (every open
 * stream's window): frame headers, heads, window grants, resets. Past it the peer is cut off.
 */
const CONTROL_SLACK_BYTES = 16 * 1024 * 1024
/**
 * A ping is answered only while less than this waits unsent: a peer that pings without
 * reading gets no queue of pongs (a heartbeat needs one answer, and a peer that is sent data
 * hears from this side anyway).
 */
const PONG_BACKLOG_BYTES = 64 * 1024

export const DEFAULT_MUX: Omit<MuxOptions, 'onOpen' | 'onClose'> = {
  window: 256 * 1024,
  maxFrame: 32 * 1024,
  heartbeatMs: 15_000,
  timeoutMs: 45_000,
  maxStreams: 1024,
}

/** The Data/End/Reset side of one request-response exchange. */
export class TunnelStream {
  readonly id: number
  readonly #mux: Mux
  readonly #send: SendWindow
  readonly #receive: ReceiveWindow
  #localEnded = false
  #remoteEnded = false
  #reset: string | undefined
  #held: Buffer[] = []
  #onData: ((chunk: Buffer) => void) | undefined
  #onEnd: (() => void) | undefined
  #onReset: ((reason: string) => void) | undefined
  /** The response head (relay side) once the client sent it. */
  onHead: ((head: Record<string, unknown>) => void) | undefined

  constructor(mux: Mux, id: number, window: number) {
    this.id = id
    this.#mux = mux
    this.#send = new SendWindow(window)
    this.#receive = new ReceiveWindow(window)
  }

  get closed(): boolean {
    return this.#reset !== undefined || (this.#localEnded && this.#remoteEnded)
  }

  /**
   * Sets where received body bytes go. The consumer calls `consumed(n)` once it handed them
   * on (a write callback), which is what grants the sender more credit.
   */
  receive(handlers: {
    data: (chunk: Buffer) => void
    end: () => void
    reset: (reason: string) => void
  }): void {
    this.#onData = handlers.data
    this.#onEnd = handlers.end
    this.#onReset = handlers.reset
    for (const chunk of this.#held.splice(0)) handlers.data(chunk)
    if (this.#reset !== undefined) handlers.reset(this.#reset)
    else if (this.#remoteEnded) handlers.end()
  }

  consumed(bytes: number): void {
    if (this.closed) return
    const grant = this.#receive.consume(bytes)
    if (grant > 0) this.#mux.send(encodeWindow(this.id, grant))
  }

  sendHead(type: FrameTypeCode, head: unknown): void {
    if (!this.closed) this.#mux.send(encodeJson(type, this.id, head))
  }

  /** Sends body bytes, waiting for credit; false once the stream was reset or the tunnel closed. */
  async write(chunk: Uint8Array): Promise<boolean> {
    let offset = 0
    while (offset < chunk.byteLength) {
      const n = await this.#send.take(Math.min(this.#mux.maxFrame, chunk.byteLength - offset))
      if (n === 0 || this.#reset !== undefined) return false
      this.#mux.send(encodeFrame(FrameType.Data, this.id, chunk.subarray(offset, offset + n)))
      offset += n
    }
    return true
  }

  end(): void {
    if (this.#localEnded || this.#reset !== undefined) return
    this.#localEnded = true
    this.#send.close()
    this.#mux.send(encodeFrame(FrameType.End, this.id))
    this.#settle()
  }

  /** Abandons the stream at both ends (the peer gets a Reset). */
  reset(reason: string): void {
    if (this.#reset !== undefined) return
    if (!(this.#localEnded && this.#remoteEnded)) {
      this.#mux.send(encodeFrame(FrameType.Reset, this.id, Buffer.from(reason.slice(0, 200))))
    }
    this.#abandon(reason)
  }

  /** @internal frames from the peer */
  deliver(frame: Frame): void {
    switch (frame.type) {
      case FrameType.Data:
        if (this.#remoteEnded || !this.#receive.receive(frame.payload.length)) {
          this.reset('flow control: window exceeded')
          return
        }
        if (this.#onData) this.#onData(frame.payload)
        else this.#held.push(frame.payload)
        return
      case FrameType.End:
        if (this.#remoteEnded) return
        this.#remoteEnded = true
        this.#onEnd?.()
        this.#settle()
        return
      case FrameType.Reset:
        this.#abandon(frame.payload.toString('utf8') || 'reset by peer')
        return
      case FrameType.Window: {
        const increment = windowIncrement(frame)
        if (increment === undefined || !this.#send.grant(increment)) this.reset('bad window')
        return
      }
      case FrameType.Head: {
        const head = payloadObject(frame)
        if (head === undefined || this.onHead === undefined) this.reset('bad head')
        else this.onHead(head)
        return
      }
      default:
        this.reset('unexpected frame')
    }
  }

  /** @internal the tunnel closed or the peer reset: nothing more will come. */
  #abandon(reason: string): void {
    if (this.#reset !== undefined) return
    this.#reset = reason
    this.#send.close()
    this.#held = []
    this.#mux.forget(this.id)
    this.#onReset?.(reason)
  }

  /** @internal */
  abandon(reason: string): void {
    this.#abandon(reason)
  }

  #settle(): void {
    if (this.#localEnded && this.#remoteEnded) this.#mux.forget(this.id)
  }
}

export class Mux {
  readonly #ws: WebSocket
  readonly #options: MuxOptions
  readonly #streams = new Map<number, TunnelStream>()
  #nextId = 1
  #lastSeen = Date.now()
  readonly #heartbeat: NodeJS.Timeout
  #closed = false
  /** Why this side closed or cut the connection (the close event may only say 1006). */
  #why: string | undefined
  /** Most bytes honest traffic can leave unsent (see CONTROL_SLACK_BYTES). */
  readonly #maxBuffered: number

  constructor(ws: WebSocket, options: MuxOptions) {
    this.#ws = ws
    this.#options = options
    this.#maxBuffered =
      options.maxBufferedBytes ?? CONTROL_SLACK_BYTES + options.maxStreams * (options.window + 1024)
    ws.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary))
    ws.on('pong', () => {
      this.#lastSeen = Date.now()
    })
    ws.once('close', (code, reason) => this.#onClosed(code, reason.toString('utf8')))
    ws.on('error', (error) => {
      // 'close' follows; an error on a tunnel never reaches the process, its reason the log.
      this.#why ??= error.message
    })
    this.#heartbeat = setInterval(() => this.#beat(), options.heartbeatMs)
    this.#heartbeat.unref()
  }

  get maxFrame(): number {
    return this.#options.maxFrame
  }

  get streams(): number {
    return this.#streams.size
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Opens a stream towards the peer (relay side) with its request head. */
  open(head: unknown): TunnelStream {
    const id = this.#nextId
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1
    const stream = new TunnelStream(this, id, this.#options.window)
    this.#streams.set(id, stream)
    this.send(encodeJson(FrameType.Open, id, head))
    return stream
  }

  /** @internal */
  send(frame: Buffer): void {
    if (this.#closed || this.#ws.readyState !== this.#ws.OPEN) return
    // Flow control keeps an honest peer below this even on a slow link (its windows bound the
    // data); one that grants windows without reading what it is sent is cut off.
    if (this.#ws.bufferedAmount > this.#maxBuffered) {
      this.close(CloseCode.Protocol, 'peer not reading')
      return
    }
    this.#ws.send(frame, { binary: true })
  }

  /** @internal */
  forget(id: number): void {
    this.#streams.delete(id)
  }

  close(code: number = CloseCode.GoingAway, reason = 'going away'): void {
    this.#why ??= reason
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING) {
      this.#ws.close(code, reason)
    }
    // Nothing more goes out: the streams stop now, not when the peer answers the close (their
    // bodies would be read from the upstream, and dropped, until then).
    this.#abandonStreams('tunnel closing')
    // A peer that never completes the closing handshake is cut off.
    setTimeout(() => this.#ws.terminate(), 2000).unref()
  }

  /** Cuts the connection at once (no closing handshake), as a network failure would. */
  terminate(): void {
    this.#ws.terminate()
  }

  #beat(): void {
    if (Date.now() - this.#lastSeen > this.#options.timeoutMs) {
      // Said with its close code (4005), which a peer still there reads: cut without one, it
      // saw a bare 1006 and blamed the network. One that is gone is cut 2 s later (`close`).
      this.close(
        CloseCode.Timeout,
        `heartbeat: nothing heard for ${this.#options.timeoutMs / 1000} s`,
      )
      return
    }
    const payload = Buffer.allocUnsafe(8)
    payload.writeDoubleBE(Date.now(), 0)
    this.send(encodeFrame(FrameType.Ping, 0, payload))
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    this.#lastSeen = Date.now()
    const frame = isBinary ? decodeFrame(data) : undefined
    if (frame === undefined) {
      this.close(CloseCode.Protocol, 'malformed frame')
      return
    }
    if (frame.stream === 0) {
      if (frame.type === FrameType.Ping && frame.payload.length <= PING_BYTES) {
        if (this.#ws.bufferedAmount < PONG_BACKLOG_BYTES)
          this.send(encodeFrame(FrameType.Pong, 0, frame.payload))
      } else if (frame.type !== FrameType.Pong) this.close(CloseCode.Protocol, 'unexpected frame')
      return
    }
    const stream = this.#streams.get(frame.stream)
    if (stream) {
      stream.deliver(frame)
      return
    }
    if (frame.type === FrameType.Open) this.#onOpen(frame)
    // Frames for a stream already gone (reset crossing data in flight) are dropped.
  }

  #onOpen(frame: Frame): void {
    const head = payloadObject(frame)
    if (this.#options.onOpen === undefined || head === undefined) {
      this.close(CloseCode.Protocol, 'unexpected open')
      return
    }
    const stream = new TunnelStream(this, frame.stream, this.#options.window)
    if (this.#streams.size >= this.#options.maxStreams) {
      stream.reset('too many streams')
      return
    }
    this.#streams.set(frame.stream, stream)
    this.#options.onOpen(stream, head)
  }

  #onClosed(code: number, reason: string): void {
    this.#closed = true
    clearInterval(this.#heartbeat)
    this.#abandonStreams('tunnel closed')
    this.#options.onClose?.(code, this.#why ?? reason)
  }

  #abandonStreams(reason: string): void {
    for (const stream of [...this.#streams.values()]) stream.abandon(reason)
    this.#streams.clear()
  }
}
