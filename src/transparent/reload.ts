/**
 * Transparent hot reload (SIGHUP, `hot_reload`, `Portico.reloadConfig`, on the shared
 * machinery of edge/reload.ts): the upstream's per-upstream chain (its protection policies and
 * the deadline and bounds its transports use) is built again from the new file and new calls
 * go through it at once; the chain it replaces finishes the calls it holds, up to
 * `drain_timeout`, and is then closed, as a gateway backend a reload replaces is. The new
 * chain takes over each policy whose table did not change, with its state (breaker, cache,
 * budgets: protect/policies.ts); only the changed ones start afresh.
 *
 * The upstream itself is not reloadable: the client sessions open through Portico were
 * initialized with that server and their ids are its own, so another URL would answer them
 * 404 (or, worse, a different server would take calls meant for the first). A changed
 * `upstream` refuses the reload like every other key only a restart applies.
 */
import { PROTECT_KEYS } from '../config/protect.ts'
import type { Config } from '../config/schema.ts'
import type { Applied, AppliedKeys, ReloadTarget } from '../edge/reload.ts'
import type { Logger } from '../observe/logger.ts'
import { type StatusBoard, type StatusSource, statusOfEach } from '../observe/status.ts'
import type { Handler } from '../pipeline/compose.ts'
import type { UpstreamProtection } from '../protect/policies.ts'
import { InFlight } from '../util/in-flight.ts'

/** What a reload applies in transparent mode: what the upstream's chain is built with. */
const APPLIED: AppliedKeys = {
  top: new Set<string>([
    ...PROTECT_KEYS,
    'performance',
    'request_timeout',
    'max_response_body_size',
    // mcpr's name for a `[concurrency]` table (protect/policies.ts topLevelProtect).
    'max_concurrent_upstream',
  ]),
  // `[proxy]`'s reloadable keys are the gateway's; none has a meaning here.
  proxy: new Set<string>(),
}

/** The upstream's chain as built from one config. */
export interface BuiltUpstream {
  handle: Handler
  protection: UpstreamProtection
}

interface Generation extends BuiltUpstream {
  readonly inFlight: InFlight
}

/** The transparent upstream's chain, rebuilt by each reload that changes what it is made of. */
export class ReloadableUpstream implements ReloadTarget {
  readonly applied = APPLIED
  fileConfig: Config
  #config: Config
  #current: Generation
  readonly #build: (config: Config, previous: UpstreamProtection | undefined) => BuiltUpstream
  readonly #retiring = new Set<Generation>()
  readonly #logger: Logger
  /** Where the chain's policies report: told when a reload swaps them (`swapping`). */
  readonly #status: Pick<StatusBoard, 'swapping'> | undefined

  constructor(
    config: Config,
    build: (config: Config, previous: UpstreamProtection | undefined) => BuiltUpstream,
    logger: Logger,
    status?: Pick<StatusBoard, 'swapping'>,
  ) {
    this.#config = config
    this.fileConfig = config
    this.#build = build
    this.#logger = logger
    this.#status = status
    this.#current = this.#generation(config, undefined)
  }

  get config(): Config {
    return this.#config
  }

  /**
   * The terminal's step: the chain in force when the call arrives serves it to the end, and
   * counts it in flight until its answer is written (its lifetime ends, streams included).
   */
  readonly handle: Handler = (call) => {
    const current = this.#current
    current.inFlight.enter()
    call.lifetime.onEnd(current.inFlight)
    return current.handle(call)
  }

  /**
   * The upstream said a resource changed (on a GET or legacy stream, relayed outside the
   * chain): its reads cached by the chain in force go.
   */
  resourceUpdated(uri: string): void {
    this.#current.protection.resourceUpdated([uri])
  }

  /** The protection status of the chain in force (`/admin/circuit-breakers`, metrics). */
  status(): StatusSource {
    return statusOfEach(() => [this.#current.protection.statusSource('upstream')])
  }

  async apply(next: Config): Promise<Applied> {
    // Only what this reload applies changes in the config in force: what code set at start
    // (a tunnel's public_url) stays.
    const config: Record<string, unknown> = { ...this.#config }
    for (const key of APPLIED.top) config[key] = next[key as keyof Config]
    // Nothing the chain is built from changed: its breaker, cache and budgets keep their state.
    if (appliedPart(config as Config) === appliedPart(this.#config)) return { changes: {} }
    const before = this.#current
    const built = this.#generation(config as Config, before.protection)
    const swap = () => {
      this.#current = built
    }
    if (this.#status === undefined) swap()
    else this.#status.swapping(swap)
    this.#config = config as Config
    void this.#retire(before)
    return { changes: {} }
  }

  /** Closes the chain in force and those still finishing calls after a reload. */
  close(): void {
    for (const generation of [this.#current, ...this.#retiring]) generation.protection.close()
    this.#retiring.clear()
  }

  #generation(config: Config, previous: UpstreamProtection | undefined): Generation {
    return { ...this.#build(config, previous), inFlight: new InFlight() }
  }

  /** The replaced chain serves what it accepted (up to `drain_timeout`), then is closed. */
  async #retire(generation: Generation): Promise<void> {
    this.#retiring.add(generation)
    try {
      await generation.inFlight.idle(this.#config.drain_timeout)
      generation.protection.close()
    } catch (error) {
      this.#logger.warn('the replaced upstream chain did not close cleanly', {
        error: error instanceof Error ? error.message : String(error),
      })
    } finally {
      this.#retiring.delete(generation)
    }
  }
}

/** What the upstream's chain is built from, compared across reloads. */
function appliedPart(config: Config): string {
  return JSON.stringify([...APPLIED.top].map((key) => config[key as keyof Config]))
}
