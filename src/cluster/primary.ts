/**
 * The primary of a cluster (`workers` > 1): it serves no request itself. It forks one worker
 * per slot (node:cluster: they share the listening socket, and the primary hands each new
 * connection to the next worker, round robin), and:
 * - gives every worker the config it loaded (a worker never reads the file: one started again
 *   after an edit serves what the others serve);
 * - on `reload`, sends every worker the config loaded again, each applies it as a hot reload
 *   does and says how that ended; once none rejected it (one that died meanwhile rejected
 *   nothing), workers started again get it too;
 * - at startup, waits for every worker to listen; the first that fails stops all of them
 *   (fail closed), with that worker's message and exit code;
 * - takes the workers' store batches to its one store writer, and answers scrapes with every
 *   process's metrics (store-link.ts, metrics.ts);
 * - starts a worker that dies again in its slot, after a delay that doubles while it keeps
 *   dying young (100 ms up to 30 s), and logs it;
 * - on `stop`, asks every worker to drain and waits for them (drain_timeout, plus a grace
 *   period; a worker still there after that is killed).
 */
import cluster, { type Worker as ClusterWorker } from 'node:cluster'
import type { LoadedConfig } from '../config/load.ts'
import type { ReloadOutcome } from '../edge/reload.ts'
import type { Logger } from '../observe/logger.ts'
import type { ListenAt } from '../portico.ts'
import type { StoreSink } from '../store/sink.ts'
import { type FromWorker, isPorticoMessage, SLOT_VARIABLE, type ToWorker } from './messages.ts'
import type { PrimaryMetrics } from './metrics.ts'
import { pickedPorts } from './ports.ts'
import { ignoreClosed, relayStore } from './store-link.ts'

const RESTART_MIN_MS = 100
const RESTART_MAX_MS = 30_000
/** A worker that served this long before dying starts again after the shortest delay. */
const HEALTHY_MS = 10_000
/** Time past drain_timeout for the workers to hand over their last events and exit. */
const EXIT_GRACE_MS = 10_000
/** How long a worker has to say how a reload ended (it applies it at once; no drain waits). */
const RELOAD_ANSWER_MS = 30_000

export interface PrimaryOptions {
  workers: number
  /** What every worker serves, as loaded once here (see configFromPrimary). */
  config: LoadedConfig
  logger: Logger
  drainTimeoutMs: number
  store?: StoreSink
  metrics?: (workers: () => readonly ClusterWorker[]) => PrimaryMetrics
}

export interface Listening {
  url: string
  admin?: string
}

/**
 * How a reload ended in one worker: `exited`, it died before it answered (it is started again,
 * and is handed the config the cluster serves then); `no answer`, it said nothing in time.
 */
export interface WorkerReload {
  slot: number
  outcome: ReloadOutcome | 'none' | 'exited' | 'no answer'
}

/**
 * Whether the cluster adopts a reload: some worker applied it (or had nothing to change) and
 * none refused it or failed to answer. A worker that exited meanwhile refused nothing: were its
 * death to veto the reload, the others would serve the new config and it, started again, the
 * old one, for good.
 */
export function adopted(reloads: readonly WorkerReload[]): boolean {
  const accepted = (r: WorkerReload) => r.outcome === 'applied' || r.outcome === 'unchanged'
  return reloads.some(accepted) && reloads.every((r) => accepted(r) || r.outcome === 'exited')
}

/** Why the cluster did not start: the first worker's message, and its exit code. */
export class StartupFailure extends Error {
  readonly exitCode: number

  constructor(message: string, exitCode: number) {
    super(message)
    this.name = 'StartupFailure'
    this.exitCode = exitCode
  }
}

interface Slot {
  number: number
  worker: ClusterWorker | undefined
  /** Which of the primary's configs its worker was handed (see `#generation`). */
  generation: number
  startedAt: number
  listening: boolean
  delay: number
  timer: NodeJS.Timeout | undefined
}

type Phase = 'starting' | 'serving' | 'stopping'

export class ClusterPrimary {
  readonly #options: PrimaryOptions
  readonly #slots: Slot[] = []
  readonly #metrics: PrimaryMetrics | undefined
  #phase: Phase = 'starting'
  #started: { resolve(value: Listening): void; reject(error: StartupFailure): void } | undefined
  #listening: Listening | undefined
  /** What a worker asking for its config gets: the start's, then the last reload none refused. */
  #config: LoadedConfig
  /** Counts the reloads every worker accepted: a worker handed an older config gets the new one. */
  #generation = 0
  #reloads = 0
  /** The ports picked for `port = 0` (see ports.ts): every worker listens there. */
  #listenAt: ListenAt | undefined
  /** Reload answers awaited, by `${reload id}:${slot}` (a few per reload: a Map is fine here). */
  readonly #awaited = new Map<string, (outcome: WorkerReload['outcome']) => void>()

  constructor(options: PrimaryOptions) {
    this.#options = options
    this.#config = options.config
    this.#metrics = options.metrics?.(() => this.#serving())
    // Node's round robin: this process accepts and passes each connection to the next worker,
    // which spreads them evenly. SCHED_NONE (each worker accepting from the shared socket) was
    // tried and left some workers without connections for seconds at a time. Round robin's
    // price, not fixed: a connection passed to a worker killed before it took it stays open here
    // until its client gives up (nodejs/node#21746; README, "Several cores").
    // Batches of events are long strings: the structured clone skips a JSON round trip.
    cluster.setupPrimary({ serialization: 'advanced' })
  }

  /** Pids of the workers, by slot (for the startup line and the tests that read it). */
  pids(): number[] {
    return this.#slots.map((slot) => slot.worker?.process.pid ?? 0)
  }

  /** Forks every worker; resolves once all listen, rejects with the first one's failure. */
  async start(): Promise<Listening> {
    this.#listenAt = await pickedPorts(this.#config.config)
    return new Promise((resolve, reject) => {
      this.#started = { resolve, reject }
      for (let number = 1; number <= this.#options.workers; number++) {
        const slot: Slot = {
          number,
          worker: undefined,
          generation: 0,
          startedAt: 0,
          listening: false,
          delay: RESTART_MIN_MS,
          timer: undefined,
        }
        this.#slots.push(slot)
        this.#fork(slot)
      }
    })
  }

  #serving(): ClusterWorker[] {
    return this.#slots.flatMap((slot) => (slot.listening && slot.worker ? [slot.worker] : []))
  }

  #fork(slot: Slot): void {
    slot.timer = undefined
    const worker = cluster.fork({ [SLOT_VARIABLE]: String(slot.number) })
    slot.worker = worker
    slot.startedAt = Date.now()
    slot.listening = false
    worker.on('message', (message: unknown) => {
      if (isPorticoMessage<FromWorker>(message)) this.#onMessage(slot, worker, message)
    })
    worker.on('exit', (code, signal) => this.#onExit(slot, worker, code, signal))
    // A worker killed (SIGKILL, the OOM killer) still counts as connected until its disconnect
    // is seen: a message sent to it meanwhile fails (EPIPE) as an 'error' event, which without a
    // listener would end the primary, and every other worker and the store with it. Its exit
    // is what matters, and is handled above.
    worker.on('error', () => {})
  }

  #onMessage(slot: Slot, worker: ClusterWorker, message: FromWorker): void {
    switch (message.type) {
      case 'portico:config-request':
        this.#sendConfig(slot, worker)
        return
      case 'portico:store':
        relayStore(this.#options.store, worker, message.message)
        return
      case 'portico:listening':
        this.#onListening(slot, worker, message)
        return
      case 'portico:failed':
        this.#onFailed(slot, message)
        return
      case 'portico:reloaded':
        this.#awaited.get(`${message.id}:${slot.number}`)?.(message.outcome)
        return
      default:
        this.#metrics?.onMessage(worker, message)
    }
  }

  #sendConfig(slot: Slot, worker: ClusterWorker): void {
    slot.generation = this.#generation
    const { config, file } = this.#config
    const listenAt = this.#listenAt
    const message: ToWorker = {
      type: 'portico:config',
      config,
      ...(file ? { file } : {}),
      ...(listenAt ? { listenAt } : {}),
    }
    if (worker.isConnected()) worker.send(message, ignoreClosed)
  }

  /** A worker that could not start: fatal at startup; after it, logged (it is started again). */
  #onFailed(slot: Slot, failure: { message: string; exitCode: number }): void {
    if (this.#phase === 'starting')
      this.#fail(new StartupFailure(failure.message, failure.exitCode))
    else if (this.#phase === 'serving')
      this.#options.logger.error(`worker ${slot.number} could not start: ${failure.message}`)
  }

  #onListening(slot: Slot, worker: ClusterWorker, message: Listening): void {
    slot.listening = true
    if (this.#phase === 'stopping') {
      // Started again just before the stop: the drain sent then came before it listened for
      // one (and was lost); it drains now rather than serve until the stop's deadline kills it.
      if (worker.isConnected())
        worker.send({ type: 'portico:drain' } satisfies ToWorker, ignoreClosed)
      return
    }
    this.#listening ??= message.admin === undefined ? { url: message.url } : message
    if (this.#phase === 'starting') {
      if (this.#slots.every((s) => s.listening)) {
        this.#phase = 'serving'
        this.#started?.resolve(this.#listening)
      }
      return
    }
    this.#options.logger.info(`worker ${slot.number} started again (pid ${worker.process.pid})`)
    this.#catchUp(slot)
  }

  /** A listening worker handed an older config than the last reload's gets that reload. */
  #catchUp(slot: Slot): void {
    const worker = slot.worker
    if (slot.generation === this.#generation || !worker?.isConnected()) return
    slot.generation = this.#generation
    const { config } = this.#config
    worker.send(
      { type: 'portico:reload', id: ++this.#reloads, config } satisfies ToWorker,
      ignoreClosed,
    )
  }

  #onExit(slot: Slot, worker: ClusterWorker, code: number | null, signal: string | null): void {
    // What it counted stays in the cluster's counters (metrics.ts), whatever the phase.
    this.#metrics?.exited(worker)
    if (slot.worker !== worker) return
    for (const [key, answer] of this.#awaited) {
      if (key.endsWith(`:${slot.number}`)) answer('exited')
    }
    slot.worker = undefined
    slot.listening = false
    const how = signal ? `killed by ${signal}` : `exited with code ${code}`
    if (this.#phase === 'stopping') return
    if (this.#phase === 'starting') {
      const exitCode = typeof code === 'number' && code !== 0 ? code : 1
      this.#fail(new StartupFailure(`worker ${slot.number} ${how} before listening`, exitCode))
      return
    }
    const served = Date.now() - slot.startedAt
    if (served >= HEALTHY_MS) slot.delay = RESTART_MIN_MS
    const delay = slot.delay
    slot.delay = Math.min(delay * 2, RESTART_MAX_MS)
    this.#options.logger.warn(
      `worker ${slot.number} (pid ${worker.process.pid}) ${how}; starting it again in ${delay} ms`,
    )
    slot.timer = setTimeout(() => this.#fork(slot), delay)
  }

  /** A failed start: the first failure is the one reported; the others stop (see `stop`). */
  #fail(error: StartupFailure): void {
    const started = this.#started
    this.#started = undefined
    started?.reject(error)
  }

  /**
   * Has every serving worker apply `loaded` as a hot reload does, and says how it ended in
   * each. When none rejected it, it is the config workers started again get from now on, and
   * a worker that started during the reload is sent it too.
   */
  async reload(loaded: LoadedConfig): Promise<WorkerReload[]> {
    const id = ++this.#reloads
    const message: ToWorker = { type: 'portico:reload', id, config: loaded.config }
    const serving = this.#slots.filter((slot) => slot.listening && slot.worker !== undefined)
    // No worker to check it (all starting again): nothing applies it, so it is not adopted
    // either (workers started later would otherwise get changes one would have refused).
    if (serving.length === 0) return []
    const asked = serving.map((slot) => slot.worker)
    const reloads = await Promise.all(serving.map((slot) => this.#reloadOne(slot, id, message)))
    if (adopted(reloads)) {
      // `[shared]` is not applied by a reload (one connection per process, until Portico
      // restarts): a worker started again keeps the one the others run with, or the cluster's
      // one budget and cache were split between two stores.
      this.#config = { ...loaded, config: { ...loaded.config, shared: this.#config.config.shared } }
      this.#generation++
      // Those that applied it (a worker started again since was handed the config before).
      serving.forEach((slot, i) => {
        if (slot.worker === asked[i]) slot.generation = this.#generation
      })
      // One that started meanwhile was handed the config before: it gets this one once it listens.
      for (const slot of this.#slots) if (slot.listening) this.#catchUp(slot)
    }
    return reloads
  }

  #reloadOne(slot: Slot, id: number, message: ToWorker): Promise<WorkerReload> {
    const key = `${id}:${slot.number}`
    return new Promise((resolve) => {
      const done = (outcome: WorkerReload['outcome']) => {
        clearTimeout(timer)
        this.#awaited.delete(key)
        resolve({ slot: slot.number, outcome })
      }
      const timer = setTimeout(() => done('no answer'), RELOAD_ANSWER_MS)
      this.#awaited.set(key, done)
      const worker = slot.worker
      if (worker?.isConnected()) worker.send(message, ignoreClosed)
      else done('exited')
    })
  }

  /** Asks every worker to drain and waits for all to exit (bounded; see EXIT_GRACE_MS). */
  async stop(): Promise<void> {
    this.#phase = 'stopping'
    this.#started = undefined
    const exits: Promise<void>[] = []
    for (const slot of this.#slots) {
      if (slot.timer) clearTimeout(slot.timer)
      const worker = slot.worker
      if (worker === undefined) continue
      exits.push(exitOf(worker))
      if (worker.isConnected())
        worker.send({ type: 'portico:drain' } satisfies ToWorker, ignoreClosed)
      else worker.process.kill('SIGTERM')
    }
    const deadline = setTimeout(() => this.kill(), this.#options.drainTimeoutMs + EXIT_GRACE_MS)
    await Promise.all(exits)
    clearTimeout(deadline)
  }

  /** Kills every worker at once (a second signal, or workers past their deadline). */
  kill(): void {
    for (const slot of this.#slots) slot.worker?.process.kill('SIGKILL')
  }
}

function exitOf(worker: ClusterWorker): Promise<void> {
  if (worker.isDead()) return Promise.resolve()
  return new Promise((resolve) => worker.once('exit', () => resolve()))
}
