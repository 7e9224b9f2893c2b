/**
 * Two connected in-memory Duplex streams: what one end writes the other reads, with
 * backpressure (a write completes once the peer's reader has room). The tunnel client speaks
 * HTTP/1.1 over such a pair into Portico's own request handler (`server.emit('connection')`
 * accepts any Duplex), so every route, filter and middleware applies to tunnel traffic exactly
 * as to a local request, with no port and no loopback hop. Node 22 has `duplexPair`; Node 20
 * does not.
 */
import { Duplex } from 'node:stream'

export class MemorySocket extends Duplex {
  peer!: MemorySocket
  /** What `req.socket.remoteAddress` says on Portico's side: the public client's address. */
  remoteAddress: string | undefined
  remotePort: number | undefined
  #pending: (() => void) | undefined

  constructor() {
    super({ allowHalfOpen: true })
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    if (this.peer.destroyed) {
      callback()
      return
    }
    if (this.peer.push(chunk)) callback()
    else this.peer.#pending = callback
  }

  override _final(callback: () => void): void {
    this.peer.push(null)
    callback()
  }

  override _read(): void {
    const pending = this.#pending
    this.#pending = undefined
    pending?.()
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    const pending = this.#pending
    this.#pending = undefined
    pending?.()
    if (!this.peer.destroyed) this.peer.destroy()
    callback(error)
  }

  // The socket API Node's HTTP code may call; nothing to do in memory.
  setTimeout(_ms: number, callback?: () => void): this {
    if (callback) this.once('timeout', callback)
    return this
  }
  setNoDelay(): this {
    return this
  }
  setKeepAlive(): this {
    return this
  }
  ref(): this {
    return this
  }
  unref(): this {
    return this
  }
}

export function socketPair(): [MemorySocket, MemorySocket] {
  const a = new MemorySocket()
  const b = new MemorySocket()
  a.peer = b
  b.peer = a
  return [a, b]
}
