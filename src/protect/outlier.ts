/**
 * Outlier ejection (`[backends.outlier_detection]`): after `consecutive_errors` upstream
 * failures in a row a backend is ejected: its calls are refused at once (`circuit_open` with
 * `data.reason = "ejected"`), and in a failover group traffic moves to the next backend.
 * Unlike mcp-proxy, `interval_seconds` is honoured: a sweep every interval decays the
 * multiplier of healthy ones (an ejection ends when due, at the first call or sweep after it); ejection time
 * grows with each ejection (base × n, up to `max_ejection_seconds`); and at most
 * `max_ejection_percent` of a group (at least one backend) is ejected at a time.
 */
import type { OutlierConfig } from '../config/protect.ts'
import { PorticoError } from '../errors.ts'
import type { Clock } from '../util/clock.ts'
import type { Verdict } from './outcome.ts'
import { retryAfter } from './token-bucket.ts'

export type OutlierListener = (event: 'ejected' | 'returned' | 'spared', detail: string) => void

/** Backends whose ejections are counted together (a failover group, or one backend alone). */
export class OutlierGroup {
  readonly #clock: Clock
  readonly #members: OutlierDetector[] = []
  /** How many backends the group has (members without detection count too). */
  size = 0
  #timer: unknown
  #intervalMs = Number.POSITIVE_INFINITY

  constructor(clock: Clock) {
    this.#clock = clock
  }

  get clock(): Clock {
    return this.#clock
  }

  add(detector: OutlierDetector, intervalMs: number): void {
    this.#members.push(detector)
    this.#intervalMs = Math.min(this.#intervalMs, intervalMs)
  }

  remove(detector: OutlierDetector): void {
    const index = this.#members.indexOf(detector)
    if (index !== -1) this.#members.splice(index, 1)
    if (this.#members.length === 0) this.close()
  }

  /** Whether one more member may be ejected under `percent`. */
  mayEject(percent: number): boolean {
    const allowed = Math.max(1, Math.floor((this.size * percent) / 100))
    return this.#members.filter((m) => m.ejected).length < allowed
  }

  /** Keeps the sweep running while anything is ejected or still has a multiplier. */
  wake(): void {
    if (this.#timer !== undefined) return
    this.#timer = this.#clock.setTimeout(() => this.#sweep(), this.#intervalMs, true)
  }

  #sweep(): void {
    this.#timer = undefined
    const now = this.#clock.now()
    let active = false
    for (const member of this.#members) active = member.sweep(now) || active
    if (active) this.wake()
  }

  close(): void {
    this.#clock.clearTimeout(this.#timer)
    this.#timer = undefined
  }
}

export class OutlierDetector {
  readonly #name: string
  readonly #config: OutlierConfig
  readonly #group: OutlierGroup
  readonly #onEvent: OutlierListener
  #streak = 0
  #until: number | undefined
  #multiplier = 0

  constructor(name: string, config: OutlierConfig, group: OutlierGroup, onEvent: OutlierListener) {
    this.#name = name
    this.#config = config
    this.#group = group
    this.#onEvent = onEvent
    group.add(this, config.interval_seconds * 1000)
  }

  /** Ends a due ejection on the spot, so a backend is never refused past its time. */
  get ejected(): boolean {
    this.#returnIfDue()
    return this.#until !== undefined
  }

  /** The backend is gone (hot reload): it no longer counts in its group. */
  leave(): void {
    this.#group.remove(this)
  }

  /** Throws the refusal when ejected. */
  check(): void {
    this.#returnIfDue()
    if (this.#until === undefined) return
    const left = Math.max(0, this.#until - this.#group.clock.now())
    throw new PorticoError('circuit_open', {
      message: `${this.#name} is ejected after ${this.#config.consecutive_errors} consecutive failures`,
      headers: { 'retry-after': retryAfter(left) },
      data: { upstream: this.#name, reason: 'ejected', retryAfterMs: Math.ceil(left) },
    })
  }

  /** Counts an attempt's outcome; returns true when this outcome ejected the backend. */
  record(verdict: Verdict): boolean {
    if (verdict === 'ok') {
      this.#streak = 0
      return false
    }
    if (verdict !== 'failure' || this.ejected) return false
    this.#streak++
    if (this.#streak < this.#config.consecutive_errors) return false
    if (!this.#group.mayEject(this.#config.max_ejection_percent)) {
      this.#onEvent('spared', `max_ejection_percent (${this.#config.max_ejection_percent}) reached`)
      return false
    }
    this.#multiplier++
    const ms = Math.min(
      this.#config.base_ejection_seconds * 1000 * this.#multiplier,
      this.#config.max_ejection_seconds * 1000,
    )
    this.#until = this.#group.clock.now() + ms
    this.#streak = 0
    this.#onEvent(
      'ejected',
      `${this.#config.consecutive_errors} consecutive failures, for ${ms} ms`,
    )
    this.#group.wake()
    return true
  }

  /**
   * One sweep: ends a due ejection (one no call has ended yet), or decays the multiplier.
   * Returns whether to keep sweeping.
   */
  sweep(now: number): boolean {
    if (this.#until !== undefined) {
      if (now < this.#until) return true
      this.#return()
      return true
    }
    if (this.#multiplier > 0) this.#multiplier--
    return this.#multiplier > 0
  }

  /**
   * Why not wait for the sweep: with `interval_seconds` longer than the ejection, calls made
   * after its time were refused with "retry after 0" until the next sweep (up to an interval).
   */
  #returnIfDue(): void {
    if (this.#until !== undefined && this.#group.clock.now() >= this.#until) this.#return()
  }

  #return(): void {
    this.#until = undefined
    this.#onEvent('returned', 'ejection over')
  }
}
