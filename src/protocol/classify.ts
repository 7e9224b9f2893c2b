/**
 * MCP knowledge applied to one decoded message: what it targets (tool, resource, prompt),
 * which protocol era it belongs to, and which client sent it. Pure functions, no I/O.
 */
import {
  isObject,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcMessage,
} from '../jsonrpc/message.ts'
import { boundText } from '../util/bound-text.ts'
import { lookupTable } from '../util/lookup-table.ts'
import { jsonTextOf } from './json-text.ts'
import { scanMessages } from './lenient-json.ts'

export type Era = 'legacy' | 'modern'

/** First revision of the stateless era (no initialize, no sessions, per-request `_meta`). */
export const MODERN_PROTOCOL_VERSION = '2026-07-28'

export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion'
export const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo'
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities'
export const META_LOG_LEVEL = 'io.modelcontextprotocol/logLevel'
/** The `_meta` keys that make a request a 2026-07-28 one (the revision, who asks, its logs). */
export const ERA_META_KEYS: readonly string[] = [
  META_PROTOCOL_VERSION,
  META_CLIENT_INFO,
  META_CLIENT_CAPABILITIES,
  META_LOG_LEVEL,
]

export interface ClientInfo {
  name: string
  version?: string
}

/** What one message is about, for routing, policy and observability. */
export interface Target {
  method: string
  /** Tool name (`tools/call`), prompt name (`prompts/get`) or resource URI (`resources/*`). */
  name?: string
  kind?: 'tool' | 'prompt' | 'resource'
}

const NAME_METHODS: Record<string, 'tool' | 'prompt'> = lookupTable({
  'tools/call': 'tool',
  'prompts/get': 'prompt',
})

const URI_METHODS = new Set(['resources/read', 'resources/subscribe', 'resources/unsubscribe'])

export function targetOf(message: JsonRpcMessage): Target | undefined {
  if (!('method' in message)) return undefined
  const { method } = message
  const params = message.params
  const nameKind = NAME_METHODS[method]
  if (nameKind && isObject(params) && typeof params.name === 'string') {
    return { method, name: params.name, kind: nameKind }
  }
  if (URI_METHODS.has(method) && isObject(params) && typeof params.uri === 'string') {
    return { method, name: params.uri, kind: 'resource' }
  }
  return { method }
}

function metaOf(message: JsonRpcMessage): JsonObject | undefined {
  if (!('method' in message) || !isObject(message.params)) return undefined
  const meta = message.params._meta
  return isObject(meta) ? meta : undefined
}

/** The protocol version a modern request declares in `_meta`, if any. */
export function modernVersionOf(message: JsonRpcMessage): string | undefined {
  const version = metaOf(message)?.[META_PROTOCOL_VERSION]
  return typeof version === 'string' ? version : undefined
}

/**
 * Detects the era of one request. A request that carries the modern `_meta` protocol fields
 * (or names a modern version in the header without a session) is stateless 2026-07-28; all
 * else, `initialize` first, is legacy. Decided per request, never per process.
 */
export function eraOf(
  message: JsonRpcMessage,
  headerVersion: string | undefined,
  sessionId: string | undefined,
): Era {
  if (modernVersionOf(message) !== undefined) return 'modern'
  if (
    sessionId === undefined &&
    headerVersion !== undefined &&
    headerVersion >= MODERN_PROTOCOL_VERSION
  ) {
    return 'modern'
  }
  return 'legacy'
}

/**
 * A client's name and version as Portico keeps them (the message itself goes on unchanged):
 * bounded, as a client may send megabytes there, and they are remembered per session (audit
 * lines, the cloud sink) and looked up per call (metrics' platform).
 */
function asClientInfo(value: unknown): ClientInfo | undefined {
  if (!isObject(value) || typeof value.name !== 'string') return undefined
  const name = boundText(value.name)
  return typeof value.version === 'string' ? { name, version: boundText(value.version) } : { name }
}

/** Client identity from `initialize` params (legacy) or per-request `_meta` (modern). */
export function clientInfoOf(message: JsonRpcMessage): ClientInfo | undefined {
  if (!('method' in message)) return undefined
  if (message.method === 'initialize' && isObject(message.params)) {
    return asClientInfo(message.params.clientInfo)
  }
  return asClientInfo(metaOf(message)?.[META_CLIENT_INFO])
}

/** The protocol version an `initialize` request asks for. */
export function requestedVersionOf(message: JsonRpcMessage): string | undefined {
  if (!('method' in message) || message.method !== 'initialize' || !isObject(message.params)) {
    return undefined
  }
  const version = message.params.protocolVersion
  return typeof version === 'string' ? version : undefined
}

/** Method names and prefixes of MCP's own messages (both eras, both directions). */
const MCP_METHOD =
  /^(?:(?:initialize|ping)$|(?:tools|resources|prompts|completion|logging|notifications|sampling|elicitation|roots|server|subscriptions|tasks)\/)/

/**
 * Whether a request body holds an MCP message (one, or any of a batch): a JSON-RPC message
 * whose method is MCP's. Other JSON (an app's API, OAuth's dynamic client registration) is not.
 * Read as an upstream's JSON reader could read it: in UTF-16 or UTF-32, after a byte-order
 * mark (json-text.ts), and with `method` spelt in any case (Go's encoding/json matches member
 * names case-insensitively, so `"Method":"tools/call"` is a call to it).
 */
export function carriesMcp(body: Buffer | string): boolean {
  return mcpInText(body) !== undefined
}

/**
 * The MCP messages a body holds as any JSON reader, strict or lenient, could read it
 * (lenient-json.ts), with the id of a lone message; undefined when it holds none.
 */
export function mcpInText(body: Buffer | string): { id?: JsonRpcId } | undefined {
  const text = typeof body === 'string' ? body : jsonTextOf(body)
  if (text === undefined) return undefined
  const scanned = scanMessages(text, folded)
  if (!scanned.methods.some((method) => MCP_METHOD.test(method))) return undefined
  return scanned.id === undefined ? {} : { id: scanned.id }
}

/** Header values not plain ASCII travel as `=?base64?…?=` (SEP-2243). */
function headerText(value: string): string {
  const wrapped = /^=\?base64\?([A-Za-z0-9+/=]*)\?=$/.exec(value)
  return wrapped ? Buffer.from(wrapped[1] as string, 'base64').toString('utf8') : value
}

/**
 * How a message's mirrored headers (`Mcp-Method`, `Mcp-Name`, 2026-07-28) disagree with its
 * body, or undefined when they agree or are absent. Portico judges a call by its body; an
 * upstream or router that reads the headers must not be told another method or name.
 */
export function headerMismatch(
  message: JsonRpcMessage,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): string | undefined {
  const method = headers['mcp-method']
  if (typeof method === 'string' && 'method' in message && headerText(method) !== message.method) {
    return 'Mcp-Method does not match the body'
  }
  const version = headers['mcp-protocol-version']
  const bodyVersion = modernVersionOf(message)
  if (typeof version === 'string' && bodyVersion !== undefined && version !== bodyVersion) {
    return 'MCP-Protocol-Version does not match the body'
  }
  const name = headers['mcp-name']
  if (typeof name !== 'string') return undefined
  const target = targetOf(message)
  if (target?.name !== undefined && headerText(name) !== target.name) {
    return 'Mcp-Name does not match the body'
  }
  return undefined
}

/** The methods whose `Mcp-Name` header a 2026-07-28 request must carry (it mirrors the body). */
const NAME_HEADER_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read'])

/**
 * The standard header a 2026-07-28 request lacks, or undefined: `MCP-Protocol-Version` and
 * `Mcp-Method` on every request, `Mcp-Name` on those that name a tool, prompt or resource
 * (SEP-2243). A server answers such a request 400 with -32020, as the SDK's servers do;
 * notifications are exempt. Whether present headers agree with the body is `headerMismatch`.
 */
export function missingStandardHeader(
  message: JsonRpcMessage,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): string | undefined {
  if (!('method' in message) || !('id' in message)) return undefined
  if (typeof headers['mcp-protocol-version'] !== 'string') {
    return 'the required MCP-Protocol-Version header is absent'
  }
  if (typeof headers['mcp-method'] !== 'string') return 'the required Mcp-Method header is absent'
  if (typeof headers['mcp-name'] === 'string' || !NAME_HEADER_METHODS.has(message.method)) {
    return undefined
  }
  return targetOf(message)?.name === undefined
    ? undefined
    : 'the required Mcp-Name header is absent'
}

/** Members a policy or a router reads, at a message's top level and in its params. */
const MESSAGE_MEMBERS = membersOf(['jsonrpc', 'id', 'method', 'params', 'result', 'error'])
// `task`, `requestState` and `inputResponses` decide whether a call may share a cached answer.
const PARAMS_MEMBERS = membersOf([
  'name',
  'uri',
  'arguments',
  '_meta',
  'ref',
  'notifications',
  'task',
  'taskId',
  'requestState',
  'inputResponses',
])
const REF_MEMBERS = membersOf(['type', 'name', 'uri'])
/** What a 2026-07-28 `subscriptions/listen` asks for: the roles judge its resources. */
const NOTIFICATIONS_MEMBERS = membersOf(['resourceSubscriptions'])

/** Members by their lower-case spelling, to tell a case variant from the member itself. */
function membersOf(names: readonly string[]): ReadonlyMap<string, string> {
  return new Map(names.map((name) => [name.toLowerCase(), name]))
}

/**
 * A key as Go's encoding/json may match it: ASCII case, and the non-ASCII letters that fold to
 * ASCII ones. Go before 1.21 compared keys as `bytes.EqualFold` (simple folding: the long s ſ
 * is s, the Kelvin sign K is k); from 1.21 it folds each rune as `ToUpper(ToLower(r))`, which
 * also reads the dotless ı and the dotted İ as i: `urı` is `uri` to it. Both are folded here
 * (refusing a variant either Go reads is the safe side). No other folding: a ligature is not
 * two letters to either.
 */
export function folded(key: string): string {
  // Before toLowerCase: it writes İ as i and a combining dot, two characters.
  return key.replace(NON_ASCII_FOLDS, (c) => NON_ASCII_FOLD[c] as string).toLowerCase()
}

const NON_ASCII_FOLD: Readonly<Record<string, string>> = {
  '\u017F': 's',
  '\u212A': 'k',
  '\u0131': 'i',
  '\u0130': 'i',
}
const NON_ASCII_FOLDS = /[\u017F\u212A\u0131\u0130]/g

/**
 * A member that differs from one Portico reads only by case (`"Method"`, `"Name"`), if any.
 * JSON-RPC is case-sensitive, and Portico judges `method` and `params.name`; a parser that
 * matches members case-insensitively (Go's encoding/json) would read the other one.
 */
export function caseVariantMember(message: JsonRpcMessage): string | undefined {
  const top = variantIn(message as unknown as JsonObject, MESSAGE_MEMBERS)
  if (top !== undefined) return top
  const params = 'params' in message ? message.params : undefined
  if (!isObject(params)) return undefined
  const inParams = variantIn(params, PARAMS_MEMBERS)
  if (inParams !== undefined) return inParams
  // `completion/complete` names its prompt or resource in `params.ref`, a listen its
  // resources in `params.notifications`.
  if (isObject(params.ref)) {
    const inRef = variantIn(params.ref, REF_MEMBERS)
    if (inRef !== undefined) return inRef
  }
  return isObject(params.notifications)
    ? variantIn(params.notifications, NOTIFICATIONS_MEMBERS)
    : undefined
}

function variantIn(object: JsonObject, members: ReadonlyMap<string, string>): string | undefined {
  for (const key in object) {
    const member = members.get(folded(key))
    if (member !== undefined && member !== key) return key
  }
  return undefined
}
