/**
 * Per-stream flow control, one window each way. The receiver grants the sender credit in bytes;
 * the sender never sends more than it was granted, so what the receiver holds for a stream is
 * at most its window, and a stream whose reader is slow stops only itself: the others keep
 * their own credit on the shared WebSocket.
 */

/** The sender's side: bytes it may still send on a stream. */
export class SendWindow {
  #credit: number
  #closed = false
  readonly #waiters: Array<() => void> = []

  constructor(initial: number) {
    this.#credit = initial
  }

  get credit(): number {
    return this.#credit
  }

  /**
   * Takes up to `want` bytes of credit, waiting while there is none. Resolves 0 once the
   * window is closed (the stream ended or was reset): the caller stops sending.
   */
  async take(want: number): Promise<number> {
    while (this.#credit === 0 && !this.#closed) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
    if (this.#closed) return 0
    const n = Math.min(want, this.#credit)
    this.#credit -= n
    return n
  }

  /** Adds the receiver's grant; false when it would overflow (a protocol error). */
  grant(increment: number): boolean {
    if (increment <= 0 || this.#credit + increment > 0x7fffffff) return false
    this.#credit += increment
    this.#wake()
    return true
  }

  close(): void {
    this.#closed = true
    this.#wake()
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake()
  }
}

/** The receiver's side: bytes the sender may still send, and consumed bytes to grant back. */
export class ReceiveWindow {
  readonly size: number
  #available: number
  #consumed = 0
  readonly #threshold: number

  /** Grants go out once a quarter of the window was consumed (fewer, larger Window frames). */
  constructor(size: number, threshold = Math.max(1, Math.floor(size / 4))) {
    this.size = size
    this.#available = size
    this.#threshold = threshold
  }

  /** Bytes received and held; false when the sender overran its window (a protocol error). */
  receive(bytes: number): boolean {
    if (bytes > this.#available) return false
    this.#available -= bytes
    return true
  }

  /** Bytes handed on by the consumer; returns the increment to grant now (0: not yet). */
  consume(bytes: number): number {
    this.#consumed += bytes
    if (this.#consumed < this.#threshold) return 0
    const grant = this.#consumed
    this.#consumed = 0
    this.#available += grant
    return grant
  }

  /** What the sender may still send before a grant. */
  get available(): number {
    return this.#available
  }
}
