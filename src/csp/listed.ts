/**
 * What apps declared on their `resources/list` entries, by widget URI. Hosts read a widget's CSP
 * from the `resources/read` content item first and fall back to the listing; when Portico creates
 * the item's CSP, it starts from the listing's declaration so that fallback is not lost. Bounded:
 * the oldest URI is forgotten first.
 */
import type { DirectiveLists } from './policy.ts'

export class ListedDeclarations {
  readonly #byUri = new Map<string, DirectiveLists>()
  readonly #max: number

  constructor(max = 1024) {
    this.#max = max
  }

  remember(uri: string, declared: DirectiveLists): void {
    this.#byUri.delete(uri)
    this.#byUri.set(uri, declared)
    if (this.#byUri.size > this.#max) {
      const oldest = this.#byUri.keys().next()
      if (!oldest.done) this.#byUri.delete(oldest.value)
    }
  }

  get(uri: string): DirectiveLists | undefined {
    return this.#byUri.get(uri)
  }

  get size(): number {
    return this.#byUri.size
  }
}
