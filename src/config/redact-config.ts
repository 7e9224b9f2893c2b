/**
 * The effective config with its secrets out, for `portico check --dump` (mcpr's `validate
 * --dump`). Fail closed: a key whose name says it may hold a credential has every value under
 * it replaced, whatever its shape; tables of values given to backends or injected into calls
 * (`env`, `headers`, `args`, `default_args`, `defaults`) keep their keys and lose their values;
 * every other string that is a URL loses its user-info and secret-looking query values.
 */
import type { JsonObject } from '../jsonrpc/message.ts'
import { REDACTED, redactUrl } from '../util/redact.ts'
import type { Config } from './schema.ts'

/** Keys that hold credentials (`token`, `tokens`, `admin_token`, `client_secret`, `key`, …). */
const SECRET_KEY = /token|secret|passw|credential|api_?key|^key$|authorization|cookie|signing/i

/** Settings whose names match `SECRET_KEY` but hold none. */
const NOT_SECRET = new Set([
  'token_validation',
  'forward_token',
  'bearer_token_env_var',
  'bearer_methods_supported',
  // A limit (tunnels one token may hold), not a credential.
  'max_tunnels_per_token',
])

/** Keys whose values are passed on to backends or calls: shown by name only. */
const PASSED_ON = new Set(['env', 'headers', 'http_headers', 'args', 'default_args', 'defaults'])

const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//

export function redactConfig(config: unknown): unknown {
  return walk(config, false)
}

function walk(value: unknown, secret: boolean): unknown {
  if (value === null || value === undefined) return value
  if (Array.isArray(value)) return value.map((item) => walk(item, secret))
  if (value instanceof Map) return walk(Object.fromEntries(value), secret)
  if (value instanceof Set) return walk([...value], secret)
  if (typeof value === 'object') {
    if (value instanceof RegExp) return secret ? REDACTED : String(value)
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      const hides = (SECRET_KEY.test(key) && !NOT_SECRET.has(key)) || PASSED_ON.has(key)
      out[key] = walk(item, secret || hides)
    }
    return out
  }
  if (secret) return REDACTED
  if (typeof value === 'string' && URL_LIKE.test(value)) {
    // Shown as written unless something in it is a secret (redactUrl normalises a URL).
    const redacted = redactUrl(value)
    return redacted.includes(REDACTED) ? redacted : value
  }
  if (typeof value === 'function' || typeof value === 'symbol') return undefined
  return value
}

/**
 * The running config's subset the admin API (`GET /admin/config`) and the `config` admin tool
 * show (plus `more`: transparent mode's upstream), with its secrets out by the one redaction
 * `portico check --dump` uses (by key name, fail closed: config/redact-config.ts), so the
 * surfaces cannot disagree on what is secret. Names (keys, tools) stay, so the shape is readable.
 */
export function redactedConfig(config: Config, more: JsonObject = {}): JsonObject {
  return redactConfig({
    name: config.name ?? null,
    port: config.port,
    mcp_path: config.mcp_path,
    request_timeout_ms: config.request_timeout,
    proxy: config.proxy,
    backends: config.backends ?? [],
    ...more,
  }) as JsonObject
}
