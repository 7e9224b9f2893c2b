/**
 * A reusable byte buffer that texts are appended to as UTF-8: the body of a batch POST built
 * without one big string. Why: joining a batch's pieces into one string and handing it to
 * undici (which calls `Buffer.from(string)`) cost about 12 µs per exported span on Node 20
 * (the join flattens every piece, and a large one-off Buffer per batch is an external
 * allocation that drives GC); appending each piece into a buffer that lives as long as its
 * poster costs one UTF-8 write per piece.
 *
 * The bytes returned by `bytes()` are a view of the shared buffer: valid until the next
 * `reset()` (a batch poster copies its open batch into the batch's body before resetting).
 */
/** A buffer grown past this for one large body is not kept for the next. */
const MAX_KEPT_BYTES = 4 * 1024 * 1024

export class BodyWriter {
  readonly #initial: number
  #buffer: Buffer
  #length = 0

  constructor(initialBytes = 64 * 1024) {
    this.#initial = initialBytes
    this.#buffer = Buffer.allocUnsafeSlow(initialBytes)
  }

  /** Forgets what was written (the buffer is kept for the next body, unless one was huge). */
  reset(): void {
    this.#length = 0
    if (this.#buffer.length > MAX_KEPT_BYTES) this.#buffer = Buffer.allocUnsafeSlow(this.#initial)
  }

  /** Appends `text` as UTF-8. */
  text(text: string): void {
    // Three bytes per UTF-16 unit is the most UTF-8 can need (a surrogate pair takes 4 for 2).
    const room = this.#buffer.length - this.#length
    if (room < text.length * 3) this.#grow(Buffer.byteLength(text))
    this.#length += this.#buffer.write(text, this.#length, 'utf8')
  }

  /** Appends bytes as they are. */
  append(bytes: Uint8Array): void {
    if (this.#buffer.length - this.#length < bytes.length) this.#grow(bytes.length)
    this.#buffer.set(bytes, this.#length)
    this.#length += bytes.length
  }

  /**
   * Hands over what was written, in a buffer of its own (transferable to another thread
   * without a copy), and starts an empty one for what comes next.
   */
  detach(): Uint8Array {
    const written = new Uint8Array(this.#buffer.buffer, this.#buffer.byteOffset, this.#length)
    // The first size again: one large body does not make every later one that large.
    this.#buffer = Buffer.allocUnsafeSlow(this.#initial)
    this.#length = 0
    return written
  }

  /** What was written since the last reset (a view, not a copy). */
  bytes(): Buffer {
    return this.#buffer.subarray(0, this.#length)
  }

  get length(): number {
    return this.#length
  }

  #grow(needed: number): void {
    this.#buffer = withRoom(this.#buffer, this.#length, needed)
  }
}

/**
 * `buffer` if `needed` more bytes fit after its first `used`, else a buffer at least twice as
 * large holding those bytes (the growth rule of every append-only writer here).
 */
export function withRoom(buffer: Buffer, used: number, needed: number): Buffer {
  if (buffer.length - used >= needed) return buffer
  let size = buffer.length * 2
  while (size - used < needed) size *= 2
  const bigger = Buffer.allocUnsafeSlow(size)
  buffer.copy(bigger, 0, 0, used)
  return bigger
}
