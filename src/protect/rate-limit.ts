/**
 * Rate limits as middleware: a token bucket per upstream (`[backends.rate_limit]`, the
 * top-level `[rate_limit]`), and in the global chain `[proxy.rate_limit]`: all traffic, per
 * client identity, per session and per tool. Only requests take tokens (notifications and
 * answers to server requests are not work for the upstream). A refusal is `rate_limited`:
 * HTTP 429 with `Retry-After`, a JSON-RPC error with the request id, recorded with its reason.
 *
 * With `[shared] rate_limits` the buckets live in Redis (redis-store.ts), one budget for every
 * replica: a call's buckets are taken all or none in one round trip. When Redis cannot answer
 * in time the process's own buckets decide, so a limit is never lifted by an outage (it only
 * becomes per replica until Redis is back).
 */
import { createHash } from 'node:crypto'
import type { GlobalRateLimitConfig, RateLimitConfig } from '../config/protect.ts'
import { PorticoError } from '../errors.ts'
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import type { Clock } from '../util/clock.ts'
import { globTest } from '../util/glob.ts'
import { clientIdentity } from './identity.ts'
import type { RedisStore, SharedBucket } from './redis-store.ts'
import {
  type BucketShape,
  bucketRate,
  KeyedBuckets,
  namedWait,
  retryAfter,
  TokenBucket,
} from './token-bucket.ts'

function refuse(waitMs: number, message: string, data: Record<string, unknown>): PorticoError {
  return new PorticoError('rate_limited', {
    message,
    headers: { 'retry-after': retryAfter(waitMs) },
    data: { ...data, retryAfterMs: namedWait(waitMs) },
  })
}

/** One upstream's bucket (kept across reloads by its owner, protect/policies.ts). */
export function upstreamRateLimit(
  name: string,
  config: RateLimitConfig,
  bucket: TokenBucket,
  shared?: RedisStore,
): Middleware {
  const message = `Rate limit of ${name} reached (${config.requests} per ${config.period_seconds} s)`
  const local = () => {
    const wait = bucket.take()
    if (wait > 0) throw refuse(wait, message, { upstream: name, limit: 'upstream' })
  }
  if (shared?.rateLimits) {
    const buckets = [sharedBucket(`upstream:${name}`, config)]
    return async (call, next) => {
      if (call.kind !== 'request') return next(call)
      const verdict = await shared.takeTokens(buckets)
      if (verdict === undefined) local()
      else if (!verdict.granted) {
        throw refuse(verdict.waitMs, message, { upstream: name, limit: 'upstream' })
      } else {
        // See `sharedGlobalLimit`: the process's own bucket holds what Redis could not count.
        const wait = bucket.takeGranted(shared.timeoutMs)
        if (wait > 0) throw refuse(wait, message, { upstream: name, limit: 'upstream' })
      }
      return next(call)
    }
  }
  return (call, next) => {
    if (call.kind === 'request') local()
    return next(call)
  }
}

interface Limit {
  scope: 'global' | 'client' | 'session' | 'tool'
  shape: BucketShape
  /** The bucket this call takes from (its key), or undefined when the limit does not apply. */
  keyOf(call: Call): string | undefined
  /** The process's own bucket of that key. */
  bucket(key: string): TokenBucket
  describe: string
}

/** What gateway mode admits without a token of the global limits. */
export interface GatewayPasses {
  /** Search mode's `call_tool`, which only names the tool it calls (see `limitsOf`). */
  callTool: string
  /**
   * A 2026-07-28 retry that resumes a call admitted already (the client's answers to its
   * `input_required`): charged again, it could be refused past the parked call's life, and
   * the call would never finish. Only a stateless retry naming a call parked now, by the
   * same caller for the same target, passes, and once per round (gateway/mrtr.ts `resumes`).
   */
  resumes(call: Call): boolean
  /**
   * The names of the tool a name reaches (gateway/gateway.ts `itemNames`): `exposed` (its
   * alias, if any) and `original` (its namespaced own name, which still reaches it).
   */
  toolNames(name: string): { exposed: string; original: string } | undefined
}

/**
 * `[proxy.rate_limit]`: every configured limit must grant a token. All or none: a call one
 * limit refuses takes no token from the others (a client spending its own budget must not
 * spend everyone's `requests` too), checked in order, the first refusal named.
 */
export function globalRateLimit(
  config: GlobalRateLimitConfig,
  clock: Clock,
  shared?: RedisStore,
  gateway?: GatewayPasses,
): Middleware | undefined {
  const limit = limitOf(config, clock, shared, gateway)
  if (limit === undefined || gateway === undefined) return limit
  return (call, next) => (gateway.resumes(call) ? next(call) : limit(call, next))
}

function limitOf(
  config: GlobalRateLimitConfig,
  clock: Clock,
  shared: RedisStore | undefined,
  gateway: GatewayPasses | undefined,
): Middleware | undefined {
  const limits = limitsOf(config, clock, gateway)
  if (limits.length === 0) return undefined
  // Reused by every call (the check is synchronous): no array allocated per request.
  const granting: TokenBucket[] = []
  const local = (call: Call) => {
    granting.length = 0
    for (const limit of limits) {
      const key = limit.keyOf(call)
      if (key === undefined) continue
      const bucket = limit.bucket(key)
      const wait = bucket.wait()
      if (wait > 0) throw refusal(limit, wait)
      granting.push(bucket)
    }
    for (const bucket of granting) bucket.take()
  }
  if (shared?.rateLimits) return sharedGlobalLimit(limits, local, shared)
  return (call, next) => {
    if (call.kind === 'request') local(call)
    return next(call)
  }
}

function refusal(limit: Limit, waitMs: number): PorticoError {
  return refuse(waitMs, `Rate limit reached (${limit.describe})`, { limit: limit.scope })
}

/**
 * The global limits with their buckets in Redis: one round trip per request, all or none.
 * A call Redis grants is spent from this process's own buckets too, and refused when one is
 * further from a token than Redis can be from it, a command's round trip (`[shared] timeout`):
 * the two refill on two clocks, so at a refill this process's may lack a few milliseconds of a
 * token Redis has; then it is spent below zero by at most that (`TokenBucket.takeGranted`), so
 * the next call waits the longer. They count every call this process admitted, so they hold
 * what Redis could not count. When Redis cannot answer in time they decide alone,
 * holding what is left of the process's recent share, not a full budget on top of what Redis
 * granted; and once Redis is back after an outage (even restarted empty), the calls admitted
 * meanwhile still count.
 */
function sharedGlobalLimit(
  limits: readonly Limit[],
  local: (call: Call) => void,
  shared: RedisStore,
): Middleware {
  return async (call, next) => {
    if (call.kind !== 'request') return next(call)
    const applying: Limit[] = []
    const buckets: SharedBucket[] = []
    for (const limit of limits) {
      const key = limit.keyOf(call)
      if (key === undefined) continue
      applying.push(limit)
      buckets.push(sharedBucket(`${limit.scope}:${key}`, limit.shape))
    }
    if (buckets.length > 0) {
      const verdict = await shared.takeTokens(buckets)
      if (verdict === undefined) local(call)
      else if (!verdict.granted) throw refusal(applying[verdict.index] as Limit, verdict.waitMs)
      else {
        // All or none: every bucket is judged before any is spent.
        const own = applying.map((limit) => limit.bucket(limit.keyOf(call) as string))
        for (const [i, bucket] of own.entries()) {
          const wait = bucket.wait()
          if (wait > shared.timeoutMs) throw refusal(applying[i] as Limit, wait)
        }
        for (const bucket of own) bucket.takeGranted(shared.timeoutMs)
      }
    }
    return next(call)
  }
}

/**
 * A bucket's key in Redis: its scope, then a digest of what it counts. Keys hold client
 * identities, session ids and tool names a client chose: hashed, they are short whatever was
 * sent, and a Redis shared with others does not show them.
 */
function sharedBucket(key: string, shape: BucketShape): SharedBucket {
  const [scope] = key.split(':', 1)
  const digest = createHash('sha256').update(key).digest('base64url').slice(0, 22)
  return { key: `${scope}:${digest}`, ...bucketRate(shape) }
}

/**
 * The names of an aliased tool (gateway mode), whose alias and original name both reach it;
 * undefined for a tool that goes by one name only (or in transparent mode).
 */
function aliasedNames(
  name: string,
  gateway: GatewayPasses | undefined,
): { exposed: string; original: string } | undefined {
  const names = gateway?.toolNames(name)
  if (names === undefined || (names.exposed === name && names.original === name)) return undefined
  return names
}

/** Tool names past this are not told apart by the per-tool limits (see `limitsOf`). */
const MAX_TOOL_NAME = 256
const OVERLONG = '\u0000overlong'
/** The key of a `tools/call` whose `name` is no string: one budget for all, under every rule. */
const NOT_A_NAME = '\u0000not-a-name'

/**
 * `passThrough`: the name of search mode's `call_tool`, which only names the tool it calls: the
 * call it makes is judged by that tool's `per_tool` rule, so `call_tool` itself takes no
 * per-tool token (under `tool = "*"` every tool would otherwise share one budget).
 */
function limitsOf(
  config: GlobalRateLimitConfig,
  clock: Clock,
  gateway: GatewayPasses | undefined,
): Limit[] {
  const passThrough = gateway?.callTool
  // The request budgets: spent by a client's own call, and by `call_tool`'s inner call in the
  // place of `call_tool` itself (Call.countsAsRequest); not by a composite's members.
  const spends = (call: Call): boolean =>
    call.onBehalf === true
      ? call.countsAsRequest === true
      : passThrough === undefined ||
        call.method !== 'tools/call' ||
        call.target?.name !== passThrough
  const limits: Limit[] = []
  const per = (shape: { requests: number; period_seconds: number }) =>
    `${shape.requests} per ${shape.period_seconds} s`
  if (config.requests !== undefined) {
    const shape = { ...config, requests: config.requests }
    const bucket = new TokenBucket(shape, clock)
    limits.push({
      scope: 'global',
      shape,
      keyOf: (call) => (spends(call) ? 'all' : undefined),
      bucket: () => bucket,
      describe: `${per(shape)} in all`,
    })
  }
  if (config.per_client) {
    const buckets = new KeyedBuckets(config.per_client, clock)
    limits.push({
      scope: 'client',
      shape: config.per_client,
      keyOf: (call) => (spends(call) ? clientIdentity(call) : undefined),
      bucket: (key) => buckets.bucket(key),
      describe: `${per(config.per_client)} per client`,
    })
  }
  if (config.per_session) {
    const buckets = new KeyedBuckets(config.per_session, clock)
    limits.push({
      scope: 'session',
      shape: config.per_session,
      keyOf: (call) => (spends(call) ? call.sessionId : undefined),
      bucket: (key) => buckets.bucket(key),
      describe: `${per(config.per_session)} per session`,
    })
  }
  config.per_tool.forEach((rule, index) => {
    // `*` any run, `?` one UTF-16 code unit, neither a line terminator (as `.*` and `.` in the
    // regular expression this was): a name with a line break matches only one written in.
    const matches = globTest(rule.tool, { lineTerminators: false })
    const buckets = new KeyedBuckets(rule, clock, 1000)
    limits.push({
      scope: 'tool',
      shape: rule,
      keyOf: (call) => {
        if (call.method !== 'tools/call') return undefined
        const name = call.target?.name
        // A name that is no string matches no rule's pattern, yet an upstream may read it as
        // a tool (`["expensive"]`): limited together, never unlimited.
        if (name === undefined) return `${index}:${NOT_A_NAME}`
        if (name === passThrough) return undefined
        // Longer than any tool name: one budget for all such calls under every rule, so a
        // made-up name of any length never becomes a bucket key.
        if (name.length > MAX_TOOL_NAME) return `${index}:${OVERLONG}`
        // The rule's index too: two rules matching one tool are two budgets.
        const aliased = aliasedNames(name, gateway)
        if (aliased === undefined) return matches(name) ? `${index}:${name}` : undefined
        // An aliased tool: a rule on either name holds under both, one budget (keyed by the
        // alias), as roles judge it (auth/policy.ts).
        const { exposed, original } = aliased
        return matches(name) || matches(exposed) || matches(original)
          ? `${index}:${exposed}`
          : undefined
      },
      bucket: (key) => buckets.bucket(key),
      describe: `${per(rule)} per tool matching ${rule.tool}`,
    })
  })
  return limits
}
