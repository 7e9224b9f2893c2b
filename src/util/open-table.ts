/**
 * Items in progress by key (requests awaiting their reply), for tables that see an add and a
 * delete per request for as long as the process runs, several entries at a time.
 *
 * Why not a Map: V8 links each hash table a Map gives up when it resizes to the table that
 * replaces it (for live iterators) and does not clear its entries; once one of those tables is
 * in the old generation, the chain keeps every later table, and every request their entries
 * name, alive through young collections until the next full one (see OpenList; perf2 log step
 * 37). Here the keys live in a null-prototype object, which V8 keeps as a dictionary: a
 * replaced dictionary links to nothing, so at most the entries of one resize outlive their
 * request, not all of them. Values are never undefined (undefined means absent).
 */
export class OpenTable<V> {
  #entries = Object.create(null) as Record<string, V>
  #size = 0

  get size(): number {
    return this.#size
  }

  get(key: string | number): V | undefined {
    return this.#entries[key]
  }

  has(key: string | number): boolean {
    return this.#entries[key] !== undefined
  }

  set(key: string | number, value: V): void {
    if (this.#entries[key] === undefined) this.#size++
    this.#entries[key] = value
  }

  /** Removes `key`; says whether it was there. */
  delete(key: string | number): boolean {
    if (this.#entries[key] === undefined) return false
    delete this.#entries[key]
    this.#size--
    return true
  }

  /** The values, in the order their keys were added (integer keys ascending), as a copy. */
  values(): V[] {
    return Object.values(this.#entries)
  }
}
