/**
 * What a backend relates to one call (progress, logs, server requests) when the protection
 * chain makes several attempts of it: hedges run side by side, retries one after another, and
 * each attempt's messages would reach the client, which must see one call. The first attempt
 * that relates something holds the relay until it ends; meanwhile the others' notifications
 * are dropped and their requests refused (their backend must not wait for an answer no client
 * will give). Progress only ever increases, across attempts too: MCP requires it of a token.
 */
import { isObject, type JsonRpcId } from '../jsonrpc/message.ts'
import { type CallNotes, noteAskedClient } from '../pipeline/call.ts'
import type { CallSink, Connection } from './backends/connection.ts'

type SinkFor = (connection: Connection, attempt?: JsonRpcId) => CallSink | undefined

const NOT_RELAYED = {
  code: -32603,
  message: 'Another attempt of this call is being relayed to the client',
}

/**
 * `sinkFor`, whose sinks (one per attempt) take turns at the client's relay. A request relayed
 * to the client is noted on the call (`notes`): its answer then depends on the client's.
 */
export function oneRelayAtATime(sinkFor: SinkFor, notes: CallNotes): SinkFor {
  let holder: object | undefined
  return (connection, attemptId) => {
    const sink = sinkFor(connection)
    if (sink === undefined) return undefined
    const attempt = {}
    // `owner` in place, not spread in first: see relaySink in dispatch.ts.
    const turn: CallSink = {
      owner: sink.owner,
      statelessMeta: sink.statelessMeta,
      related(message) {
        holder ??= attempt
        notes.related = true
        if (holder !== attempt) {
          if ('id' in message) connection.answer(message.id, { error: NOT_RELAYED })
          return
        }
        if ('id' in message) {
          notes.askedBy ??= attemptId
          noteAskedClient(notes)
        }
        if (message.method === 'notifications/progress' && isObject(message.params)) {
          const progress = message.params.progress
          // The call's floor, not this backend's: a failover's progress starts again from 0.
          if (typeof progress === 'number') {
            if (progress <= (notes.progress ?? Number.NEGATIVE_INFINITY)) return
            notes.progress = progress
          }
        }
        sink.related(message)
      },
      end() {
        if (holder === attempt) holder = undefined
      },
    }
    const accepts = sink.accepts
    if (accepts !== undefined) turn.accepts = (method) => accepts.call(sink, method)
    const waits = sink.waitsForInput
    if (waits !== undefined) turn.waitsForInput = () => waits.call(sink)
    const backlog = sink.backlog
    // Only the attempt holding the relay is read at the client's pace; the others' messages go nowhere.
    if (backlog !== undefined) {
      turn.backlog = () => (holder === attempt ? backlog.call(sink) : undefined)
    }
    return turn
  }
}
