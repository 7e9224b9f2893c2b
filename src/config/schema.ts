/**
 * The configuration schema: the single source of truth for every key Portico reads. The
 * `Config` type is inferred from it. Keys follow mcpr (`mcp`, `widgets`, `port`, …) and
 * mcp-proxy where they exist, so their users can bring their files over.
 */
import { z } from 'zod'
import { urlCredentials } from '../http/headers.ts'
import { lookupTable } from '../util/lookup-table.ts'
import { authProblems, authSchema, securitySchema } from './auth.ts'
import { cspDomainAlias, cspSchema, hasPlainHost, isBareOrigin, PLAIN_HOST_MESSAGE } from './csp.ts'
import { DEFAULT_PATHS } from './default-paths.ts'
import { parseDuration } from './duration.ts'
import { durationSchema } from './duration-schema.ts'
import {
  backendsSchema,
  compositeToolsSchema,
  gatewayProxySchema,
  refineGateway,
} from './gateway.ts'
import { listenHostSchema } from './listen-host.ts'
import { refineNameRules } from './name-rules.ts'
import { logLevelSchema, operateKeys, refineOperate } from './operate.ts'
import { refinePaths } from './paths.ts'
import { performanceSchema, protectTables, sharedSchema, timeoutSchema } from './protect.ts'
import { servedPathSchema } from './served-path.ts'
import { relaySchema, tunnelSchema } from './tunnel.ts'
import { refineWorkers, workersSchema } from './workers.ts'

const httpUrl = z
  .string()
  .refine((value) => /^https?:\/\/[^/]+/i.test(value) && URL.canParse(value), {
    message: 'expected an absolute http:// or https:// URL',
  })
  // An upstream's user:password@, if any, is sent as Basic authentication.
  .refine((value) => !URL.canParse(value) || urlCredentials(new URL(value)) !== 'malformed', {
    message: 'its user:password@ is not valid percent-encoding (write a % in them as %25)',
  })

const path = servedPathSchema

export const storeSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    path: z.string().min(1).optional(),
    retention: z
      .string()
      .refine((v) => parseDuration(v) !== undefined, 'expected a duration like "30d"')
      .optional(),
  })
  .default({ enabled: true })

export const configSchema = z
  .strictObject({
    /** Proxy identity: tags every stored row. Defaults to a name derived from the upstream. */
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected 1-64 letters, digits, ".", "_" or "-"')
      .optional(),
    /** The upstream MCP endpoint (`mcp` is mcpr's name for it). */
    upstream: httpUrl.optional(),
    /** Where non-MCP traffic (widget HTML/JS/CSS) goes: a dev-server URL or a static folder. */
    widgets: z
      .string()
      .min(1)
      // A dev server's URL is used for its origin alone: a path, query or credentials in it were
      // dropped without a word (its assets were asked at `/main.js`, not `/app/main.js`).
      .refine(
        (value) => !/^https?:\/\//i.test(value) || !URL.canParse(value) || isBareOrigin(value),
        {
          message:
            'a widgets URL is used for its origin alone (scheme, host, port): remove its path, query or user:password@',
        },
      )
      .optional(),
    host: listenHostSchema.default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(3000),
    /**
     * Processes serving the listener (`portico run`, transparent mode): 1, N, or "auto" (one per
     * core). See src/config/workers.ts for what cannot be spread over several.
     */
    workers: workersSchema,
    /** Path of the Streamable HTTP endpoint Portico serves. */
    mcp_path: path.default(DEFAULT_PATHS.mcp),
    /** Path of the legacy HTTP+SSE stream endpoint Portico serves. */
    sse_path: path.default(DEFAULT_PATHS.sse),
    /** The public origin clients reach Portico at (used in rewritten URLs). */
    public_url: httpUrl.refine(hasPlainHost, { message: PLAIN_HOST_MESSAGE }).optional(),
    /** Extra Origins allowed besides localhost ones; "*" allows any. */
    allowed_origins: z.array(z.string().min(1)).default([]),
    /** Host-header names accepted besides the listener's own (DNS-rebinding guard); "*" = any. */
    allowed_hosts: z.array(z.string().min(1)).default([]),
    max_request_body_size: z
      .number()
      .int()
      .positive()
      .default(4 * 1024 * 1024),
    max_response_body_size: z
      .number()
      .int()
      .positive()
      .default(16 * 1024 * 1024),
    /** Time allowed for the upstream to start answering (and to finish a JSON answer). */
    request_timeout: durationSchema.default(60_000),
    connect_timeout: durationSchema.default(10_000),
    drain_timeout: durationSchema.default(30_000),
    /** Time a client may take to send a request's headers (slowloris); nginx's client_header_timeout. */
    client_header_timeout: durationSchema.default(20_000),
    /** Time a client may take to send a whole request, body included. */
    client_request_timeout: durationSchema.default(60_000),
    /**
     * Time a client may take nothing of an answer Portico is sending before it is disconnected;
     * nginx's send_timeout (between two reads of the client, not for the whole answer).
     */
    send_timeout: durationSchema.default(60_000),
    /** How long an idle keep-alive connection is kept open. */
    keepalive_timeout: durationSchema.default(65_000),
    /** Open client connections at most; more are refused at accept. */
    max_connections: z.number().int().positive().default(10_000),
    /**
     * Bytes a request's line and headers may take (Node's 16 KB by default; nginx's
     * large_client_header_buffers): a large JWT, or many cookies, may need more. Past it: 431.
     */
    max_header_size: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024)
      .default(16 * 1024),
    log_level: logLevelSchema.default('info'),
    json_logs: z.boolean().default(false),
    /** Print one line per exchange on stderr (default: when stderr is a TTY). */
    access_log: z.boolean().optional(),
    store: storeSchema,
    /** MCP Apps widget CSP rewriting (see src/csp/). */
    csp: cspSchema.optional(),
    /** Gateway mode: many MCP backends behind one endpoint (see src/config/gateway.ts). */
    backends: backendsSchema.optional(),
    proxy: gatewayProxySchema,
    /** mcp-proxy's fan-out tools (gateway mode; src/gateway/composite.ts). */
    composite_tools: compositeToolsSchema,
    /**
     * Traffic protection of the transparent upstream, and the defaults of every gateway
     * backend without a table of its own (src/config/protect.ts).
     */
    timeout: timeoutSchema,
    ...protectTables,
    /** mcpr: the most calls in flight to the upstream (a `[concurrency] max_concurrent`). */
    max_concurrent_upstream: z.number().int().positive().optional(),
    performance: performanceSchema,
    /** Caches and rate limits shared by replicas through Redis (src/protect/redis-store.ts). */
    shared: sharedSchema,
    /** Authentication and authorization of clients (see src/config/auth.ts, src/auth/). */
    auth: authSchema.optional(),
    /** Argument limits, admin credential, IP rules, tool pinning. */
    security: securitySchema,
    /** Metrics, tracing, audit, the cloud sink and the admin API (see src/config/operate.ts). */
    ...operateKeys,
    /** mcpr's tunnel client: publish this Portico through a relay (src/tunnel/). */
    tunnel: tunnelSchema.optional(),
    /** mcpr 0.1's key of its `--no-tunnel`: true serves locally even with `[tunnel]` enabled. */
    no_tunnel: z.boolean().optional(),
    /** mcpr's relay server, run by `portico relay` (src/relay/). */
    relay: relaySchema.optional(),
  })
  .superRefine(refineGateway)
  .superRefine(refineNameRules)
  .superRefine(refineOperate)
  .superRefine(refineWorkers)
  .superRefine(refinePaths)
  .superRefine((config, ctx) => {
    for (const problem of authProblems(config)) ctx.addIssue({ code: 'custom', ...problem })
  })
  .superRefine(refineConcurrencyAlias)
  .superRefine(refineCspDomain)
  .transform(adoptCspDomain)

/**
 * mcpr's `max_concurrent_upstream` is a `[concurrency] max_concurrent`: both set and different,
 * neither wins (the table's was taken and the other dropped without a word).
 */
function refineConcurrencyAlias(
  config: {
    max_concurrent_upstream?: number | undefined
    concurrency?: { max_concurrent: number } | undefined
  },
  ctx: z.RefinementCtx,
): void {
  const alias = config.max_concurrent_upstream
  const table = config.concurrency?.max_concurrent
  if (alias === undefined || table === undefined || alias === table) return
  ctx.addIssue({
    code: 'custom',
    path: ['max_concurrent_upstream'],
    message: `max_concurrent_upstream (${alias}) and [concurrency] max_concurrent (${table}) name one setting and disagree: keep one`,
  })
}

/**
 * `[csp] domain` and `public_url` both name where clients reach Portico: two different hosts
 * made widget metadata that contradicts itself (`connect_domains` one host, `widgetDomain` the
 * other), the domain ignored but for one field.
 */
function refineCspDomain(
  config: { public_url?: string | undefined; csp?: { domain?: string | undefined } | undefined },
  ctx: z.RefinementCtx,
): void {
  const alias = cspDomainAlias(config.csp?.domain)
  if (alias === undefined || config.public_url === undefined) return
  if (!URL.canParse(config.public_url)) return // said at public_url itself
  const host = new URL(config.public_url).host
  if (host === alias.host) return
  ctx.addIssue({
    code: 'custom',
    path: ['csp', 'domain'],
    message: `[csp] domain (${alias.host}) and public_url (${host}) both name where clients reach Portico and disagree: keep one`,
  })
}

/**
 * mcpr's `[csp] domain` is the name clients reach it by: read as `public_url =
 * "https://<domain>"` when `public_url` is not set, so the Host check, the OAuth metadata, the
 * admin routes and the widget CSP all know it (only the CSP rewrite read it, and a request
 * with `Host: <domain>` was refused).
 */
function adoptCspDomain<
  T extends { public_url?: string | undefined; csp?: { domain?: string | undefined } | undefined },
>(config: T): T {
  const alias = config.public_url === undefined ? cspDomainAlias(config.csp?.domain) : undefined
  return alias === undefined ? config : { ...config, public_url: alias.origin }
}

export type ConfigInput = z.input<typeof configSchema>
export type Config = z.output<typeof configSchema>

/**
 * Configs that already went through the schema. Parsing is not idempotent (a number of
 * seconds becomes milliseconds), so a parsed config must never be parsed again.
 */
const PARSED = new WeakSet<object>()

/** Whether `input` came out of the schema (its durations are milliseconds already). */
export function isParsedConfig(input: Config | ConfigInput): input is Config {
  return PARSED.has(input)
}

export function markParsed(config: Config): Config {
  PARSED.add(config)
  return config
}

/** Parses raw input into a Config, or returns an already-parsed Config unchanged. */
export function parseConfig(input: Config | ConfigInput): Config {
  if (PARSED.has(input)) return input as Config
  return markParsed(configSchema.parse(input))
}

/** mcpr spellings accepted as aliases of Portico keys. */
export const KEY_ALIASES: Readonly<Record<string, string>> = lookupTable({
  mcp: 'upstream',
  log_format: 'json_logs',
})

/** Keys of other tools that Portico accepts and ignores, with a warning. */
export const IGNORED_KEYS: ReadonlySet<string> = new Set(['mode'])
