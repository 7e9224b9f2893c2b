/**
 * Items kept in the order they were added, the first in a field and the others in an array:
 * what a call's signal holds (its abort listeners) and what its lifetime holds (its cleanups).
 * Why a field: most hold one item, and an array grown by `push` from empty reserves 17 slots,
 * about 120 bytes, for a few of these per call (bench/reports/2026-12-01-perf2.md, step 21).
 */
export class Held<T> {
  #first: T | undefined
  #more: T[] | undefined

  protected hold(item: T): void {
    if (this.#first === undefined && this.#more === undefined) this.#first = item
    else if (this.#more === undefined) this.#more = [item]
    else this.#more.push(item)
  }

  /** Forgets the last time `item` was held, if it is still held. */
  protected letGo(item: T): void {
    const more = this.#more
    const index = more === undefined ? -1 : more.lastIndexOf(item)
    if (index !== -1) (more as T[]).splice(index, 1)
    else if (this.#first === item) this.#first = undefined
  }

  /** Hands every item held to `each`, in order, and forgets them all first. */
  protected drain(each: (item: T) => void): void {
    const first = this.#first
    const more = this.#more
    this.#first = undefined
    this.#more = undefined
    if (first !== undefined) each(first)
    if (more !== undefined) for (const item of more) each(item)
  }
}
