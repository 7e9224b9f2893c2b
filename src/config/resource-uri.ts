/**
 * Resource URIs as the gateway names them, shared by the config checks (where an alias may
 * rename a resource to) and the gateway's routing (gateway/names.ts re-exports them): one rule,
 * so what `portico check` accepts is what the gateway routes.
 */

/**
 * A resource URI rather than a tool or prompt name: `scheme://…` or `urn:…`. A name with a
 * colon (`db:query`) is a tool name, as MCP allows.
 */
const RESOURCE_URI = /^(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/|urn:)/i

/** Whether an alias `from` (or `to`) names a resource URI, not a tool or prompt. */
export function isResourceUri(value: string): boolean {
  return RESOURCE_URI.test(value)
}

/** What a resource alias may rename to: a URI a client can send back (no spaces). */
export function isValidResourceUri(value: string): boolean {
  return isResourceUri(value) && !/\s/.test(value) && URL.canParse(value)
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*:)(\/\/)?/

/**
 * Namespaces a resource URI (or URI template) by inserting `{backend}{sep}` right after the
 * scheme and its `//`: `test://static/1` → `test://everything__static/1`,
 * `file:///tmp/a` → `file://files__/tmp/a`. A value without a scheme is prefixed.
 */
export function namespaceUri(backend: string, separator: string, uri: string): string {
  const match = SCHEME.exec(uri)
  const head = match ? match[0] : ''
  return `${head}${backend}${separator}${uri.slice(head.length)}`
}

/** Reverses `namespaceUri` for one backend; undefined when the URI is not that backend's. */
export function unnamespaceUri(
  backend: string,
  separator: string,
  uri: string,
): string | undefined {
  const match = SCHEME.exec(uri)
  const head = match ? match[0] : ''
  const prefix = backend + separator
  const rest = uri.slice(head.length)
  return rest.startsWith(prefix) ? head + rest.slice(prefix.length) : undefined
}
