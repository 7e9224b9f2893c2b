/**
 * Counts read from their sources when scraped, published as counters that never go back. A
 * hot reload replaces some sources (a backend, a cache or retry policy whose settings changed)
 * and the new one counts from 0: read as it is, `portico_backend_restarts_total` went from 2 to
 * 0 in the same process, which Prometheus takes for a restart of the process. A reading below
 * the last one of its series adds the last one to the series' base, as Prometheus's `rate`
 * reads a reset. Every series is also read just before and just after a reload or an admin
 * change swaps sources (`PorticoMetrics.readCounts`, observe/status.ts `swapping`), so a new
 * source's 0 is read as such even when the next scrape would find it counted past the old one. Bounded: past `maxSeries`, the series least recently
 * read are forgotten.
 */
import { BoundedMap } from '../util/bounded-map.ts'

interface Series {
  last: number
  base: number
}

export class Readings {
  readonly #series: BoundedMap<string, Series>

  constructor(maxSeries: number) {
    this.#series = new BoundedMap(maxSeries)
  }

  /** What to publish for the series `key` whose source now reads `reading`. */
  published(key: string, reading: number): number {
    const series = this.#series.get(key)
    if (series === undefined) {
      this.#series.set(key, { last: reading, base: 0 })
      return reading
    }
    if (reading < series.last) series.base += series.last
    series.last = reading
    this.#series.touch(key)
    return series.base + reading
  }
}
