/**
 * `Mcp-Param-*` headers (2026-07-28, SEP-2243): a tool's `inputSchema` may mark primitive
 * arguments with `"x-mcp-header": "Name"`, and a client on HTTP then mirrors each such
 * argument's value as the header `Mcp-Param-Name`, so routers can act on it without reading
 * the body. A server must refuse (400, -32020) a call whose mirrored header is missing while the
 * body has the value, disagrees with it, or carries a malformed `=?base64?…?=` value: a router
 * in front that trusted the header would otherwise act on another value than the tool gets.
 * Pure functions, no I/O.
 */
import { isObject } from '../jsonrpc/message.ts'

/** One argument a tool asks clients to mirror as a header. */
export interface HeaderParam {
  /** The property names from the arguments object down to the value. */
  readonly path: readonly string[]
  /** The header's name after `Mcp-Param-`. */
  readonly header: string
  /** The property's JSON Schema type (integers compare as numbers). */
  readonly type: string | undefined
}

/** Schemas nest a few levels; a deeper one is not walked further (it marks nothing there). */
const MAX_DEPTH = 32
/** RFC 9110 `token`: what a header name may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * The arguments `inputSchema` marks with `x-mcp-header`, reachable from the root through
 * `properties` alone (the only place the revision allows them); empty for nearly every tool.
 */
export function headerParamsOf(inputSchema: unknown): HeaderParam[] {
  const found: HeaderParam[] = []
  const visit = (schema: unknown, path: string[]): void => {
    if (!isObject(schema) || path.length > MAX_DEPTH) return
    const header = schema['x-mcp-header']
    if (path.length > 0 && typeof header === 'string' && TOKEN.test(header)) {
      const type = typeof schema.type === 'string' ? schema.type : undefined
      found.push({ path, header, type })
    }
    const properties = schema.properties
    if (!isObject(properties)) return
    for (const key of Object.keys(properties)) visit(properties[key], [...path, key])
  }
  visit(inputSchema, [])
  return found
}

/**
 * How a call's `Mcp-Param-*` headers disagree with its arguments, or undefined when they agree:
 * for each marked argument the body carries (not null), the header must be there and read as
 * the same value. A header whose argument the body lacks is not judged, as the revision says.
 */
export function paramHeaderMismatch(
  declared: readonly HeaderParam[],
  args: unknown,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): string | undefined {
  for (const param of declared) {
    const value = valueAt(args, param.path)
    const text = headerTextOf(value)
    if (text === undefined) continue
    const name = `Mcp-Param-${param.header}`
    const raw = headers[name.toLowerCase()]
    if (typeof raw !== 'string') return `the ${name} header is absent`
    const decoded = decodedParam(raw)
    if (decoded === undefined) return `the ${name} header is not valid =?base64?…?=`
    if (!sameValue(decoded, text, value, param.type)) {
      return `the ${name} header does not match the arguments`
    }
  }
  return undefined
}

function valueAt(root: unknown, path: readonly string[]): unknown {
  let node = root
  for (const key of path) {
    if (!isObject(node) || !Object.hasOwn(node, key)) return undefined
    node = node[key]
  }
  return node
}

/** A primitive argument as a header carries it; undefined for what is never mirrored. */
function headerTextOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (typeof value === 'number' && Number.isFinite(value)) {
    return Number.isInteger(value) && !Number.isSafeInteger(value) ? undefined : String(value)
  }
  return undefined
}

/**
 * The `Mcp-Param-*` headers a call to a 2026-07-28 server carries: each marked argument the
 * arguments hold, as its header text (`Mcp-Name` is encoded the same way: `headerText`).
 * Keys are lower-case header names.
 */
export function paramHeadersOf(
  declared: readonly HeaderParam[],
  args: unknown,
): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const param of declared) {
    const text = headerTextOf(valueAt(args, param.path))
    if (text !== undefined) headers[`mcp-param-${param.header.toLowerCase()}`] = headerText(text)
  }
  return headers
}

/**
 * A value as a header carries it: as it is when it is plain visible ASCII without space at
 * either end (and does not itself look like the encoded form), else `=?base64?…?=` of its UTF-8.
 */
export function headerText(value: string): string {
  return isPlainHeaderText(value) ? value : `=?base64?${Buffer.from(value).toString('base64')}?=`
}

function isPlainHeaderText(value: string): boolean {
  if (value.length === 0 || value.startsWith('=?base64?')) return false
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    // Visible ASCII, and spaces inside (never at either end).
    if (code > 0x7e || code < 0x20) return false
    if (code === 0x20 && (i === 0 || i === value.length - 1)) return false
  }
  return true
}

const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const UTF8 = new TextDecoder('utf-8', { fatal: true })

/** A header's value, its `=?base64?…?=` form decoded; undefined when that form is malformed. */
export function decodedParam(raw: string): string | undefined {
  if (!raw.startsWith('=?base64?') || !raw.endsWith('?=') || raw.length < 11) return raw
  const payload = raw.slice(9, -2)
  if (!CANONICAL_BASE64.test(payload)) return undefined
  try {
    return UTF8.decode(Buffer.from(payload, 'base64'))
  } catch {
    return undefined
  }
}

/** Numbers compare as numbers (`42.0` mirrors 42); everything else as text. */
function sameValue(decoded: string, text: string, value: unknown, type: string | undefined) {
  if (typeof value === 'number' && (type === 'integer' || type === 'number')) {
    return /^-?\d+(\.\d+)?$/.test(decoded) && Number(decoded) === value
  }
  return decoded === text
}
