/**
 * One tool's parameters as clients see them (`[[backends.param_overrides]]`, mcp-proxy's keys):
 * hidden parameters leave the input schema, renamed ones appear under their new names, and a
 * call's arguments are turned back into the backend's. Two of mcp-proxy's gaps are closed: a
 * hidden parameter a client sends anyway is dropped (mcp-proxy passes the client's value on),
 * and defaults are filled when the call has no `arguments` at all (mcp-proxy fills nothing).
 */
import type { ParamOverride } from '../config/gateway.ts'
import { isObject, type JsonObject, keepLiterals } from '../jsonrpc/message.ts'
import { folded } from '../protocol/classify.ts'

export class ParameterView {
  readonly #hidden: ReadonlySet<string>
  /** The hidden names as Go folds them: `User` is `user` to a Go backend. */
  readonly #hiddenFolded: ReadonlySet<string>
  readonly #defaults: JsonObject
  /** Backend name → client name. */
  readonly #renamed: ReadonlyMap<string, string>
  /** Client name → backend name. */
  readonly #original: ReadonlyMap<string, string>

  constructor(override: ParamOverride) {
    this.#hidden = new Set(override.hide)
    this.#hiddenFolded = new Set(override.hide.map(folded))
    this.#defaults = override.defaults as JsonObject
    this.#renamed = new Map(Object.entries(override.rename))
    this.#original = new Map(Object.entries(override.rename).map(([from, to]) => [to, from]))
  }

  /**
   * The input schema clients see. A new name that is also one of the tool's own parameters
   * shadows it: that parameter can no longer be sent, so it is not shown either.
   */
  schema(schema: JsonObject): JsonObject {
    const out: JsonObject = { ...schema }
    if (isObject(schema.properties)) {
      const properties = new Map<string, unknown>()
      for (const [name, definition] of Object.entries(schema.properties)) {
        const shown = this.#shownAs(name)
        if (shown !== undefined) properties.set(shown, definition)
      }
      out.properties = ownProperties(properties)
    }
    if (Array.isArray(schema.required)) {
      const required = schema.required.filter((name) => typeof name === 'string')
      out.required = [
        ...new Set(
          required.map((name) => this.#shownAs(name)).filter((name) => name !== undefined),
        ),
      ]
    }
    return out
  }

  /** A call's arguments in the backend's names: renamed back, hidden dropped, defaults filled. */
  arguments(client: JsonObject): JsonObject {
    const out = new Map<string, unknown>()
    for (const [name, value] of Object.entries(client)) {
      const original = this.#original.get(name)
      if (original !== undefined) out.set(original, value)
      else if (this.#hiddenFolded.size > 0 && this.#hiddenFolded.has(folded(name))) {
        // A hidden parameter in another case is dropped too: a Go backend reads it as the one.
      } else if (!this.#hidden.has(name) && !this.#renamed.has(name) && !out.has(name)) {
        out.set(name, value)
      }
    }
    for (const [name, value] of Object.entries(this.#defaults)) {
      if (out.get(name) === undefined) out.set(name, value)
    }
    // The client's 64-bit integers go on with their digits, under the backend's names.
    return keepLiterals(client, ownProperties(out), this.#original)
  }

  /** The name a backend parameter has for clients; undefined when clients cannot send it. */
  #shownAs(name: string): string | undefined {
    if (this.#hidden.has(name)) return undefined
    const renamed = this.#renamed.get(name)
    if (renamed !== undefined) return renamed
    return this.#original.has(name) ? undefined : name
  }
}

/**
 * Names and values as an object's own properties. Built from a Map: names are any text a client
 * or a server sends, and a plain object read or assigned by name would see `constructor` or
 * `toString` as already there, and take `__proto__` as its prototype.
 */
function ownProperties(entries: Map<string, unknown>): JsonObject {
  return Object.fromEntries(entries) as JsonObject
}
