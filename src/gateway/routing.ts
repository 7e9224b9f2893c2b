/**
 * Traffic routing between backends (mcp-proxy's `failover_for`, `canary_of`, `mirror_of`):
 * - a canary takes its share of its primary's calls by smooth weighted round robin over the
 *   configured weights, so the split is exact over every cycle of Σweights calls (not random,
 *   and not counted against a fixed 100);
 * - failover backends serve a primary's calls, lowest `priority` first, when the primary (or
 *   the canary chosen) fails upstream or is ejected / its circuit open; a call that may have
 *   run is moved on only when it may be repeated (see dispatch.ts);
 * - a mirror gets a fire-and-forget copy of `mirror_percent` % of its primary's calls
 *   (evenly spread), bounded in flight, on its own signal: it never delays, fails or
 *   cancels the client's call, and its answers are dropped.
 * Failover, canary and mirror backends serve their primary's names: they are hidden from
 * lists and cannot be called under their own prefix.
 */
import type { Logger } from '../observe/logger.ts'
import type { Backend } from './backends/backend.ts'

/** Mirror copies in flight per mirror backend; more are dropped (and counted). */
const MAX_MIRRORED = 64

export class Routing {
  readonly #hidden = new Set<string>()
  readonly #failovers = new Map<string, Backend[]>()
  readonly #canaries = new Map<string, WeightedPick>()
  readonly #mirrors = new Map<string, Mirror[]>()
  /** `[backend]` for backends routed to alone (no allocation per call on the common path). */
  readonly #alone = new WeakMap<Backend, Backend[]>()

  constructor(backends: readonly Backend[]) {
    const byName = new Map(backends.map((b) => [b.name, b]))
    for (const backend of backends) {
      const { failover_for, canary_of, mirror_of } = backend.config
      const primary = failover_for ?? canary_of ?? mirror_of
      if (primary === undefined || !byName.has(primary)) continue
      this.#hidden.add(backend.name)
      if (failover_for !== undefined) push(this.#failovers, failover_for, backend)
      if (mirror_of !== undefined) {
        push(this.#mirrors, mirror_of, new Mirror(backend, backend.config.mirror_percent))
      }
    }
    for (const list of this.#failovers.values()) {
      list.sort((a, b) => a.config.priority - b.config.priority)
    }
    for (const primary of backends) {
      const canaries = backends.filter((b) => b.config.canary_of === primary.name)
      if (canaries.length > 0)
        this.#canaries.set(primary.name, new WeightedPick([primary, ...canaries]))
    }
  }

  /** Backends that serve another's names (failover, canary, mirror). */
  hidden(name: string): boolean {
    return this.#hidden.has(name)
  }

  /** The failover group of a backend: the backend and its failovers (ejection quota). */
  groupOf(
    name: string,
    config: { failover_for?: string | undefined; canary_of?: string | undefined },
  ): string {
    return config.failover_for ?? config.canary_of ?? name
  }

  /**
   * The backends to try, in order, for a call routed to `primary`: the canary pick (or the
   * primary), then its failovers by priority. Backends refusing at once (ejected, circuit
   * open) are skipped while another is left.
   */
  candidates(primary: Backend): Backend[] {
    const chosen = this.#canaries.get(primary.name)?.next() ?? primary
    const failovers = this.#failovers.get(primary.name)
    if (failovers === undefined && chosen === primary) {
      let alone = this.#alone.get(primary)
      if (alone === undefined) {
        alone = [primary]
        this.#alone.set(primary, alone)
      }
      return alone
    }
    const order = [chosen, ...(chosen === primary ? [] : [primary]), ...(failovers ?? [])]
    const ready = order.filter((backend) => !backend.protection.unavailable)
    return ready.length > 0 ? ready : order.slice(0, 1)
  }

  /** The mirrors that get a copy of this call. */
  mirrorsOf(primary: Backend): Mirror[] | undefined {
    return this.#mirrors.get(primary.name)
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}

/**
 * Smooth weighted round robin (nginx's): each pick adds every weight to its counter, takes
 * the largest and subtracts the total from it. Over Σweights picks each backend is chosen
 * exactly `weight` times, interleaved rather than in runs.
 */
export class WeightedPick {
  readonly #backends: readonly Backend[]
  readonly #weights: number[]
  readonly #current: number[]
  readonly #total: number

  constructor(backends: readonly Backend[]) {
    this.#backends = backends
    this.#weights = backends.map((b) => b.config.weight)
    this.#current = backends.map(() => 0)
    this.#total = this.#weights.reduce((sum, w) => sum + w, 0)
  }

  next(): Backend | undefined {
    if (this.#total <= 0) return undefined
    let best = 0
    for (let i = 0; i < this.#weights.length; i++) {
      this.#current[i] = (this.#current[i] as number) + (this.#weights[i] as number)
      if ((this.#current[i] as number) > (this.#current[best] as number)) best = i
    }
    this.#current[best] = (this.#current[best] as number) - this.#total
    return this.#backends[best]
  }
}

/** A mirror and its sampling: exactly `percent` of calls, evenly spread, bounded in flight. */
export class Mirror {
  readonly backend: Backend
  readonly #percent: number
  #credit = 0
  #inFlight = 0
  dropped = 0

  constructor(backend: Backend, percent: number) {
    this.backend = backend
    this.#percent = percent
  }

  /** Whether this call is copied (and a place in flight is free); takes the place. */
  take(): boolean {
    this.#credit += this.#percent
    if (this.#credit < 100) return false
    this.#credit -= 100
    if (this.#inFlight >= MAX_MIRRORED) {
      this.dropped++
      return false
    }
    this.#inFlight++
    return true
  }

  done(): void {
    this.#inFlight--
  }
}

/** Logs a mirror copy's failure at debug: it never reaches the client. */
export function mirrorFailed(logger: Logger, mirror: string, error: unknown): void {
  logger.debug(`mirror ${mirror}: copy failed`, {
    backend: mirror,
    error: error instanceof Error ? error.message : String(error),
  })
}
