/**
 * Portico's own MCP tools under the reserved `portico` namespace: backends with health,
 * session counts, and the running config with every secret redacted. Served by the gateway
 * itself, never forwarded; `[proxy] admin_tools = false` turns them off.
 */

import { ADMIN_NAMESPACE } from '../config/gateway.ts'
import type { Config } from '../config/schema.ts'
import { PorticoError } from '../errors.ts'
import type { JsonObject } from '../jsonrpc/message.ts'
import { REDACTED, redactUrl } from '../util/redact.ts'
import type { Gateway } from './gateway.ts'

const TOOLS: ReadonlyArray<{ name: string; description: string }> = [
  { name: 'backends', description: 'List the gateway backends with their health and connections.' },
  { name: 'sessions', description: 'Count the client sessions connected to the gateway.' },
  { name: 'config', description: 'Show the running gateway configuration (secrets redacted).' },
]

export function adminPrefix(separator: string): string {
  return `${ADMIN_NAMESPACE}${separator}`
}

/** Tool definitions as they appear in `tools/list`. */
export function adminTools(separator: string): JsonObject[] {
  return TOOLS.map((tool) => ({
    name: `${adminPrefix(separator)}${tool.name}`,
    description: tool.description,
    inputSchema: { type: 'object', properties: {} },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }))
}

export function callAdminTool(gateway: Gateway, name: string): JsonObject {
  const local = name.slice(adminPrefix(gateway.proxy.separator).length)
  const value = adminValue(gateway, local)
  return {
    content: [{ type: 'text', text: JSON.stringify(value, null, 2) }],
    structuredContent: value,
  }
}

function adminValue(gateway: Gateway, tool: string): JsonObject {
  switch (tool) {
    case 'backends':
      return { backends: gateway.backends().map((b) => ({ ...b.health() })) }
    case 'sessions':
      return {
        active_sessions: gateway.sessions.size,
        backends: Object.fromEntries(
          gateway.backends().map((b) => [b.name, b.health().connections]),
        ),
      }
    case 'config':
      return redactedConfig(gateway.config)
    default:
      throw new PorticoError('invalid_params', { message: `Unknown tool: ${tool}` })
  }
}

/**
 * The config with every value that may hold a secret replaced: tokens, header and env values,
 * URL credentials, command-line arguments (API keys are often passed as `--api-key=…`) and
 * injected or default argument values. Names (keys, tools) stay, so the shape is readable.
 */
export function redactedConfig(config: Config): JsonObject {
  const backends = (config.backends ?? []).map((backend) => ({
    ...backend,
    env: mapValues(backend.env),
    headers: mapValues(backend.headers),
    args: backend.args.map(() => REDACTED),
    default_args: mapValues(backend.default_args),
    inject_args: backend.inject_args.map((rule) => ({ ...rule, args: mapValues(rule.args) })),
    ...(backend.bearer_token ? { bearer_token: REDACTED } : {}),
    ...(backend.url ? { url: redactUrl(backend.url) } : {}),
  }))
  return {
    name: config.name ?? null,
    port: config.port,
    mcp_path: config.mcp_path,
    request_timeout_ms: config.request_timeout,
    proxy: { ...config.proxy },
    backends,
  }
}

function mapValues(record: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.keys(record).map((key) => [key, REDACTED]))
}
