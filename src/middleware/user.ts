/**
 * An embedding application's middleware and options, checked where Portico takes them: a
 * mistake in them is the application's, and says so, instead of a call that never ends (a
 * middleware returning something that is not a Reply wrote nothing, and its client waited) or
 * an error far from its cause (`parts.user is not iterable`).
 */
import type { Middleware } from '../pipeline/compose.ts'
import type { Reply } from '../pipeline/reply.ts'

const REPLY_KINDS: ReadonlySet<unknown> = new Set(['message', 'stream', 'accepted', 'http'])

/**
 * `layers`, each checked for what it returns: a value that is no Reply fails the call as a
 * thrown error would (answered `-32603` with the request's id, and logged), naming the layer.
 */
export function checkedUserMiddleware(
  layers: readonly Middleware[],
  where: 'middleware' | 'upstreamMiddleware',
): Middleware[] {
  return layers.map((layer, index) => async (call, next) => {
    const reply: unknown = await layer(call, next)
    if (isReply(reply)) return reply
    throw new TypeError(
      `${where}[${index}] returned ${describe(reply)}, not a Reply: return what next(call) resolves to (or mapAnswer's result), or throw a PorticoError`,
    )
  })
}

function isReply(value: unknown): value is Reply {
  return typeof value === 'object' && value !== null && REPLY_KINDS.has((value as Reply).kind)
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value)
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

/** Throws a TypeError naming the option when it is not a list of functions. */
export function checkFunctions(value: unknown, option: string): void {
  if (value === undefined) return
  if (!Array.isArray(value)) {
    throw new TypeError(`createPortico: options.${option} must be an array of functions`)
  }
  value.forEach((item, index) => {
    if (typeof item !== 'function') {
      throw new TypeError(`createPortico: options.${option}[${index}] must be a function`)
    }
  })
}

/** Throws a TypeError naming the sink that has no `name` and `write(events)`. */
export function checkSinks(value: unknown): void {
  if (value === undefined) return
  if (!Array.isArray(value)) throw new TypeError('createPortico: options.sinks must be an array')
  value.forEach((sink, index) => {
    const ok =
      typeof sink === 'object' &&
      sink !== null &&
      typeof (sink as { write?: unknown }).write === 'function'
    if (!ok) {
      throw new TypeError(
        `createPortico: options.sinks[${index}] must be an object with write(events)`,
      )
    }
  })
}
