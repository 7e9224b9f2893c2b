/**
 * Server→client requests for stateless (2026-07-28) clients, which cannot receive requests:
 * when a backend asks for sampling, elicitation or roots during a call, the gateway parks the
 * backend call and answers the client with an `input_required` result whose `requestState`
 * is a random token. The client's retry (new id, same call, `inputResponses` + that token)
 * answers the backend's requests and resumes the parked call. Parked calls are bounded in
 * number and expire; the token is only a lookup key, never trusted data.
 */
import { randomUUID } from 'node:crypto'
import { PorticoError } from '../errors.ts'
import {
  isObject,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcNotification,
  type JsonRpcRequest,
} from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import { CallController, type CallSignal, type SignalLike } from '../pipeline/signal.ts'
import {
  CAPABILITY_OF,
  type CallSink,
  type Connection,
  undeclaredAnswer,
} from './backends/connection.ts'

/**
 * Parked calls in all. When they are all taken, the oldest call of the client holding the
 * most is given up: a client with a few parked never loses one to others holding many (the
 * oldest of anyone's went, so eleven clients within their own bound pushed out a twelfth's
 * one call).
 */
const MAX_PARKED = 1000
/**
 * Parked calls one client (client-key.ts: its verified principal, else its address) may hold:
 * past it its own oldest is given up, never another client's (one client parking a thousand
 * calls pushed out everyone else's).
 */
const MAX_PARKED_PER_CALLER = 100
const PARKED_TTL_MS = 60_000
/**
 * What begins every `requestState` a bridge issues, then its own mark (see `issued`): a gateway
 * behind another one (its 2026-07-28 backend) issues its own, which the front one passes on
 * rather than taking for one of its expired calls.
 */
const TOKEN_PREFIX = 'portico-'

/**
 * A backend's requests one call may have waiting for the client's input at once (asked in one
 * round or queued for the next): past it a backend that asks without end is refused at once,
 * not buffered until the call expires. Real tools ask one or a few at a time.
 */
const MAX_INPUT_REQUESTS = 64

/** What a backend call ends with (the shape `dispatch` returns). */
export interface CallOutcome {
  result?: JsonObject
  error?: { code: number; message: string; data?: unknown }
  backend?: string
}

type Step =
  | { kind: 'request'; message: JsonRpcRequest }
  | { kind: 'done'; outcome: CallOutcome }
  | { kind: 'failed'; error: unknown }

class ParkedCall {
  /** The connection the call runs on (known once the transport picked it). */
  connection: Connection | undefined
  readonly backend: string
  /** Who made the call and what it asked (see InputBridge.run): only that may resume it. */
  binding = ''
  /** The same as the client named it (see `retryKeyOf`): what a free pass must match. */
  retryKey = ''
  /** The client's key (client-key.ts): what MAX_PARKED_PER_CALLER counts. */
  caller = ''
  /**
   * The retry let through a rate limit this round (by its token and its notes): once per
   * round, not per retry; the same call passes again (call_tool's inner call shares the outer
   * call's notes, reenter.ts).
   */
  passedWith: { token: string; notes: object } | undefined
  readonly abort = new CallController()
  /** input key → the backend's request (its id, and what it asks), awaiting the client's answer. */
  readonly awaiting = new Map<string, { id: JsonRpcId; asks: JsonObject }>()
  write: (message: JsonObject) => boolean
  /**
   * Once resumed, the progress token of the retry its messages now answer (`value` undefined:
   * the retry asked for none); before, the first request's, which the connection restores.
   */
  retryProgress: { value: unknown } | undefined
  timer: NodeJS.Timeout | undefined
  #queue: Step[] = []
  #wake: (() => void) | undefined
  #keys = 0

  constructor(backend: string, write: (message: JsonObject) => boolean) {
    this.backend = backend
    this.write = write
  }

  push(step: Step): void {
    this.#queue.push(step)
    this.#wake?.()
  }

  /** Takes the ids of the backend requests queued for the client's next round. */
  queuedRequests(): JsonRpcId[] {
    const ids: JsonRpcId[] = []
    this.#queue = this.#queue.filter((step) => {
      if (step.kind !== 'request') return true
      ids.push(step.message.id)
      return false
    })
    return ids
  }

  /** Whether the call's outcome (its result, or its failure) came while it was parked. */
  ended(): boolean {
    return this.#queue.some((step) => step.kind !== 'request')
  }

  /**
   * The backend gave up a request of its own (`notifications/cancelled`): it is asked of the
   * client no more, whether given in a round or queued for one.
   */
  withdraw(id: unknown): void {
    for (const [key, asked] of this.awaiting) if (asked.id === id) this.awaiting.delete(key)
    this.#queue = this.#queue.filter((step) => step.kind !== 'request' || step.message.id !== id)
  }

  /** The backend's requests waiting for the client: given in a round, or queued for one. */
  waitingForInput(): number {
    let queued = 0
    for (const step of this.#queue) if (step.kind === 'request') queued++
    return this.awaiting.size + queued
  }

  nextKey(): string {
    return `r${++this.#keys}`
  }

  async next(): Promise<Step[]> {
    while (this.#queue.length === 0) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
      this.#wake = undefined
    }
    return this.#queue.splice(0)
  }
}

/** The key counted most often (the first of those tied, in the map's order). */
function mostHolding(held: ReadonlyMap<string, number>): string | undefined {
  let most: string | undefined
  let count = 0
  for (const [caller, n] of held) {
    if (n <= count) continue
    most = caller
    count = n
  }
  return most
}

export class InputBridge {
  /** This bridge's tokens: `portico-`, a random mark, `-` (see TOKEN_PREFIX). */
  readonly #prefix = `${TOKEN_PREFIX}${randomUUID().slice(0, 8)}-`
  /** Past the bound the oldest parked call is given up (its backend requests refused). */
  /** Bounded by `#makeRoomFor` (MAX_PARKED, MAX_PARKED_PER_CALLER). */
  readonly #parked = new Map<string, ParkedCall>()

  /**
   * Runs one backend call for a stateless client. `owner.binding` (the caller's principal,
   * the backend, the method and its target) is what a retry must present again to resume it;
   * `owner.retryKey` says the same in the client's names (`retryKeyOf`). `start` sends the
   * request with the sink
   * (bound to the connection the transport picks) and signal it is given; the result is the
   * call's outcome or an `input_required` result.
   */
  run(
    backend: string,
    owner: { binding: string; retryKey: string; caller: string; meta?: JsonObject },
    capabilities: JsonObject,
    write: (message: JsonObject) => boolean,
    signal: SignalLike,
    start: (
      sinkFor: (connection: Connection) => CallSink,
      signal: CallSignal,
    ) => Promise<CallOutcome>,
  ): Promise<CallOutcome> {
    const parked = new ParkedCall(backend, write)
    parked.binding = owner.binding
    parked.retryKey = owner.retryKey
    parked.caller = owner.caller
    signal.addEventListener('abort', () => parked.abort.abort(), { once: true })
    const sink: CallSink = {
      // The client (principal, else address), not the call: one client's stateless calls,
      // parked or running, are one client's on a shared process, as a session's calls are.
      owner: `stateless:${owner.caller}`,
      // A 2026-07-28 backend is sent the client's own envelope, and its `input_required`
      // answers go to the client as they are (backends/modern.ts).
      statelessMeta: owner.meta,
      accepts: (method) => asksInput(capabilities, method),
      waitsForInput: () => parked.waitingForInput() > 0,
      related: (message) => this.#related(parked, capabilities, message),
    }
    const sinkFor = (connection: Connection) => {
      parked.connection = connection
      return sink
    }
    start(sinkFor, parked.abort.signal).then(
      (outcome) => parked.push({ kind: 'done', outcome }),
      (error: unknown) => parked.push({ kind: 'failed', error }),
    )
    return this.#advance(parked)
  }

  /**
   * Whether a `requestState` is one this bridge issued, parked or not any more (expired, given
   * up, resumed): a backend's own `input_required` carries its own state, passed through.
   */
  issued(requestState: unknown): boolean {
    return typeof requestState === 'string' && requestState.startsWith(this.#prefix)
  }

  /** Whether a retry's `requestState` belongs to a parked call here. */
  has(requestState: unknown): requestState is string {
    return typeof requestState === 'string' && this.#parked.has(requestState)
  }

  /**
   * Whether `call` is a retry that resumes a call parked here: stateless (a session's call is
   * never a resume, see dispatch.ts `forward`), naming a call parked now by the same caller,
   * method and target, and the first to do so for this round. True lets it past the global
   * rate limit (rate-limit.ts `GatewayPasses`): the parked call was charged already.
   */
  resumes(call: Call, target: string | undefined = call.target?.name): boolean {
    if (call.kind !== 'request' || call.sessionId !== undefined || this.#parked.size === 0)
      return false
    const params = 'params' in call.message ? call.message.params : undefined
    const token = isObject(params) ? params.requestState : undefined
    if (typeof token !== 'string') return false
    const parked = this.#parked.get(token)
    if (parked === undefined) return false
    const passed = parked.passedWith
    if (passed?.token === token) return passed.notes === call.notes
    if (parked.retryKey !== retryKeyOf(call, target)) return false
    parked.passedWith = { token, notes: call.notes }
    return true
  }

  /** Answers the parked call's requests with the retry's `inputResponses` and resumes it. */
  resume(
    requestState: string,
    binding: string,
    inputResponses: unknown,
    write: (message: JsonObject) => boolean,
    signal: SignalLike,
    progressToken: unknown,
  ): Promise<CallOutcome> {
    const parked = this.#parked.get(requestState)
    if (!parked) throw new PorticoError('invalid_params', { message: 'Unknown requestState' })
    // Another caller, or another tool: it may not answer (nor end) this call.
    if (parked.binding !== binding) {
      throw new PorticoError('invalid_params', {
        message: 'requestState belongs to another request (its caller, method and name must match)',
      })
    }
    this.#parked.delete(requestState)
    clearTimeout(parked.timer)
    const responses = isObject(inputResponses) ? inputResponses : {}
    // A request the retry left unanswered is asked again (MRTR: the client SHOULD be asked
    // anew), not answered with an error the backend would take for the user's refusal.
    const unanswered: JsonObject = {}
    for (const [key, asked] of parked.awaiting) {
      const response = responses[key]
      if (!isObject(response)) {
        unanswered[key] = asked.asks
        continue
      }
      parked.connection?.answer(asked.id, { result: response })
      parked.awaiting.delete(key)
    }
    parked.write = write
    parked.retryProgress = { value: progressToken }
    signal.addEventListener('abort', () => parked.abort.abort(), { once: true })
    // Asked again only while the backend still waits for it: not once the call has ended
    // (the backend gone, or done without it); a withdrawn request is out of `awaiting` already.
    if (parked.awaiting.size > 0 && !parked.ended()) {
      return Promise.resolve(this.#ask(parked, unanswered))
    }
    return this.#advance(parked)
  }

  /** An `input_required` round asking `inputRequests` (keys kept when asked again). */
  #ask(parked: ParkedCall, inputRequests: JsonObject): CallOutcome {
    return {
      result: { resultType: 'input_required', inputRequests, requestState: this.#park(parked) },
      backend: parked.backend,
    }
  }

  #related(
    parked: ParkedCall,
    capabilities: JsonObject,
    message: JsonRpcRequest | JsonRpcNotification,
  ): void {
    if (!('id' in message)) {
      if (message.method === 'notifications/progress') writeProgress(parked, message)
      else if (message.method === 'notifications/cancelled') {
        parked.withdraw(isObject(message.params) ? message.params.requestId : undefined)
      } else parked.write(message as unknown as JsonObject)
      return
    }
    // (A `ping` never comes here: the connection answers it itself, whoever's call runs.)
    if (!asksInput(capabilities, message.method)) {
      parked.connection?.answer(message.id, undeclaredAnswer(message.method))
      return
    }
    if (parked.waitingForInput() >= MAX_INPUT_REQUESTS) {
      parked.connection?.answer(message.id, {
        error: {
          code: -32603,
          message: `Too many requests wait for the client's input (${MAX_INPUT_REQUESTS})`,
        },
      })
      return
    }
    parked.push({ kind: 'request', message })
  }

  async #advance(parked: ParkedCall): Promise<CallOutcome> {
    const steps = await parked.next()
    const end = steps.find((s) => s.kind !== 'request')
    if (end?.kind === 'done') return end.outcome
    if (end?.kind === 'failed') throw end.error
    const inputRequests: JsonObject = {}
    for (const step of steps) {
      if (step.kind !== 'request') continue
      const key = parked.nextKey()
      const asks = { method: step.message.method, params: step.message.params ?? {} }
      parked.awaiting.set(key, { id: step.message.id, asks })
      inputRequests[key] = asks
    }
    return this.#ask(parked, inputRequests)
  }

  #park(parked: ParkedCall): string {
    this.#makeRoomFor(parked.caller)
    const token = `${this.#prefix}${randomUUID()}`
    this.#parked.set(token, parked)
    parked.timer = setTimeout(() => this.#expire(token), PARKED_TTL_MS)
    parked.timer.unref()
    return token
  }

  /**
   * Gives up `caller`'s oldest parked call when it holds MAX_PARKED_PER_CALLER already, else,
   * when all MAX_PARKED are taken, the oldest of the client holding the most. A scan of at
   * most MAX_PARKED entries, once per `input_required` round: rare next to calls.
   */
  #makeRoomFor(caller: string): void {
    const held = new Map<string, number>()
    for (const parked of this.#parked.values()) {
      held.set(parked.caller, (held.get(parked.caller) ?? 0) + 1)
    }
    if ((held.get(caller) ?? 0) >= MAX_PARKED_PER_CALLER) this.#expireOldestOf(caller)
    else if (this.#parked.size >= MAX_PARKED) this.#expireOldestOf(mostHolding(held))
  }

  #expireOldestOf(caller: string | undefined): void {
    for (const [token, parked] of this.#parked) {
      if (parked.caller !== caller) continue
      this.#expire(token)
      return
    }
  }

  /** An abandoned parked call: refuse what the backend asked and cancel the call. */
  #expire(token: string): void {
    const parked = this.#parked.get(token)
    if (!parked) return
    this.#parked.delete(token)
    abandon(parked)
  }

  /**
   * Gives up the parked call `requestState` names, if any: no retry can resume it (a composite's
   * member that asked for input, which the composite cannot relay). Its backend call is
   * cancelled and its slot freed now, not at the parked call's expiry.
   */
  giveUp(requestState: unknown): void {
    if (typeof requestState === 'string') this.#expire(requestState)
  }

  close(): void {
    for (const token of [...this.#parked.keys()]) this.#expire(token)
  }
}

/**
 * A stateless call's caller, method and target as the client named them: what a retry that
 * resumes it names again. The gateway's binding says the same in the backend's names, which a
 * middleware before routing does not know. `target`: the tool a `call_tool` names, for its
 * outer call.
 */
export function retryKeyOf(call: Call, target: string | undefined = call.target?.name): string {
  return [call.identity?.key ?? '', call.method ?? '', target ?? ''].join('\0')
}

function abandon(parked: ParkedCall): void {
  clearTimeout(parked.timer)
  // Asked before the client gave up, or after it was answered `input_required` (queued for
  // its next retry, which will not come): the backend waits for an answer to each.
  const asked = [...[...parked.awaiting.values()].map((a) => a.id), ...parked.queuedRequests()]
  for (const id of asked) {
    parked.connection?.answer(id, { error: { code: -32603, message: 'The client did not answer' } })
  }
  parked.abort.abort()
}

/**
 * What a stateless client can be asked during a call: 2026-07-28's input requests are these
 * three kinds, each only when it declared the capability. Anything else a backend asks (a
 * method no client knows) is refused -32601 for it, not handed on as an input request.
 */
function asksInput(capabilities: unknown, method: string): boolean {
  return Object.hasOwn(CAPABILITY_OF, method) && accepts(capabilities, method)
}

export function accepts(capabilities: unknown, method: string): boolean {
  const needed = CAPABILITY_OF[method]
  return needed === undefined || (isObject(capabilities) && capabilities[needed] !== undefined)
}

/**
 * A progress notification of a parked call, under the token of the request it now answers: a
 * retry's own (the first request's, which the connection restored, is over), or none when the
 * retry asked for no progress.
 */
function writeProgress(parked: ParkedCall, message: JsonRpcNotification): void {
  const retry = parked.retryProgress
  if (retry === undefined) {
    parked.write(message as unknown as JsonObject)
    return
  }
  if (retry.value === undefined || !isObject(message.params)) return
  parked.write({
    ...message,
    params: { ...message.params, progressToken: retry.value },
  } as JsonObject)
}
