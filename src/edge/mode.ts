/**
 * What a mode (transparent or gateway) gives the edge: the terminal step of the chain, the
 * routes of its endpoints (given the composed chain), its readiness, and its shutdown.
 */
import type { Config } from '../config/schema.ts'
import type { PorticoError } from '../errors.ts'
import type { Handler } from '../pipeline/compose.ts'
import type { ReloadOutcome } from './reload.ts'
import type { Routes } from './router.ts'

export interface Readiness {
  ready: boolean
  detail?: Record<string, unknown>
}

export interface Mode {
  /** Serves a call that passed every middleware of the chain. */
  readonly terminal: Handler
  /** The endpoints, each running JSON-RPC messages through `handle` (the whole chain). */
  routes(handle: Handler): Routes
  /** `detailed`: for the local admin surface (a loopback client), errors and pids included. */
  readiness(detailed: boolean): Promise<Readiness> | Readiness
  /** Reads the config file again and applies what it can (run from a file: edge/reload.ts). */
  readonly reloadConfig?: () => Promise<ReloadOutcome>
  /** The config in force, when a reload may change it (`GET /admin/config` shows it). */
  readonly runningConfig?: () => Config
  /** Why a reload would refuse `next` now, or undefined (`PUT /admin/config` says so). */
  readonly reloadRefusal?: (next: Config) => string | undefined
  /**
   * A drain's deadline passed: ends the calls the mode serves itself (not over the shared HTTP
   * client, which the stop cuts) with `error`, so each is answered before connections close;
   * resolves once the backends were told (their cancels travel on that client too).
   */
  readonly cut?: (error: PorticoError) => Promise<void>
  close(): Promise<void>
}
