/**
 * The operating tables: mcp-proxy's `[observability]` (audit, logs, Prometheus metrics,
 * OpenTelemetry tracing), mcpr's `[cloud]` event sink and `admin_bind`, and Portico's `[admin]`
 * (the admin API and its token). Kept apart from schema.ts so each surface's keys and rules
 * read in one place. Security keys fail closed: an admin API that would listen on a
 * non-loopback address without a token is a configuration error, never a warning.
 */
import { z } from 'zod'
import { hasHeader, urlCredentials } from '../http/headers.ts'
import { LOG_LEVEL_NAMES, type LogLevel, logLevelOf } from '../observe/logger.ts'
import { DEFAULT_PATHS } from './default-paths.ts'
import { timerMsSchema } from './duration-schema.ts'
import { servedPathSchema } from './served-path.ts'
import { WHOLE_FILE_ONLY } from './validate.ts'

/** An HTTP header name: an RFC 9110 token (also how auth.ts and otel-env.ts check one). */
export function isHeaderName(name: string): boolean {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)
}

/** Whether `value` can be sent as a header value: visible ASCII, spaces and tabs, Latin-1. */
export function isHeaderValue(value: string): boolean {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(value)
}

export const HEADER_VALUE_MESSAGE =
  'a header value holds visible ASCII or Latin-1 characters, spaces and tabs only (no line breaks or other control characters: a newline at the end of a variable?)'

/**
 * Headers the HTTP client sets from the request itself: one set by hand made every export fail
 * (`content-length = "5"`: "Request body length does not match content-length header").
 */
const TRANSPORT_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'expect',
  'te',
  'trailer',
])

/**
 * Headers no request would fail on: names that are tokens, values without line breaks, none of
 * the `reserved` ones the HTTP client sets itself. Accepted, each made every request fail.
 */
export function sendableHeadersSchema(reserved: ReadonlySet<string> = TRANSPORT_HEADERS) {
  return z
    .record(z.string(), z.string().refine(isHeaderValue, { message: HEADER_VALUE_MESSAGE }))
    .superRefine((headers, ctx) => {
      for (const name of Object.keys(headers)) {
        if (!isHeaderName(name)) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'expected an HTTP header name' })
        } else if (reserved.has(name.toLowerCase())) {
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: `${name} is set by the HTTP client from the request itself: leave it out`,
          })
        }
      }
    })
}

/** A backend may name its `Host` (a virtual host behind a shared address), not the rest. */
export const BACKEND_RESERVED_HEADERS: ReadonlySet<string> = new Set(
  [...TRANSPORT_HEADERS].filter((name) => name !== 'host'),
)

const exportHeadersSchema = sendableHeadersSchema()

/** An absolute http:// or https:// URL. */
export function isHttpUrl(value: string): boolean {
  return /^https?:\/\/[^/]+/i.test(value) && URL.canParse(value)
}

const httpUrl = z.string().refine(isHttpUrl, {
  message: 'expected an absolute http:// or https:// URL',
})

/** A batch sink's endpoint: its `user:password@`, if any, is sent as Basic authentication. */
const sinkUrl = httpUrl.refine(
  (value) => !URL.canParse(value) || urlCredentials(new URL(value)) !== 'malformed',
  { message: 'its user:password@ is not valid percent-encoding (write a % in them as %25)' },
)

const path = servedPathSchema

export const metricsSchema = z
  .strictObject({
    /** Serve Prometheus metrics at `path` on the main listener and at `/admin/metrics`. */
    enabled: z.boolean().default(false),
    path: path.default(DEFAULT_PATHS.metrics),
    /**
     * Distinct tool, prompt and resource names given their own label value; the rest (and any
     * name never seen answered successfully) are counted as `other`.
     */
    max_targets: z.number().int().min(0).max(10_000).default(100),
    /** Node process metrics (CPU, memory, event loop lag, GC). */
    process: z.boolean().default(true),
    /**
     * Also mcp-proxy's two series (`mcp_proxy_requests_total`, `mcp_proxy_request_duration_seconds`),
     * so its dashboards and alerts keep working.
     */
    mcp_proxy_names: z.boolean().default(false),
  })
  .prefault({})

export const tracingSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** OTLP/HTTP endpoint; `/v1/traces` is appended when the URL has no path. */
    endpoint: sinkUrl.default('http://localhost:4318'),
    /** The export encoding, as OTEL_EXPORTER_OTLP_PROTOCOL names it (binary protobuf by default, as OpenTelemetry's SDKs). */
    protocol: z.enum(['http/protobuf', 'http/json']).default('http/protobuf'),
    service_name: z.string().min(1).default('portico'),
    /** Share of new traces recorded (a client's sampled flag is followed when it sends one). */
    sample_ratio: z.number().min(0).max(1).default(1),
    /** Headers sent with each export (a collector's API key); never logged or shown. */
    headers: exportHeadersSchema.default({}),
    /** Spans buffered for export; beyond it spans are dropped and counted. */
    max_queue: z.number().int().positive().max(1_000_000).default(8192),
    /** Largest export request, in spans. */
    batch_size: z.number().int().positive().max(10_000).default(512),
    flush_interval_ms: timerMsSchema().int().positive().default(1000),
  })
  .superRefine((tracing, ctx) => {
    if (!hasCredentials(tracing.endpoint) || !hasHeader(tracing.headers, 'authorization')) return
    ctx.addIssue({
      code: 'custom',
      path: ['endpoint'],
      message:
        'has credentials (sent as Basic authentication) and headers sets Authorization too: keep one',
    })
  })
  .prefault({})

/** Whether a URL carries `user:password@` (sent as Basic authentication by the batch sinks). */
function hasCredentials(url: string | undefined): boolean {
  return url !== undefined && URL.canParse(url) && urlCredentials(new URL(url)) !== undefined
}

/** A log level's name: Portico's levels, and `trace` (mcp-proxy's finest), read as `debug`. */
export const logLevelSchema = z
  .enum(LOG_LEVEL_NAMES)
  .transform((name): LogLevel => logLevelOf(name) ?? 'info')

export const observabilitySchema = z
  .strictObject({
    /** One structured audit line per call (who, what, backend, outcome, duration). */
    audit: z.boolean().default(false),
    /** Same as the top-level key (mcp-proxy writes it here); the top level wins when both are set. */
    log_level: logLevelSchema.optional(),
    json_logs: z.boolean().optional(),
    /** mcp-proxy's access log table; same as the top-level `access_log`. */
    access_log: z.strictObject({ enabled: z.boolean().default(false) }).optional(),
    metrics: metricsSchema,
    tracing: tracingSchema,
  })
  .prefault({})

/** Where mcpr's cloud sink sends with a token and no `endpoint` (mcpr's own service). */
export const MCPR_CLOUD_ENDPOINT = 'https://api.mcpr.app/api/ingest-events'

/** mcpr's cloud sink: batches of events POSTed as JSON (to mcpr's cloud, or any endpoint). */
export const cloudSchema = z
  .strictObject({
    /** Sent as `Authorization: Bearer`; its presence enables the sink (as in mcpr). */
    token: z
      .string()
      .min(1)
      .refine(isHeaderValue, { message: `sent as Authorization: ${HEADER_VALUE_MESSAGE}` })
      .optional(),
    /** Server slug copied into every envelope. */
    server: z.string().default(''),
    /** Where batches go; setting it without a token makes a plain webhook. */
    endpoint: sinkUrl.optional(),
    batch_size: z.number().int().positive().max(10_000).default(100),
    flush_interval_ms: timerMsSchema().int().positive().default(5000),
    /** Events buffered (including a batch being sent); beyond it events are dropped and counted. */
    max_buffer: z.number().int().positive().max(1_000_000).default(10_000),
    /** Attempts per batch before it is dropped (mcpr: 3, waiting 1 s, 2 s, 4 s). */
    max_attempts: z.number().int().min(1).max(10).default(3),
  })
  .superRefine((cloud, ctx) => {
    if (cloud.token === undefined || !hasCredentials(cloud.endpoint)) return
    ctx.addIssue({
      code: 'custom',
      path: ['endpoint'],
      message:
        'has credentials (sent as Basic authentication) and token is set too (sent as Bearer): keep one',
    })
  })
  // Said in the config (`portico check --dump`, `GET /admin/config`): a reviewer sees that the
  // events leave for mcpr's service, not only the process that sends them.
  .transform((cloud) =>
    cloud.token !== undefined && cloud.endpoint === undefined
      ? { ...cloud, endpoint: MCPR_CLOUD_ENDPOINT }
      : cloud,
  )

/** `host:port` (IPv6 in brackets) or `none`. */
const bindSchema = z.string().refine((value) => value === 'none' || parseBind(value), {
  message: 'expected "host:port" (e.g. "127.0.0.1:9901") or "none"',
})

export const adminSchema = z
  .strictObject({
    /** Serve the admin API under `/admin` on the main listener (when `admin_bind` is unset). */
    enabled: z.boolean().default(false),
    /**
     * Bearer token every admin route (and the admin tools that change things) requires. Needed
     * whenever the admin API listens on a non-loopback address.
     */
    token: z.string().min(16, 'an admin token needs at least 16 characters').optional(),
  })
  .prefault({})

/** The dashboard and studio (src/dashboard/) as pages of the running proxy. */
export const dashboardSchema = z
  .strictObject({
    /** Serve the dashboard under `path` on the main listener (reads the `[store]`). */
    enabled: z.boolean().default(false),
    /** Where: a path starting and ending with `/`. */
    path: z
      .string()
      .regex(
        /^\/((?!\.{1,2}\/)[A-Za-z0-9._~-]+\/)+$/,
        'expected a path like "/_portico/" (starting and ending with /, without . or .. segments, which a browser resolves away)',
      )
      .default(DEFAULT_PATHS.dashboard),
  })
  .prefault({})

export const operateKeys = {
  observability: observabilitySchema,
  cloud: cloudSchema.optional(),
  /** mcpr's key: the admin API on its own listener (`host:port`), or `none`. */
  admin_bind: bindSchema.optional(),
  admin: adminSchema,
  dashboard: dashboardSchema,
}

export interface Bind {
  host: string
  port: number
}

export function parseBind(value: string): Bind | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(value.trim())
  if (!match) return undefined
  const port = Number(match[2])
  if (port > 65535) return undefined
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port }
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

interface OperateView {
  host: string
  port?: number | undefined
  admin_bind?: string | undefined
  admin: { enabled: boolean; token?: string | undefined }
  auth?: unknown
  security?: { admin_token?: string | undefined } | undefined
  dashboard?: { enabled: boolean; path: string }
  store?: { enabled: boolean }
}

/**
 * The token that proves admin rights on the admin API and `/metrics`: `[admin] token`, else
 * `[security] admin_token` (the auth issue's key), so one secret serves both.
 */
export function adminTokenOf(config: OperateView): string | undefined {
  return config.admin.token ?? config.security?.admin_token
}

/** Where the admin API listens: its own listener, the main one, or nowhere. */
export function adminPlacement(config: OperateView): { own: Bind } | { main: true } | undefined {
  if (config.admin_bind === 'none') return undefined
  const own = config.admin_bind === undefined ? undefined : parseBind(config.admin_bind)
  if (own) return { own }
  return config.admin.enabled ? { main: true } : undefined
}

/**
 * Fails closed: an admin API reachable from other hosts must have a token, and so must one
 * beside an authenticated MCP endpoint (`[auth]`: clients prove who they are; so do operators).
 */
export function refineOperate(config: OperateView, ctx: z.RefinementCtx): void {
  refineDashboard(config, ctx)
  if (config.admin.enabled && config.admin_bind !== undefined) {
    // One asks for /admin on the main listener, the other puts it elsewhere (or nowhere):
    // the first was ignored, and a request to the main /admin, its admin token with it, went
    // to the upstream.
    ctx.addIssue({
      code: 'custom',
      path: ['admin', 'enabled'],
      message: `[admin] enabled = true serves the admin API under /admin on the main listener, and admin_bind = "${config.admin_bind}" ${config.admin_bind === 'none' ? 'turns it off' : 'puts it on its own listener'}: keep one`,
    })
  }
  const placement = adminPlacement(config)
  if (placement !== undefined && 'own' in placement && takesMainAddress(placement.own, config)) {
    ctx.addIssue({
      code: 'custom',
      path: ['admin_bind'],
      message: `admin_bind ${placement.own.host}:${placement.own.port} is the main listener's own address: give the admin API another port (or leave admin_bind out and set [admin] enabled = true to serve it under /admin on the main listener)`,
    })
  }
  if (placement === undefined || adminTokenOf(config) !== undefined) return
  const path = 'own' in placement ? ['admin_bind'] : ['admin', 'enabled']
  if (config.auth !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path,
      message:
        'with [auth], the admin API needs a token: set [admin] token or [security] admin_token',
      // Missing from the whole file: a token set aside as invalid is not missing.
      params: WHOLE_FILE_ONLY,
    })
    return
  }
  const host = 'own' in placement ? placement.own.host : config.host
  if (isLoopbackHost(host)) return
  ctx.addIssue({
    code: 'custom',
    path,
    message: `the admin API would listen on ${host}, which is not a loopback address: set [admin] token (or bind it to 127.0.0.1)`,
    params: WHOLE_FILE_ONLY,
  })
}

/** Whether a listener at `bind` would take the main listener's port on an address it has. */
function takesMainAddress(bind: Bind, config: OperateView): boolean {
  if (bind.port === 0 || config.port === undefined || bind.port !== config.port) return false
  const any = (host: string) => host === '0.0.0.0' || host === '::'
  return bind.host === config.host || any(bind.host) || any(config.host)
}

/**
 * The dashboard shows every recorded call: like the admin API it needs the admin token on a
 * non-loopback listener and beside `[auth]`, and it reads the store, so the store must be on.
 */
function refineDashboard(config: OperateView, ctx: z.RefinementCtx): void {
  if (config.dashboard?.enabled !== true) return
  if (config.store?.enabled === false) {
    ctx.addIssue({
      code: 'custom',
      path: ['dashboard', 'enabled'],
      message: 'the dashboard reads the store: enable [store] (or turn the dashboard off)',
    })
  }
  if (adminTokenOf(config) !== undefined) return
  if (config.auth !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['dashboard', 'enabled'],
      message:
        'with [auth], the dashboard needs a token: set [admin] token or [security] admin_token',
    })
  } else if (!isLoopbackHost(config.host)) {
    ctx.addIssue({
      code: 'custom',
      path: ['dashboard', 'enabled'],
      message: `the dashboard would be served on ${config.host}, which is not a loopback address: set [admin] token (or listen on 127.0.0.1)`,
    })
  }
}
