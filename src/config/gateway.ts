/**
 * Gateway-mode configuration: the `[[backends]]` tables (mcp-proxy's keys) and the `[proxy]`
 * table, with every cross-field rule checked up front so `portico check` reports bad names,
 * missing commands or URLs, conflicting filters and ambiguous prefixes before anything runs.
 */
import { z } from 'zod'
import { hasHeader, urlCredentials } from '../http/headers.ts'
import { durationSchema, timerSecondsOrZeroSchema } from './duration-schema.ts'
import {
  BACKEND_RESERVED_HEADERS,
  HEADER_VALUE_MESSAGE,
  isHeaderValue,
  sendableHeadersSchema,
} from './operate.ts'
import { patternProblem } from './patterns.ts'
import {
  globalRateLimitSchema,
  protectTables,
  routingKeys,
  routingProblems,
  timeoutSchema,
} from './protect.ts'
import { isResourceUri, isValidResourceUri, namespaceUri, unnamespaceUri } from './resource-uri.ts'

/** Name prefix of Portico's own admin tools; no backend may use it. */
export const ADMIN_NAMESPACE = 'portico'

/** The prefix of Portico's own tools (`portico__`), with the configured separator. */
export function adminPrefix(separator: string): string {
  return `${ADMIN_NAMESPACE}${separator}`
}

/**
 * Portico's tools under the namespace that any caller may use (tool discovery and search
 * mode's `call_tool`, whose inner call is authorized like a direct one); the others need
 * admin rights whenever `[auth]` is set.
 */
export const OPEN_PORTICO_TOOLS: readonly string[] = [
  'search_tools',
  'similar_tools',
  'tool_categories',
  'call_tool',
]

/** What an LLM API accepts as a tool name (Anthropic, OpenAI): the portable subset of MCP's. */
export const PORTABLE_NAME = /^[A-Za-z0-9_-]{1,64}$/

/** A glob (`*`, `?`), or mcp-proxy's `re:<regex>` (unanchored), checked to compile here. */
const pattern = z
  .string()
  .min(1)
  .superRefine((pattern, ctx) => {
    const problem = patternProblem(pattern)
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
  })
const patterns = z.array(pattern).default([])
/**
 * An `expose_*` list. Empty, it is refused: mcp-proxy read it as no filter (every item
 * exposed), a reader may take it for "nothing exposed", and Portico's own import of a client's
 * empty include list exposes nothing. Absent, it is the empty array: no filter.
 */
const exposeList = z
  .array(pattern)
  .min(1, {
    message:
      'an empty expose list is refused (mcp-proxy read it as exposing everything): leave the key out to expose everything, or write the matching hide list as ["*"] to expose nothing',
  })
  .optional()
  .transform((value) => value ?? [])

/**
 * What a stdio backend's process is given (command, args, env, cwd): no NUL, which no process
 * can take. Let through, the start failed with Node's error quoting the value (an env secret)
 * in every client's error, `/readyz` and the log.
 */
const processText = z.string().refine((value) => !value.includes('\u0000'), {
  message: 'holds a NUL character, which cannot be passed to a process',
})

/** What a tool or prompt alias may rename to (it is prefixed with the backend's name). */
const TOOL_ALIAS = /^[A-Za-z0-9_-]+$/

/**
 * `[[backends.aliases]]`: a tool or prompt renamed (`from` its own name, `to` a local name the
 * backend's prefix goes before), or a resource renamed (`from` its own URI, `to` the exact URI
 * clients see, checked across backends by `resourceAliasProblems`).
 */
const aliasSchema = z.strictObject({
  /** The backend's own tool or prompt name, or its own resource URI. */
  from: z.string().min(1),
  /** The new local name (still prefixed), or for a resource the URI clients see as it is. */
  to: z.string().min(1).optional(),
  /** Replaces the description clients see. */
  description: z.string().optional(),
})

const injectSchema = z.strictObject({
  /** Backend-local tool name (a glob: `*` and `?`, or `re:<regex>`). */
  tool: pattern,
  args: z.record(z.string(), z.unknown()),
  /** Replace values the client sent (otherwise only missing keys are filled). */
  overwrite: z.boolean().default(false),
})

/** A parameter name as a JSON Schema property: any non-empty string. */
const parameterName = z.string().min(1)

/**
 * `[[backends.param_overrides]]` (mcp-proxy's keys): how one tool's parameters look to
 * clients. Hidden parameters leave the schema and are dropped from calls; `defaults` fill
 * parameters the call lacks; `rename` shows a parameter under another name.
 */
const paramOverrideSchema = z.strictObject({
  /** The backend's own tool name (before aliases and namespacing, like the filters). */
  tool: z.string().min(1),
  hide: z.array(parameterName).default([]),
  defaults: z.record(parameterName, z.unknown()).default({}),
  /** Backend's parameter name → the name clients see. */
  rename: z.record(parameterName, parameterName).default({}),
})

export type ParamOverride = z.output<typeof paramOverrideSchema>

/** A backend's name: it prefixes every tool name, and LLM APIs accept only these. */
export const BACKEND_NAME = /^[A-Za-z0-9_-]{1,32}$/

export const backendSchema = z.strictObject({
  name: z
    .string()
    .regex(
      BACKEND_NAME,
      'expected 1-32 of [A-Za-z0-9_-] (it prefixes every tool name, and LLM APIs accept only those)',
    ),
  transport: z.enum(['stdio', 'http', 'sse', 'websocket']),
  /**
   * Prefix this backend's tool/prompt names and resource URIs with `{name}{separator}`. Off
   * exposes the backend's own names, which is allowed only for a gateway's single backend
   * (nothing else can then claim the same name).
   */
  namespace: z.boolean().default(true),
  command: processText.pipe(z.string().min(1)).optional(),
  args: z.array(processText).default([]),
  env: z.record(processText, processText).default({}),
  /** Give a stdio backend Portico's whole environment (default: PATH, HOME, locale and `env`). */
  inherit_env: z.boolean().default(false),
  cwd: processText.pipe(z.string().min(1)).optional(),
  /** http and sse: `http(s)://`; websocket: `ws(s)://` (checked with the transport below). */
  url: z
    .string()
    .refine((value) => /^(https?|wss?):\/\//i.test(value) && URL.canParse(value), {
      message: 'expected an absolute http://, https://, ws:// or wss:// URL',
    })
    // Its user:password@, if any, is sent as Basic authentication (as mcp-proxy sends it).
    .refine((value) => !URL.canParse(value) || urlCredentials(new URL(value)) !== 'malformed', {
      message: 'its user:password@ is not valid percent-encoding (write a % in them as %25)',
    })
    .optional(),
  // Sent with every request: a value no header can carry (a secret's trailing newline) failed
  // every call as "unreachable", the backend left out of every list without a word.
  headers: sendableHeadersSchema(BACKEND_RESERVED_HEADERS).default({}),
  bearer_token: z
    .string()
    .min(1)
    .refine(isHeaderValue, { message: `sent as Authorization: ${HEADER_VALUE_MESSAGE}` })
    .optional(),
  /** Send the client's verified token on to this backend (needs [auth]; HTTP backends only). */
  forward_auth: z.boolean().default(false),
  /**
   * The MCP revision an `http` backend is reached in: `auto` asks `server/discover` first and
   * takes 2026-07-28 when the backend serves it, else `initialize` (2025-11-25); a revision
   * given is used as it is. Other transports speak 2025-11-25.
   */
  protocol_version: z.enum(['auto', '2025-11-25', '2026-07-28']).default('auto'),
  /** stdio: one process shared by all clients (ids remapped), or one per client session. */
  isolation: z.enum(['shared', 'session']).default('shared'),
  /**
   * stdio with `isolation = "session"`: processes running at once (one per client session);
   * a session past it is refused until one ends, so clients cannot start processes without end.
   */
  max_processes: z.number().int().positive().default(100),
  /** Start the backend with Portico (`eager`) or on first use (`lazy`). */
  start: z.enum(['eager', 'lazy']).default('eager'),
  /**
   * `timeout = "30s"`: each attempt's deadline (default `request_timeout`; progress restarts
   * it); `[backends.timeout] seconds`: the whole call, `attempt`: each attempt (protect.ts).
   */
  timeout: timeoutSchema,
  /**
   * The backend's start: a stdio process's `initialize` answer, a remote backend's connection
   * and `initialize` (Codex's `startup_timeout_sec`). Default: `timeout`'s attempt deadline,
   * else `request_timeout`.
   */
  startup_timeout: durationSchema.optional(),
  /** Traffic protection (issue 12): concurrency, rate_limit, circuit_breaker, retry, … */
  ...protectTables,
  ...routingKeys,
  /** Consecutive failed restarts after which the backend stays down until config changes. */
  max_restarts: z.number().int().min(0).default(10),
  expose_tools: exposeList,
  hide_tools: patterns,
  expose_resources: exposeList,
  hide_resources: patterns,
  expose_prompts: exposeList,
  hide_prompts: patterns,
  /**
   * mcp-proxy's annotation filters: no tool the MCP annotations do not clear as harmless
   * (`readOnlyHint: true` or `destructiveHint: false`; no annotations means the spec's
   * defaults, destructive), and only tools annotated `readOnlyHint: true`. Listing and calls.
   */
  hide_destructive: z.boolean().default(false),
  read_only_only: z.boolean().default(false),
  aliases: z.array(aliasSchema).default([]),
  default_args: z.record(z.string(), z.unknown()).default({}),
  inject_args: z.array(injectSchema).default([]),
  param_overrides: z.array(paramOverrideSchema).default([]),
})

export type BackendConfig = z.output<typeof backendSchema>

/**
 * `[[composite_tools]]` (mcp-proxy's keys): one tool that calls several backend tools with the
 * same arguments, at once, and answers with all their contents.
 */
const compositeToolSchema = z.strictObject({
  /** Exposed as is, without a namespace. */
  name: z
    .string()
    .regex(PORTABLE_NAME, 'expected 1-64 of [A-Za-z0-9_-] (LLM APIs accept only those)'),
  description: z.string(),
  /** Client-facing (namespaced) names of backend tools. */
  tools: z.array(z.string().min(1)).min(1, 'expected at least one tool'),
  /** mcp-proxy's only strategy: every tool at once. */
  strategy: z.literal('parallel').default('parallel'),
})

export type CompositeTool = z.output<typeof compositeToolSchema>

export const compositeToolsSchema = z.array(compositeToolSchema).default([])

export const backendsSchema = z.array(backendSchema).superRefine((backends, ctx) => {
  const seen = new Map<string, number>()
  backends.forEach((backend, index) => {
    const at = (key: string) => [index, key]
    if (!backend.namespace && backends.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: at('namespace'),
        message: `namespace = false needs this to be the only backend (${backends.length} are configured): its names could collide with another's`,
      })
    }
    if (backend.name === ADMIN_NAMESPACE) {
      ctx.addIssue({
        code: 'custom',
        path: at('name'),
        message: `"${ADMIN_NAMESPACE}" is reserved for Portico's admin tools`,
      })
    }
    const previous = seen.get(backend.name)
    if (previous !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: at('name'),
        message: `duplicate backend name (also backends[${previous}])`,
      })
    }
    seen.set(backend.name, index)
    if (backend.transport === 'stdio' && !backend.command) {
      ctx.addIssue({
        code: 'custom',
        path: at('command'),
        message: 'stdio backends need a command',
      })
    }
    if (backend.protocol_version === '2026-07-28' && backend.transport !== 'http') {
      ctx.addIssue({
        code: 'custom',
        path: at('protocol_version'),
        message: `protocol_version = "2026-07-28" needs transport = "http" (${backend.transport} backends speak 2025-11-25)`,
      })
    }
    // With bearer_token too, bearer_token is sent (mcp-proxy's behaviour; a warning says so).
    if (backend.forward_auth && backend.transport === 'stdio') {
      ctx.addIssue({
        code: 'custom',
        path: at('forward_auth'),
        message:
          'forward_auth needs an http or sse backend (a stdio backend has no request headers)',
      })
    }
    if (backend.bearer_token !== undefined && hasHeader(backend.headers, 'authorization')) {
      // Both are the backend's own credential; one replaced the other without a word.
      ctx.addIssue({
        code: 'custom',
        path: at('bearer_token'),
        message: 'bearer_token and headers both set Authorization: keep one',
      })
    }
    const credentialsClash = urlCredentialsClash(backend)
    if (credentialsClash !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: at('url'),
        message: `has credentials (sent as Basic authentication) and ${credentialsClash} sets Authorization too: keep one`,
      })
    }
    // A url that does not parse is reported on its own key (refinements also see such values).
    if (backend.url !== undefined && backend.transport !== 'stdio' && URL.canParse(backend.url)) {
      const websocketUrl = /^wss?:/i.test(backend.url)
      // Reported on `transport`: the validator sets an invalid optional key aside before its
      // next pass, and a backend without its url would be reported as a problem it does not have.
      if (websocketUrl !== (backend.transport === 'websocket')) {
        ctx.addIssue({
          code: 'custom',
          path: at('transport'),
          message:
            backend.transport === 'websocket'
              ? `websocket backends need a ws:// or wss:// url (not ${new URL(backend.url).protocol}//)`
              : `${backend.transport} backends need an http:// or https:// url (not ${new URL(backend.url).protocol}//)`,
        })
      }
    }
    if (backend.forward_auth && backend.transport === 'websocket') {
      ctx.addIssue({
        code: 'custom',
        path: at('forward_auth'),
        message:
          "forward_auth needs an http or sse backend (a WebSocket's headers are sent once, at the upgrade, not with each client's call)",
      })
    }
    if (backend.transport !== 'stdio' && !backend.url) {
      ctx.addIssue({
        code: 'custom',
        path: at('url'),
        message: `${backend.transport} backends need a url`,
      })
    }
    for (const kind of ['tools', 'resources', 'prompts'] as const) {
      if (backend[`expose_${kind}`].length > 0 && backend[`hide_${kind}`].length > 0) {
        ctx.addIssue({
          code: 'custom',
          path: at(`hide_${kind}`),
          message: `expose_${kind} and hide_${kind} are mutually exclusive`,
        })
      }
    }
    const targets = new Set<string>()
    const sources = new Set<string>()
    backend.aliases.forEach((alias, i) => {
      if (sources.has(alias.from)) {
        // The catalog keeps one alias per name: the later would take its \`to\` from the first
        // (both reach the tool) while only it is listed.
        ctx.addIssue({
          code: 'custom',
          path: [index, 'aliases', i, 'from'],
          message: `two aliases rename "${alias.from}": give it one (to and description in one table)`,
        })
      }
      sources.add(alias.from)
      if (alias.to === undefined) return
      const problem = aliasTargetProblem(alias.from, alias.to)
      if (problem !== undefined) {
        ctx.addIssue({ code: 'custom', path: [index, 'aliases', i, 'to'], message: problem })
      }
      if (targets.has(alias.to)) {
        ctx.addIssue({
          code: 'custom',
          path: [index, 'aliases', i, 'to'],
          message: `two aliases rename to "${alias.to}"`,
        })
      }
      targets.add(alias.to)
    })
    paramOverrideProblems(backend.param_overrides, (path, message) =>
      ctx.addIssue({ code: 'custom', path: [index, 'param_overrides', ...path], message }),
    )
  })
})

/** mcp-proxy's rules: one entry per tool; a parameter is hidden or renamed, not both; distinct new names. */
function paramOverrideProblems(
  overrides: readonly ParamOverride[],
  problem: (path: Array<string | number>, message: string) => void,
): void {
  const tools = new Map<string, number>()
  overrides.forEach((override, i) => {
    const previous = tools.get(override.tool)
    if (previous !== undefined) {
      problem([i, 'tool'], `"${override.tool}" already has param_overrides (entry ${previous})`)
    }
    tools.set(override.tool, i)
    const hidden = new Set(override.hide)
    const seen = new Map<string, string>()
    for (const [from, to] of Object.entries(override.rename)) {
      if (hidden.has(from)) problem([i, 'rename', from], `"${from}" is both hidden and renamed`)
      const other = seen.get(to)
      if (other !== undefined) {
        problem([i, 'rename', from], `"${from}" and "${other}" are both renamed to "${to}"`)
      }
      seen.set(to, from)
    }
  })
}

export const gatewayProxySchema = z
  .strictObject({
    /** `serverInfo` sent to clients (default: the proxy name and Portico's version). */
    name: z.string().min(1).optional(),
    version: z.string().min(1).optional(),
    /** Between the backend name and each tool/prompt name (and in resource URIs). */
    separator: z
      .string()
      .max(16, 'expected at most 16 characters')
      .regex(/^[^\s\p{Cc}]*$/u, 'a separator may not contain spaces or control characters')
      .default('__'),
    /** Replaces the merged backend instructions in `initialize` / `server/discover`. */
    instructions: z.string().optional(),
    /** Watch the config file and apply backend changes without a restart. */
    hot_reload: z.boolean().default(false),
    /** mcp-proxy's listen address: the top-level `host` and `port` when those are not set. */
    listen: z
      .strictObject({
        host: z.string().min(1).optional(),
        port: z.number().int().min(0).max(65535).optional(),
      })
      .optional(),
    /** mcp-proxy's drain budget in seconds: the top-level `drain_timeout` when that is not set. */
    shutdown_timeout_seconds: timerSecondsOrZeroSchema().optional(),
    /** mcp-proxy's `.mcp.json` import: its servers are added as backends (src/config/dropin.ts). */
    import_backends: z.string().min(1).optional(),
    /** Serve `portico{separator}backends`, `…sessions`, `…config`. */
    admin_tools: z.boolean().default(true),
    /** mcp-proxy's BM25 tool search: `portico{sep}search_tools`, `…similar_tools`, `…tool_categories`. */
    tool_discovery: z.boolean().default(false),
    /**
     * `search` lists only Portico's tools (discovery and `call_tool`); backend tools stay
     * callable by name. For clients facing hundreds of tools.
     */
    tool_exposure: z.enum(['direct', 'search']).default('direct'),
    /** How long a merged list waits for a slow backend before answering without it. */
    list_timeout: durationSchema.default(5000),
    /**
     * How long a backend's list pages are kept for merged lists, when it announces list
     * changes (`listChanged`); at most 5 s when it does not. Announcements, restarts and
     * reloads drop them early. `0` asks every backend every time.
     */
    list_cache_ttl: durationSchema.default(60_000),
    /** Idle client sessions are closed after this long. */
    session_ttl: durationSchema.default(30 * 60_000),
    max_sessions: z.number().int().positive().default(10_000),
    /** Sessions one client address may hold; past it its least recently used idle one ends. */
    max_sessions_per_client: z.number().int().positive().default(1000),
    /** Rate limits on all traffic, per client, per session and per tool (protect.ts). */
    rate_limit: globalRateLimitSchema,
  })
  .prefault({})

export type GatewayProxyConfig = z.output<typeof gatewayProxySchema>

/**
 * Problems that depend on both tables: a backend whose prefix is a prefix of another's (`a`
 * and `a-b` cannot clash with `__`, but `a` and `a_` would with `_`) or that contains the
 * separator would make routing ambiguous.
 */
export function namingProblems(
  backends: readonly BackendConfig[],
  separator: string,
): Array<{ index: number; message: string }> {
  const problems: Array<{ index: number; message: string }> = []
  backends.forEach((backend, index) => {
    if (separator !== '' && backend.name.includes(separator)) {
      problems.push({ index, message: `name contains the separator "${separator}"` })
    }
    const prefix = backend.namespace ? backend.name + separator : ''
    backends.forEach((other, j) => {
      if (
        j !== index &&
        (other.name + separator).startsWith(prefix) &&
        other.name !== backend.name
      ) {
        problems.push({
          index: j,
          message: `prefix "${other.name}${separator}" starts with "${prefix}" (backends[${index}]): routing would be ambiguous`,
        })
      }
    })
    backend.aliases.forEach((alias) => {
      // A resource alias names a URI; a `to` already refused by its own check is not told twice.
      if (isResourceUri(alias.from)) return
      if (alias.to !== undefined && aliasTargetProblem(alias.from, alias.to) !== undefined) return
      const name = `${prefix}${alias.to ?? alias.from}`
      // A separator outside the portable alphabet is warned about once (config/dropin.ts).
      const portable = PORTABLE_NAME.test(`x${separator}x`)
      if (alias.to !== undefined && portable && !PORTABLE_NAME.test(name) && name.length <= 64) {
        problems.push({ index, message: `alias "${name}" is not a valid tool name` })
      }
    })
  })
  return problems
}

/** Cross-table check for `configSchema.superRefine`: reports naming problems on their backend. */
export function refineGateway(
  config: {
    backends?: BackendConfig[] | undefined
    proxy: GatewayProxyConfig
    composite_tools: CompositeTool[]
  },
  ctx: z.RefinementCtx,
): void {
  if (!config.backends) {
    if (config.composite_tools.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['composite_tools'],
        message: 'composite tools call gateway backends: configure [[backends]]',
      })
    }
    return
  }
  for (const problem of compositeProblems(config.composite_tools, config)) {
    ctx.addIssue({
      code: 'custom',
      path: ['composite_tools', ...problem.path],
      message: problem.message,
    })
  }
  for (const problem of namingProblems(config.backends, config.proxy.separator)) {
    ctx.addIssue({
      code: 'custom',
      path: ['backends', problem.index, 'name'],
      message: problem.message,
    })
  }
  for (const problem of resourceAliasProblems(config.backends, config.proxy.separator)) {
    ctx.addIssue({ code: 'custom', path: ['backends', ...problem.path], message: problem.message })
  }
  for (const problem of routingProblems(config.backends)) {
    ctx.addIssue({
      code: 'custom',
      path: ['backends', problem.index, problem.key],
      message: problem.message,
    })
  }
}

/** Why an alias cannot rename `from` to `to`, or undefined when it can. */
function aliasTargetProblem(from: string, to: string): string | undefined {
  if (isResourceUri(from)) {
    return isValidResourceUri(to)
      ? undefined
      : `"${to}" is not a resource URI: an alias of a resource (from = "${from}") renames it to the exact URI clients see (scheme://… or urn:…)`
  }
  if (isResourceUri(to)) {
    return `"${to}" is a resource URI, but "${from}" is a tool or prompt name: only a resource URI renames to a URI`
  }
  return TOOL_ALIAS.test(to) ? undefined : 'expected letters, digits, "_" or "-"'
}

/**
 * A resource alias's `to` is the exact URI clients see, so it must name one resource only:
 * not the `to` of another backend's alias, not a URI inside another backend's namespace
 * (`test://other__…` routes to `other`'s resources), and not the URI another resource alias
 * of the config renames away from (as its backend exposes it: that resource stays readable
 * under it). Within one backend, two aliases to one URI are refused with the tool aliases.
 */
export function resourceAliasProblems(
  backends: readonly BackendConfig[],
  separator: string,
): Array<{ path: Array<string | number>; message: string }> {
  const problems: Array<{ path: Array<string | number>; message: string }> = []
  const prefixOf = (b: BackendConfig) => (b.namespace ? b.name : '')
  const sep = (b: BackendConfig) => (b.namespace ? separator : '')
  /** Every resource alias's `to`, by the first backend and alias that took it. */
  const taken = new Map<string, string>()
  /** The exposed (namespaced) URI of every aliased resource, and where it is aliased. */
  const renamedAway = new Map<string, string>()
  backends.forEach((backend, index) => {
    backend.aliases.forEach((alias, i) => {
      if (!isResourceUri(alias.from) || alias.to === undefined) return
      renamedAway.set(
        comparableUri(namespaceUri(prefixOf(backend), sep(backend), alias.from)),
        `backends[${index}].aliases[${i}]`,
      )
    })
  })
  backends.forEach((backend, index) => {
    backend.aliases.forEach((alias, i) => {
      const to = alias.to
      if (!isResourceUri(alias.from) || to === undefined || !isValidResourceUri(to)) return
      const path = [index, 'aliases', i, 'to']
      const here = `backends[${index}].aliases[${i}]`
      // Compared as URIs are (RFC 3986: scheme and host in any case): `DOCS://z` is `docs://z`.
      const key = comparableUri(to)
      const first = taken.get(key)
      if (first !== undefined && !first.startsWith(`backends[${index}].`)) {
        problems.push({
          path,
          message: `"${to}" is also the alias of ${first}: two resources would have one URI`,
        })
      }
      if (first === undefined) taken.set(key, here)
      const owner = backends.find(
        (other) =>
          other !== backend &&
          (unnamespaceUri(prefixOf(other), sep(other), to) !== undefined ||
            unnamespaceUri(prefixOf(other).toLowerCase(), sep(other).toLowerCase(), key) !==
              undefined),
      )
      if (owner !== undefined) {
        problems.push({
          path,
          message: `"${to}" is inside backend ${owner.name}'s resource URIs (${owner.name}${separator} after the scheme): it could name one of its resources`,
        })
      }
      const away = renamedAway.get(key)
      if (away !== undefined && away !== here) {
        problems.push({
          path,
          message: `"${to}" is the URI of the resource ${away} renames: two resources would have one URI`,
        })
      }
    })
  })
  return problems
}

/** A URI with its scheme and authority in lower case: how RFC 3986 compares them. */
function comparableUri(uri: string): string {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*:)(\/\/[^/?#]*)?(.*)$/s.exec(uri)
  if (match === null) return uri
  const [, scheme = '', authority = '', rest = ''] = match
  return `${scheme.toLowerCase()}${authority.toLowerCase()}${rest}`
}

/**
 * The composite tool a namespaced backend's prefix would take the name of (`mix` and the
 * composite `mix__all`): the backend's own `mix__all` would be hidden, so such a backend is
 * refused, in a file and when added at runtime.
 */
export function compositeShadowedBy(
  composites: readonly CompositeTool[],
  backend: Pick<BackendConfig, 'name' | 'namespace'>,
  separator: string,
): string | undefined {
  if (!backend.namespace) return undefined
  const prefix = `${backend.name}${separator}`
  const composite = composites.find((c) => c.name.startsWith(prefix))
  return composite === undefined
    ? undefined
    : `"${composite.name}" starts with "${prefix}", which routes to ${backend.name}'s tools`
}

/**
 * A composite's name must not be one a backend or Portico could answer to (it would hide it);
 * its targets are backend tools, never composites (no nesting) nor Portico's own tools.
 */
function compositeProblems(
  composites: readonly CompositeTool[],
  config: { backends?: BackendConfig[] | undefined; proxy: GatewayProxyConfig },
): Array<{ path: Array<string | number>; message: string }> {
  const problems: Array<{ path: Array<string | number>; message: string }> = []
  const separator = config.proxy.separator
  // Every backend's prefix, and Portico's own (its admin tools answer under it).
  const routed = [...(config.backends ?? []), { name: ADMIN_NAMESPACE, namespace: true }]
  const names = new Map<string, number>()
  composites.forEach((composite, i) => {
    const previous = names.get(composite.name)
    if (previous !== undefined) {
      problems.push({
        path: [i, 'name'],
        message: `duplicate composite tool name (also composite_tools[${previous}])`,
      })
    }
    names.set(composite.name, i)
    for (const backend of routed) {
      const shadowed = compositeShadowedBy([composite], backend, separator)
      if (shadowed === undefined) continue
      problems.push({ path: [i, 'name'], message: shadowed })
      break
    }
  })
  // Reported on `tools` as a whole: the validator sets an invalid array element aside before
  // its next pass, and an emptied list would be reported as a problem the file does not have.
  composites.forEach((composite, i) => {
    composite.tools.forEach((tool) => {
      if (names.has(tool)) {
        problems.push({
          path: [i, 'tools'],
          message: `"${tool}" is a composite tool: composites call backend tools only`,
        })
      } else if (tool.startsWith(`${ADMIN_NAMESPACE}${separator}`)) {
        problems.push({
          path: [i, 'tools'],
          message: `"${tool}" is one of Portico's tools: composites call backend tools only`,
        })
      }
    })
  })
  return problems
}

/** What else sets a backend's Authorization when its url carries `user:password@`. */
function urlCredentialsClash(backend: {
  url?: string | undefined
  bearer_token?: string | undefined
  forward_auth: boolean
  headers?: Record<string, string> | undefined
}): string | undefined {
  if (backend.url === undefined || !URL.canParse(backend.url)) return undefined
  if (urlCredentials(new URL(backend.url)) === undefined) return undefined
  if (backend.bearer_token !== undefined) return 'bearer_token'
  if (backend.forward_auth) return 'forward_auth'
  return hasHeader(backend.headers, 'authorization') ? 'headers' : undefined
}
