/**
 * Which calls may be sent twice (retried, hedged, coalesced): reads, lists and gets always;
 * a `tools/call` only when the upstream's own `tools/list` annotated the tool `readOnlyHint`
 * or `idempotentHint`. The annotations are learned from the `tools/list` answers passing
 * through the upstream's chain (bounded, one table per upstream); a tool never listed is not
 * repeatable, so a call that may have run is never run again.
 */
import { isObject } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import { mapAnswer } from '../pipeline/reply.ts'
import { BoundedMap } from '../util/bounded-map.ts'

const MAX_TOOLS = 10_000

/** Requests whose repetition cannot change anything upstream. */
const SAFE_METHODS: ReadonlySet<string> = new Set([
  'ping',
  'server/discover',
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'prompts/get',
  'completion/complete',
])

export class ToolHints {
  /** Tool name (as the upstream names it) → repeatable. */
  readonly #tools = new BoundedMap<string, boolean>(MAX_TOOLS)

  /** Whether `call` may be sent more than once. */
  repeatable(call: Call): boolean {
    if (call.kind !== 'request' || call.method === undefined) return false
    if (call.method !== 'tools/call') return SAFE_METHODS.has(call.method)
    const name = call.target?.name
    return name !== undefined && this.#tools.get(name) === true
  }

  /** Records the annotations of one `tools/list` page. */
  learn(result: unknown): void {
    if (!isObject(result) || !Array.isArray(result.tools)) return
    for (const tool of result.tools) {
      if (!isObject(tool) || typeof tool.name !== 'string') continue
      const hints = isObject(tool.annotations) ? tool.annotations : {}
      this.#tools.delete(tool.name)
      this.#tools.set(tool.name, hints.readOnlyHint === true || hints.idempotentHint === true)
    }
  }

  /** Reads the `tools/list` answers going by (the answer is passed on unchanged). */
  middleware(): Middleware {
    return (call, next) => {
      if (call.method !== 'tools/list') return next(call)
      return next(call).then((reply) =>
        mapAnswer(call, reply, (response) => {
          this.learn(response.result)
          return undefined
        }),
      )
    }
  }
}
