/**
 * What apps declared on their `resources/list` entries, by widget URI. Hosts read a widget's CSP
 * from the `resources/read` content item first and fall back to the listing; when Portico creates
 * the item's CSP, it starts from the listing's declaration so that fallback is not lost.
 *
 * Bounded in entries and in bytes (least recently used forgotten first): one table serves every
 * session, and an upstream listing widgets with megabytes of declared domains each, under URIs
 * that change, grew the process by about 7 MB per listing. A declaration larger than
 * `MAX_ENTRY_BYTES` is not kept at all (its widget's read is then rewritten from what the read
 * itself declares).
 */
import { LRUCache } from 'lru-cache'
import type { DirectiveLists } from './policy.ts'

const MAX_BYTES = 4 * 1024 * 1024
const MAX_ENTRY_BYTES = 64 * 1024
/** What one string costs beyond its characters (its header and the array slot). */
const PER_STRING = 32

export class ListedDeclarations {
  readonly #byUri: LRUCache<string, DirectiveLists>

  constructor(max = 4096, maxBytes = MAX_BYTES) {
    this.#byUri = new LRUCache({
      max,
      maxSize: maxBytes,
      maxEntrySize: Math.min(MAX_ENTRY_BYTES, maxBytes),
      sizeCalculation: bytesOf,
    })
  }

  remember(uri: string, declared: DirectiveLists): void {
    // Set again even when too large: an older, smaller declaration must not stay in its place.
    this.#byUri.delete(uri)
    this.#byUri.set(uri, declared)
  }

  /** A listing without a declaration for `uri` now: the last one no longer applies. */
  forget(uri: string): void {
    this.#byUri.delete(uri)
  }

  get(uri: string): DirectiveLists | undefined {
    return this.#byUri.get(uri)
  }

  get size(): number {
    return this.#byUri.size
  }
}

function bytesOf(declared: DirectiveLists, uri: string): number {
  let bytes = uri.length * 2 + PER_STRING
  for (const list of Object.values(declared)) {
    for (const domain of list) bytes += domain.length * 2 + PER_STRING
  }
  return bytes
}
