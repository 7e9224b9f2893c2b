/**
 * Items in progress (the server's answers being written), added and removed once each, in a
 * doubly linked list whose links are cleared on removal. Items in progress by key are
 * `OpenTable`'s.
 *
 * Why not a Set or Map: under per-request churn a long-lived Set rebuilds its hash table every
 * few dozen adds and deletes, and V8 links each table it gives up to the next one (for live
 * iterators) without clearing its entries. Once one of those tables sits in the old
 * generation (any full collection during traffic puts the current one there), the dead table
 * keeps the next table, and every request its entries name, alive through each young
 * collection, until the next full one: every request's objects were copied and promoted. A
 * transparent Portico under load went from ~0.23 MB to ~1.4 MB surviving each young collection
 * within some 10 s, with 4–7 ms pauses instead of 1.5 (bench/reports/2026-12-01-perf2.md,
 * step 35). A list entry holds only its item and neighbours, and forgets them all when removed.
 */
export class OpenList<T> {
  #head: OpenEntry<T> | undefined
  #tail: OpenEntry<T> | undefined
  #size = 0

  get size(): number {
    return this.#size
  }

  /** Adds `item` at the end; `remove()` the entry when the item is done. */
  add(item: T): OpenEntry<T> {
    const entry = new OpenEntry(this, item)
    const tail = this.#tail
    if (tail === undefined) this.#head = entry
    else {
      tail.next = entry
      entry.prev = tail
    }
    this.#tail = entry
    this.#size++
    return entry
  }

  /** The items in the order they were added, as a copy (the caller may remove entries meanwhile). */
  items(): T[] {
    const out: T[] = []
    for (let entry = this.#head; entry !== undefined; entry = entry.next) {
      out.push(entry.item as T)
    }
    return out
  }

  /** Unlinks `entry` if it is still in the list (removing twice is harmless). */
  unlink(entry: OpenEntry<T>): void {
    if (entry.list !== this) return
    const { prev, next } = entry
    if (prev === undefined) this.#head = next
    else prev.next = next
    if (next === undefined) this.#tail = prev
    else next.prev = prev
    entry.forget()
    this.#size--
  }
}

export class OpenEntry<T> {
  list: OpenList<T> | undefined
  item: T | undefined
  prev: OpenEntry<T> | undefined
  next: OpenEntry<T> | undefined

  constructor(list: OpenList<T>, item: T) {
    this.list = list
    this.item = item
  }

  remove(): void {
    this.list?.unlink(this)
  }

  /** Drops every reference, so a removed entry that outlives its item keeps nothing alive. */
  forget(): void {
    this.list = undefined
    this.item = undefined
    this.prev = undefined
    this.next = undefined
  }
}
