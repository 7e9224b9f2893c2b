/**
 * Correlation for the legacy HTTP+SSE transport (2024-11-05): requests are POSTed to a
 * messages URL and answered with 202, while their responses arrive later on the session's
 * GET stream. Each open stream registers its session here; POSTed requests wait here until
 * their response event passes by (or their deadline), then their exchange is recorded.
 */
import type { JsonRpcId } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/types.ts'
import type { Recorder } from './recorder.ts'
import type { Summary } from './summarize.ts'

interface Pending {
  recorder: Recorder
  timer: NodeJS.Timeout
}

interface LegacySession {
  pending: Map<JsonRpcId, Pending>
  /** Requests POSTed and not yet answered, so response rewriters know what a response answers. */
  calls: Map<JsonRpcId, Call>
}

export interface LegacySessionsOptions {
  /** How long a POSTed request waits for its response on the stream. */
  timeoutMs: number
  maxSessions?: number
  maxPendingPerSession?: number
}

export class LegacySessions {
  readonly #sessions = new Map<string, LegacySession>()
  /** Message paths announced by upstream `endpoint` events; POSTs to them are MCP traffic. */
  readonly messagePaths = new Set<string>()
  readonly #timeoutMs: number
  readonly #maxSessions: number
  readonly #maxPending: number

  constructor(options: LegacySessionsOptions) {
    this.#timeoutMs = options.timeoutMs
    this.#maxSessions = options.maxSessions ?? 10_000
    this.#maxPending = options.maxPendingPerSession ?? 1024
  }

  open(sessionId: string, messagePath: string): void {
    if (this.messagePaths.size < 64) this.messagePaths.add(messagePath)
    if (this.#sessions.size >= this.#maxSessions) return
    if (!this.#sessions.has(sessionId)) {
      this.#sessions.set(sessionId, { pending: new Map(), calls: new Map() })
    }
  }

  close(sessionId: string): void {
    const session = this.#sessions.get(sessionId)
    if (!session) return
    this.#sessions.delete(sessionId)
    for (const { recorder, timer } of session.pending.values()) {
      clearTimeout(timer)
      recorder.fail('http_error', { reason: 'stream_closed' })
      recorder.finish(200)
    }
  }

  /** Registers a POSTed request; returns false when it cannot be tracked (unknown session). */
  await(sessionId: string | undefined, id: JsonRpcId, recorder: Recorder): boolean {
    const session = sessionId === undefined ? undefined : this.#sessions.get(sessionId)
    if (!session || session.pending.size >= this.#maxPending || session.pending.has(id))
      return false
    const timer = setTimeout(() => {
      session.pending.delete(id)
      recorder.fail('http_error', { reason: 'no_response' })
      recorder.finish(200)
    }, this.#timeoutMs)
    timer.unref()
    session.pending.set(id, { recorder, timer })
    return true
  }

  /**
   * Notes a request before it is forwarded (its response may reach the stream before the POST's
   * 202 does). Bounded like the pending map; forgotten when answered.
   */
  expect(sessionId: string | undefined, call: Call): void {
    const session = sessionId === undefined ? undefined : this.#sessions.get(sessionId)
    if (!session || call.id === undefined || session.calls.size >= this.#maxPending) return
    session.calls.set(call.id, call)
  }

  /** The request a response on the session's stream answers, if it was POSTed through Portico. */
  callOf(sessionId: string, id: JsonRpcId | null | undefined): Call | undefined {
    if (id === undefined || id === null) return undefined
    return this.#sessions.get(sessionId)?.calls.get(id)
  }

  /** Called for each server message on a stream; records responses to waiting requests. */
  deliver(sessionId: string, summary: Summary, bytes: number): void {
    if (!summary.isResponse || summary.id === undefined || summary.id === null) return
    const session = this.#sessions.get(sessionId)
    session?.calls.delete(summary.id)
    const pending = session?.pending.get(summary.id)
    if (!session || !pending) return
    session.pending.delete(summary.id)
    clearTimeout(pending.timer)
    pending.recorder.wrote(bytes)
    pending.recorder.answer(summary)
    if (pending.recorder.settled) pending.recorder.finish(200)
  }

  get size(): number {
    return this.#sessions.size
  }
}
