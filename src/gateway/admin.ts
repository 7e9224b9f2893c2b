/**
 * Portico's own MCP tools under the reserved `portico` namespace, served by the gateway itself:
 * - admin (`[proxy] admin_tools`, default on): mcp-proxy's `list_backends`, `health_check`,
 *   `session_count`, `add_backend`, `config` with its result shapes, and Portico's `backends`
 *   and `sessions`. `add_backend` changes the gateway, so it needs the admin token
 *   (`Authorization: Bearer`) and is refused when none is configured; the config is redacted.
 * - discovery (`tool_discovery`, or `tool_exposure = "search"`): `search_tools`,
 *   `similar_tools`, `tool_categories` over a BM25 index of the backends' tools.
 * - `call_tool` (search mode): calls a tool by name through the whole global chain (auth,
 *   filters, limits, tracing) exactly as a direct call would; mcp-proxy's bypasses all of it.
 */

import { adminPrefix } from '../config/gateway.ts'
import { adminTokenOf } from '../config/operate.ts'
import { redactedConfig } from '../config/redact-config.ts'
import type { Config } from '../config/schema.ts'
import { adminCredential } from '../edge/admin-token.ts'
import { PorticoError } from '../errors.ts'
import type { HeaderMap } from '../http/headers.ts'
import { isObject, type JsonObject, type JsonRpcErrorObject } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import { redactUrl } from '../util/redact.ts'
import { VERSION } from '../version.ts'
import { backendStatus } from './backend-status.ts'
import type { SessionRef } from './backends/backend.ts'
import { checkedQuery, toolIndex } from './discovery.ts'
import type { Gateway } from './gateway.ts'
import { callThroughChain } from './reenter.ts'

interface ToolSpec {
  name: string
  description: string
  properties?: JsonObject
  required?: string[]
  readOnly?: boolean
}

const ADMIN_TOOLS: readonly ToolSpec[] = [
  { name: 'backends', description: 'List the gateway backends with their health and connections.' },
  { name: 'sessions', description: 'Count the client sessions connected to the gateway.' },
  { name: 'config', description: 'Show the running gateway configuration (secrets redacted).' },
  { name: 'list_backends', description: 'List backends with their health status (mcp-proxy).' },
  { name: 'health_check', description: 'Health summary of every backend (mcp-proxy).' },
  { name: 'session_count', description: 'Active client session count (mcp-proxy).' },
  {
    name: 'add_backend',
    description:
      'Add an HTTP or stdio backend at runtime, with the same middleware as configured ones (needs the admin token).',
    properties: {
      name: { type: 'string', description: 'Backend name (the tool prefix)' },
      url: { type: 'string', description: 'MCP endpoint of an HTTP backend' },
      transport: { type: 'string', enum: ['http', 'sse', 'websocket', 'stdio'] },
      command: { type: 'string', description: 'Command of a stdio backend' },
      args: { type: 'array', items: { type: 'string' } },
    },
    required: ['name'],
    readOnly: false,
  },
]

const DISCOVERY_TOOLS: readonly ToolSpec[] = [
  {
    name: 'search_tools',
    description:
      'Search every backend tool by what it does (BM25 over names, descriptions, parameters).',
    properties: {
      query: { type: 'string' },
      top_k: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
    },
    required: ['query'],
  },
  {
    name: 'similar_tools',
    description: 'Tools similar to one tool (by its id, as search_tools returns it).',
    properties: {
      tool_id: { type: 'string' },
      top_k: { type: 'integer', minimum: 1, maximum: 100, default: 5 },
    },
    required: ['tool_id'],
  },
  { name: 'tool_categories', description: 'Tool counts per backend, largest first.' },
]

const CALL_TOOL: ToolSpec = {
  name: 'call_tool',
  description: 'Call any backend tool by the id search_tools returns, with its arguments.',
  properties: { name: { type: 'string' }, arguments: { type: 'object' } },
  required: ['name'],
  readOnly: false,
}

function specsOf(gateway: Gateway): ToolSpec[] {
  const proxy = gateway.proxy
  const search = proxy.tool_exposure === 'search'
  return [
    ...(proxy.admin_tools ? ADMIN_TOOLS : []),
    ...(proxy.tool_discovery || search ? DISCOVERY_TOOLS : []),
    ...(search ? [CALL_TOOL] : []),
  ]
}

/** Whether the gateway serves any tool of its own. */
export function servesOwnTools(gateway: Gateway): boolean {
  return specsOf(gateway).length > 0
}

/** Tool definitions as they appear in `tools/list`. */
export function adminTools(gateway: Gateway): JsonObject[] {
  const prefix = adminPrefix(gateway.proxy.separator)
  return specsOf(gateway).map((tool) => ({
    name: `${prefix}${tool.name}`,
    description: tool.description,
    inputSchema: {
      type: 'object',
      properties: tool.properties ?? {},
      ...(tool.required ? { required: tool.required } : {}),
    },
    annotations: { readOnlyHint: tool.readOnly ?? true, openWorldHint: false },
  }))
}

export interface AdminAnswer {
  result?: JsonObject
  error?: JsonRpcErrorObject
  /** False for call_tool: the backend the inner call reached is the one to record. */
  ownBackend: boolean
  /** call_tool: Portico refused the inner call (reenter.ts `InnerAnswer.refusal`). */
  refusal?: { status: number; headers: HeaderMap }
}

export async function callAdminTool(
  gateway: Gateway,
  name: string,
  params: JsonObject,
  call: Call,
  session: SessionRef,
): Promise<AdminAnswer> {
  const local = name.slice(adminPrefix(gateway.proxy.separator).length)
  if (!specsOf(gateway).some((tool) => tool.name === local)) {
    throw new PorticoError('invalid_params', { message: `Unknown tool: ${name}` })
  }
  const args = isObject(params.arguments) ? params.arguments : {}
  if (local === 'call_tool') return callTool(gateway, args, params, call)
  if (local === 'add_backend')
    return { result: await addBackend(gateway, args, call), ownBackend: true }
  const value = await adminValue(gateway, local, args, call, session)
  return { result: asResult(value), ownBackend: true }
}

function asResult(value: unknown, isError = false): JsonObject {
  return {
    content: [{ type: 'text', text: JSON.stringify(value, null, 2) }],
    ...(isObject(value) ? { structuredContent: value } : {}),
    ...(isError ? { isError: true } : {}),
  }
}

async function adminValue(
  gateway: Gateway,
  tool: string,
  args: JsonObject,
  call: Call,
  session: SessionRef,
): Promise<unknown> {
  // The caller's own view of the tools, listed on its own session (never the gateway's,
  // which would start a per-session process no client owns).
  const index = () => toolIndex(gateway, call, session)
  const statuses = () => gateway.backends().map((b) => backendStatus(b.health()))
  switch (tool) {
    case 'backends':
      return { backends: gateway.backends().map((b) => ({ ...b.health() })) }
    case 'sessions':
      return {
        active_sessions: gateway.sessions.size,
        // Messages lost because a client did not read its stream (bounded per session).
        dropped_messages: [...gateway.sessions.values()].reduce((sum, s) => sum + s.dropped, 0),
        evicted_sessions: gateway.sessions.evicted,
        backends: Object.fromEntries(
          gateway.backends().map((b) => [b.name, b.health().connections]),
        ),
      }
    case 'config':
      return redactedConfig(gateway.config)
    case 'list_backends': {
      const backends = statuses()
      return {
        proxy_name: gateway.proxy.name ?? gateway.config.name ?? 'portico',
        proxy_version: gateway.proxy.version ?? VERSION,
        backend_count: backends.length,
        backends,
      }
    }
    case 'health_check': {
      const backends = statuses()
      const healthy = backends.filter((b) => b.healthy === true).length
      return {
        status: healthy === backends.length ? 'healthy' : 'degraded',
        healthy_count: healthy,
        total_count: backends.length,
        backends,
      }
    }
    case 'session_count':
      return { active_sessions: gateway.sessions.size }
    case 'search_tools': {
      const query = checkedQuery(stringArg(args, 'query'))
      return (await index()).search(query, topK(args, 10), call.visible)
    }
    case 'similar_tools': {
      const id = stringArg(args, 'tool_id')
      const similar = (await index()).similar(id, topK(args, 5), call.visible)
      if (similar === undefined)
        throw new PorticoError('invalid_params', { message: `Unknown tool: ${id}` })
      return similar
    }
    case 'tool_categories':
      return (await index()).categories(call.visible)
    default:
      throw new PorticoError('invalid_params', { message: `Unknown tool: ${tool}` })
  }
}

/**
 * Adds a backend for a caller with admin rights: an identity authentication marked admin (an
 * admin API key or role, `[security] admin_token`), or, without `[auth]`, the `[admin] token`.
 * Refused (isError) otherwise, and always when neither is configured.
 */
async function addBackend(gateway: Gateway, args: JsonObject, call: Call): Promise<JsonObject> {
  const refusal = adminRefusal(gateway.config, call)
  if (refusal !== undefined) return asText(refusal, true)
  const input =
    args.transport === undefined && typeof args.url === 'string'
      ? { ...args, transport: 'http' }
      : args
  const name = typeof input.name === 'string' ? input.name : '?'
  try {
    const added = await gateway.addBackend(input)
    // Logged as the admin API logs its changes: the tool starts processes too.
    gateway.logger.info('admin: backend added', {
      backend: added.name,
      by: call.request.remoteAddress ?? 'unknown',
      via: 'portico__add_backend',
      ...(call.identity === undefined ? {} : { user: call.identity.subject }),
    })
    gateway.announceListChanges()
    // The url as `config` shows it: credentials in it are not echoed back.
    const where =
      added.transport === 'stdio' ? `(stdio: ${added.command})` : `at ${redactUrl(added.url ?? '')}`
    return asText(`Backend '${added.name}' added successfully ${where}`)
  } catch (error) {
    const message = error instanceof PorticoError ? error.message : String(error)
    return asText(`Failed to add backend '${name}': ${message}`, true)
  }
}

function adminRefusal(config: Config, call: Call): string | undefined {
  if (call.identity?.admin === true) return undefined
  const credential = adminCredential(adminTokenOf(config))
  if (credential.configured && credential.verify(call.headers)) return undefined
  if (config.auth !== undefined) {
    return 'Refused: add_backend needs admin rights (the admin token, or an admin API key or role)'
  }
  if (!credential.configured) {
    return 'Refused: add_backend needs an admin token ([admin] token) to be configured'
  }
  return 'Refused: add_backend needs the admin token (Authorization: Bearer)'
}

function asText(text: string, isError = false): JsonObject {
  return { content: [{ type: 'text', text }], ...(isError ? { isError: true } : {}) }
}

/** Search mode's `call_tool`: the named tool, called as a direct call would be (reenter.ts). */
async function callTool(
  gateway: Gateway,
  args: JsonObject,
  params: JsonObject,
  call: Call,
): Promise<AdminAnswer> {
  const target = stringArg(args, 'name')
  if (target.startsWith(adminPrefix(gateway.proxy.separator))) {
    throw new PorticoError('invalid_params', { message: 'call_tool calls backend tools only' })
  }
  call.notes.ranTool = target
  const answer = await callThroughChain(gateway, call, {
    name: target,
    arguments: args.arguments,
    meta: params._meta,
    countsAsRequest: true,
    // A retry of an `input_required`: its answers go on with or without a state (a backend
    // may ask without one).
    ...(params.requestState === undefined && params.inputResponses === undefined
      ? {}
      : { resume: { requestState: params.requestState, inputResponses: params.inputResponses } }),
  })
  if (answer === undefined) throw new PorticoError('upstream_bad_response')
  const { response, refusal } = answer
  if (response.error) {
    return { error: response.error, ownBackend: false, ...(refusal ? { refusal } : {}) }
  }
  return { result: isObject(response.result) ? response.result : {}, ownBackend: false }
}

function stringArg(args: JsonObject, key: string): string {
  const value = args[key]
  if (typeof value !== 'string' || value === '') {
    throw new PorticoError('invalid_params', {
      message: `Invalid params: "${key}" must be a string`,
    })
  }
  return value
}

function topK(args: JsonObject, fallback: number): number {
  const value = args.top_k
  return typeof value === 'number' && Number.isInteger(value) && value > 0
    ? Math.min(value, 100)
    : fallback
}
