/**
 * A Map with a size bound: adding past it evicts the oldest entry (insertion order) and tells
 * `onEvict`, so a table fed by clients or backends can never grow without limit.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  readonly #max: number
  readonly #onEvict: ((key: K, value: V) => void) | undefined

  constructor(max: number, onEvict?: (key: K, value: V) => void) {
    super()
    this.#max = max
    this.#onEvict = onEvict
  }

  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= this.#max) {
      const oldest = this.keys().next()
      if (!oldest.done) {
        const evicted = this.get(oldest.value) as V
        this.delete(oldest.value)
        this.#onEvict?.(oldest.value, evicted)
      }
    }
    return super.set(key, value)
  }

  /**
   * Moves an entry to the newest end, so eviction takes the least recently used entry, not
   * the oldest one still in use (a table of live things, such as session owners).
   */
  touch(key: K): void {
    if (!this.has(key)) return
    const value = this.get(key) as V
    super.delete(key)
    super.set(key, value)
  }
}
