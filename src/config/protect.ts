/**
 * The traffic-protection tables (issue 12): mcp-proxy's per-backend keys as written in its
 * examples (`[backends.timeout] seconds`, `[backends.circuit_breaker] …`), the same tables at
 * the top level for the transparent upstream (and as defaults for every gateway backend), mcpr's
 * `max_concurrent_upstream`, `[proxy.rate_limit]` with Portico's per-client, per-session and
 * per-tool limits, `[performance] coalesce_requests`, and the routing keys `mirror_of`,
 * `failover_for` and `canary_of`. Every value is checked here, so `portico check` names a bad
 * key by file and line; the runtime (src/protect/) reads only the parsed, normalized shapes.
 */
import { z } from 'zod'
import { durationSchema, timerMsSchema, timerSecondsSchema } from './duration-schema.ts'

const positiveInt = z.number().int().positive()
/** Seconds a timer waits (at most Node's longest timer, duration-schema.ts). */
const seconds = timerSecondsSchema

/**
 * `timeout = "30s"` (the deadline of each attempt, restarted by progress: Portico's scalar) or
 * `[timeout] seconds = 60` (mcp-proxy: the whole call, queueing, retries and hedges included)
 * with an optional `attempt` deadline (default: `seconds`).
 */
const timeoutTable = z.strictObject({
  /** The whole call: from admission to the answer, across every retry and hedge. */
  seconds: seconds().optional(),
  /** Each attempt (restarted by progress notifications); default `seconds`. */
  attempt: durationSchema.optional(),
})

// The transform comes after the union, not inside its table branch: zod names the problem of
// the one branch of the right type (`timeout.seconds` at its line) only while no branch is a
// pipe; otherwise every table mistake became the generic union message, without a line.
export const timeoutSchema = z
  .union([durationSchema, timeoutTable], {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? 'expected a duration ("30s", or seconds) or a table with `seconds` and `attempt`'
        : undefined,
  })
  .transform((value): TimeoutConfig => {
    if (typeof value === 'number') return { callMs: undefined, attemptMs: value }
    const callMs = value.seconds === undefined ? undefined : value.seconds * 1000
    return { callMs, attemptMs: value.attempt ?? callMs }
  })
  .optional()

export type TimeoutConfig = { callMs: number | undefined; attemptMs: number | undefined }

export const concurrencySchema = z.strictObject({
  max_concurrent: positiveInt,
  /** Calls waiting for a slot beyond this many are refused at once. */
  max_queue: z.number().int().nonnegative().default(100),
  /** Longest wait for a slot; then the call is refused (`rate_limited`, Retry-After). */
  queue_timeout: durationSchema.default(10_000),
})

const bucket = {
  requests: positiveInt,
  // A rate's period, not a timer: a bucket refilled once in 1,000 days is fine.
  period_seconds: z.number().positive({ message: 'expected a number of seconds > 0' }).default(1),
  /** Calls allowed at once after a quiet period (the bucket's size); default `requests`. */
  burst: positiveInt.optional(),
}

/**
 * `burst` written out when it was left to its default (`requests`): a reload that then spells
 * the default compares equal to the file before it, so the bucket keeps what was spent (and a
 * `[proxy.rate_limit]` is not taken for a change that needs a restart).
 */
function withBurst<T extends { requests?: number | undefined; burst?: number | undefined }>(
  table: T,
): T {
  // Put last either way: the comparison is of JSON text, where the keys' order counts.
  const { burst, ...rest } = table
  return { ...rest, burst: burst ?? rest.requests } as T
}

export const rateLimitSchema = z.strictObject(bucket).transform(withBurst)

export const breakerSchema = z
  .strictObject({
    failure_rate_threshold: z
      .number()
      .gt(0, 'expected a rate in (0, 1]')
      .lte(1, 'expected a rate in (0, 1]')
      .default(0.5),
    minimum_calls: positiveInt.default(5),
    /** The sliding window: the last N calls (default: the larger of minimum_calls and 10). */
    sliding_window_size: positiveInt.optional(),
    wait_duration_seconds: seconds().default(30),
    permitted_calls_in_half_open: positiveInt.default(3),
    /** Count JSON-RPC internal errors (-32603) answered by the upstream as failures. */
    count_internal_errors: z.boolean().default(false),
  })
  .transform((table, ctx) => {
    const window = table.sliding_window_size ?? Math.max(table.minimum_calls, 10)
    if (window < table.minimum_calls) {
      ctx.addIssue({
        code: 'custom',
        path: ['sliding_window_size'],
        message: `must be at least minimum_calls (${table.minimum_calls})`,
      })
    }
    return { ...table, sliding_window_size: window }
  })

/** The retry budget's defaults: also hedging's budget when no `[retry]` table is set. */
export const RETRY_BUDGET_DEFAULTS = { budget_percent: 20, min_retries_per_sec: 10 } as const

export const retrySchema = z
  .strictObject({
    max_retries: z.number().int().min(0).max(10).default(3),
    initial_backoff_ms: timerMsSchema().default(100),
    max_backoff_ms: timerMsSchema().default(5000),
    /** Retries allowed, as a percentage of the calls of the last 10 seconds. */
    budget_percent: z.number().min(0).max(100).default(RETRY_BUDGET_DEFAULTS.budget_percent),
    /** The budget's floor: this many retries a second are always allowed. */
    min_retries_per_sec: z
      .number()
      .nonnegative()
      .default(RETRY_BUDGET_DEFAULTS.min_retries_per_sec),
  })
  .superRefine((table, ctx) => {
    if (table.max_backoff_ms < table.initial_backoff_ms) {
      ctx.addIssue({
        code: 'custom',
        path: ['max_backoff_ms'],
        message: `must be at least initial_backoff_ms (${table.initial_backoff_ms})`,
      })
    }
  })

export const hedgingSchema = z.strictObject({
  delay_ms: timerMsSchema().default(200),
  max_hedges: z.number().int().min(1).max(5).default(1),
})

export const outlierSchema = z.strictObject({
  consecutive_errors: positiveInt.default(5),
  /** How often ejections are re-examined: ended when due, and the multiplier decays. */
  interval_seconds: seconds().default(10),
  base_ejection_seconds: seconds().default(30),
  /** Ejection time grows with each ejection (base × n) up to this. */
  max_ejection_seconds: seconds().default(300),
  max_ejection_percent: z
    .number()
    .gt(0, {
      message:
        'must be above 0: at least one backend of a group may be ejected whatever the share; to eject none, leave out outlier_detection',
    })
    .max(100)
    .default(50),
})

export const cacheSchema = z.strictObject({
  tool_ttl_seconds: z.number().nonnegative().default(0),
  resource_ttl_seconds: z.number().nonnegative().default(0),
  max_entries: positiveInt.default(1000),
  /** Answers larger than this are not stored. */
  max_entry_bytes: positiveInt.default(1024 * 1024),
  /**
   * All entries of one cache together, in characters of answer text (about bytes): the least
   * recently used go first. Without it the bound was max_entries × max_entry_bytes (1 GB).
   */
  max_bytes: positiveInt.default(64 * 1024 * 1024),
})

/**
 * State shared by every replica and worker through Redis (`[shared]`): the response caches
 * and the rate limits' buckets. mcp-proxy's `[cache] backend = "redis", url, prefix` are read
 * as this table, for the caches only (its rate limits were per instance).
 */
export const sharedSchema = z
  .strictObject({
    /** `redis://[user:password@]host:port[/db]` or `rediss://` (TLS). */
    redis: z.string().superRefine((value, context) => {
      const problem = redisUrlProblem(value)
      if (problem !== undefined) context.addIssue({ code: 'custom', message: problem })
    }),
    /** Before every key Portico writes, so several deployments can share one Redis. */
    prefix: z.string().default('portico:'),
    /** The longest one Redis command may take; past it Portico goes on without it. */
    timeout: durationSchema
      .refine((ms) => ms > 0, { message: 'expected a duration above 0, like "100ms"' })
      .default(100),
    /** The response caches live in Redis, shared (otherwise in each process's memory). */
    caches: z.boolean().default(true),
    /** The rate limits' buckets live in Redis, one budget for all replicas. */
    rate_limits: z.boolean().default(true),
  })
  .optional()

export type SharedConfig = NonNullable<z.output<typeof sharedSchema>>

/**
 * What is wrong with a `[shared] redis` URL, in words, or undefined. Checked here rather than
 * met at run time: a database that is not a number was sent as `SELECT NaN`, and a `%` that
 * starts no escape in the password threw inside the Redis client, both after "listening".
 */
function redisUrlProblem(value: string): string | undefined {
  if (!/^rediss?:\/\//i.test(value) || !URL.canParse(value)) {
    return 'expected a redis:// or rediss:// URL'
  }
  const url = new URL(value)
  if (!/^\/?(?:\d{1,9})?$/.test(url.pathname)) {
    return 'the part after the host must be a database number (redis://host:6379/0)'
  }
  // The Redis client also reads a database from the query (`?db=`).
  const db = url.searchParams.get('db')
  if (db !== null && !/^\d{1,9}$/.test(db)) {
    return 'db in the query must be a database number (redis://host:6379?db=0)'
  }
  try {
    decodeURIComponent(url.username)
    decodeURIComponent(url.password)
  } catch {
    return 'the user or password holds a % that starts no percent-escape: write it as %25'
  }
  return undefined
}

/** The tables every upstream may have (a backend, or the top level for the transparent one). */
export const protectTables = {
  concurrency: concurrencySchema.optional(),
  rate_limit: rateLimitSchema.optional(),
  circuit_breaker: breakerSchema.optional(),
  retry: retrySchema.optional(),
  hedging: hedgingSchema.optional(),
  outlier_detection: outlierSchema.optional(),
  cache: cacheSchema.optional(),
}

/** `mirror_of`, `failover_for`, `canary_of` and their numbers, on a backend. */
export const routingKeys = {
  /** Receives a fire-and-forget copy of the named backend's calls. */
  mirror_of: z.string().min(1).optional(),
  mirror_percent: z.number().min(0).max(100).default(100),
  /** Serves the named backend's calls when it fails (lower `priority` first). */
  failover_for: z.string().min(1).optional(),
  priority: z.number().int().min(0).default(0),
  /** Takes a share of the named backend's calls: `weight` against the primary's `weight`. */
  canary_of: z.string().min(1).optional(),
  weight: z.number().int().min(0).max(10_000).default(100),
}

export const globalRateLimitSchema = z
  .strictObject({
    /** Every request through Portico (mcp-proxy's `[proxy.rate_limit]`). */
    ...bucket,
    requests: positiveInt.optional(),
    per_client: rateLimitSchema.optional(),
    per_session: rateLimitSchema.optional(),
    per_tool: z
      .array(
        z.strictObject({
          /** Client-facing tool name; a glob (`*`, `?`). Each matching tool has its own bucket. */
          tool: z.string().min(1),
          ...bucket,
        }),
      )
      .default([]),
  })
  .transform((table) => ({ ...withBurst(table), per_tool: table.per_tool.map(withBurst) }))
  .optional()

export const performanceSchema = z
  .strictObject({
    /** Identical concurrent read-only calls share one upstream call. */
    coalesce_requests: z.boolean().default(false),
  })
  .prefault({})

export type ConcurrencyConfig = z.output<typeof concurrencySchema>
export type RateLimitConfig = z.output<typeof rateLimitSchema>
export type BreakerConfig = z.output<typeof breakerSchema>
export type RetryConfig = z.output<typeof retrySchema>
export type HedgingConfig = z.output<typeof hedgingSchema>
export type OutlierConfig = z.output<typeof outlierSchema>
export type CacheConfig = z.output<typeof cacheSchema>
export type GlobalRateLimitConfig = NonNullable<z.output<typeof globalRateLimitSchema>>

/** What one upstream is protected by (a backend's own tables, or the top level's). */
export interface ProtectConfig {
  timeout?: TimeoutConfig | undefined
  concurrency?: ConcurrencyConfig | undefined
  rate_limit?: RateLimitConfig | undefined
  circuit_breaker?: BreakerConfig | undefined
  retry?: RetryConfig | undefined
  hedging?: HedgingConfig | undefined
  outlier_detection?: OutlierConfig | undefined
  cache?: CacheConfig | undefined
}

export const PROTECT_KEYS = [
  'timeout',
  'concurrency',
  'rate_limit',
  'circuit_breaker',
  'retry',
  'hedging',
  'outlier_detection',
  'cache',
] as const

/** A backend's tables, each falling back to the top level's (gateway defaults). */
export function protectOf(own: ProtectConfig, defaults: ProtectConfig): ProtectConfig {
  const out: ProtectConfig = {}
  for (const key of PROTECT_KEYS) {
    const value = own[key] ?? defaults[key]
    if (value !== undefined) (out as Record<string, unknown>)[key] = value
  }
  return out
}

interface RoutedBackend {
  name: string
  mirror_of?: string | undefined
  failover_for?: string | undefined
  canary_of?: string | undefined
  weight: number
}

/**
 * Cross-backend rules of the routing keys: the named backend exists and is not the backend
 * itself, a backend plays one role, and a role names a primary (no chains of mirrors).
 */
export function routingProblems(
  backends: readonly RoutedBackend[],
): Array<{ index: number; key: string; message: string }> {
  const problems: Array<{ index: number; key: string; message: string }> = []
  const byName = new Map(backends.map((b) => [b.name, b]))
  backends.forEach((backend, index) => {
    const roles = (['mirror_of', 'failover_for', 'canary_of'] as const).filter(
      (key) => backend[key] !== undefined,
    )
    if (roles.length > 1) {
      problems.push({
        index,
        key: roles[1] as string,
        message: `a backend has one role: ${roles.join(' and ')} are both set`,
      })
    }
    for (const key of roles) {
      const target = backend[key] as string
      const primary = byName.get(target)
      if (target === backend.name) {
        problems.push({ index, key, message: 'names the backend itself' })
      } else if (!primary) {
        problems.push({ index, key, message: `no backend is named "${target}"` })
      } else if (primary.mirror_of ?? primary.failover_for ?? primary.canary_of) {
        problems.push({ index, key, message: `"${target}" is itself a mirror, failover or canary` })
      }
    }
    if (backend.canary_of !== undefined && backend.weight < 1) {
      problems.push({ index, key: 'weight', message: 'a canary needs a weight of at least 1' })
    }
  })
  return problems
}
