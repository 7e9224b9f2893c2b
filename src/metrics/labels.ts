/**
 * Bounded label values. Every label value Portico exports comes from a closed set or passes a
 * cap: MCP methods are a known list (anything else is `other`); tool, prompt and resource names
 * get their own value only once a call with that name was answered successfully (so made-up
 * names sent by a client can never take a slot) and only up to a cap; beyond it, `other`. A
 * name with a control character (an escape sequence, a line break: no tool name or URI has
 * one) is `other` too, so `curl …/metrics` never drives the operator's terminal.
 */

import { hasControl } from '../util/format.ts'

const KNOWN_METHODS: ReadonlySet<string> = new Set([
  'initialize',
  'ping',
  'server/discover',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'subscriptions/listen',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
  'response',
  // HTTP exchanges that carry no JSON-RPC message (streams, DELETE, widget assets, refusals).
  'GET',
  'POST',
  'DELETE',
  'OPTIONS',
  'HEAD',
  'PUT',
  'PATCH',
])

/**
 * The method as a label: one of MCP's, else `other` (a request) or `notifications/other` (a
 * notification), so that what counts requests (mcp-proxy's series) can tell them apart.
 */
export function methodLabel(method: string): string {
  if (KNOWN_METHODS.has(method)) return method
  // An HTTP method of a non-MCP exchange (PROPFIND, LOCK…): no MCP request either.
  if (/^[A-Z]+$/.test(method)) return 'OTHER'
  return method.startsWith('notifications/') ? 'notifications/other' : 'other'
}

/** The longest name kept as a label value (longer ones are `other`). */
const MAX_NAME_LENGTH = 128

export class TargetLabels {
  readonly #max: number
  readonly #known = new Set<string>()

  constructor(max: number) {
    this.#max = max
  }

  get size(): number {
    return this.#known.size
  }

  /** The label for `name` in an exchange that `succeeded` (or not). */
  label(name: string | undefined, succeeded: boolean): string {
    if (name === undefined) return ''
    if (this.#known.has(name)) return name
    if (
      !succeeded ||
      this.#known.size >= this.#max ||
      name.length > MAX_NAME_LENGTH ||
      hasControl(name)
    )
      return 'other'
    this.#known.add(name)
    return name
  }
}
