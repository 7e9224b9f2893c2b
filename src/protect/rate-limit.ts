/**
 * Rate limits as middleware: a token bucket per upstream (`[backends.rate_limit]`, the
 * top-level `[rate_limit]`), and in the global chain `[proxy.rate_limit]`: all traffic, per
 * client identity, per session and per tool. Only requests take tokens (notifications and
 * answers to server requests are not work for the upstream). A refusal is `rate_limited`:
 * HTTP 429 with `Retry-After`, a JSON-RPC error with the request id, recorded with its reason.
 */
import type { GlobalRateLimitConfig, RateLimitConfig } from '../config/protect.ts'
import { PorticoError } from '../errors.ts'
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import type { Clock } from '../util/clock.ts'
import { clientIdentity } from './identity.ts'
import { KeyedBuckets, retryAfter, TokenBucket } from './token-bucket.ts'

function refuse(waitMs: number, message: string, data: Record<string, unknown>): PorticoError {
  return new PorticoError('rate_limited', {
    message,
    headers: { 'retry-after': retryAfter(waitMs) },
    data: { ...data, retryAfterMs: waitMs },
  })
}

/** One upstream's bucket. */
export function upstreamRateLimit(name: string, config: RateLimitConfig, clock: Clock): Middleware {
  const bucket = new TokenBucket(config, clock)
  const message = `Rate limit of ${name} reached (${config.requests} per ${config.period_seconds} s)`
  return (call, next) => {
    if (call.kind === 'request') {
      const wait = bucket.take()
      if (wait > 0) throw refuse(wait, message, { upstream: name, limit: 'upstream' })
    }
    return next(call)
  }
}

interface Limit {
  scope: 'global' | 'client' | 'session' | 'tool'
  take(call: Call): number
  describe: string
}

/** `[proxy.rate_limit]`: every configured limit must grant a token, checked in order. */
export function globalRateLimit(
  config: GlobalRateLimitConfig,
  clock: Clock,
): Middleware | undefined {
  const limits = limitsOf(config, clock)
  if (limits.length === 0) return undefined
  return (call, next) => {
    if (call.kind === 'request') {
      for (const limit of limits) {
        const wait = limit.take(call)
        if (wait > 0) {
          throw refuse(wait, `Rate limit reached (${limit.describe})`, { limit: limit.scope })
        }
      }
    }
    return next(call)
  }
}

function limitsOf(config: GlobalRateLimitConfig, clock: Clock): Limit[] {
  const limits: Limit[] = []
  const per = (shape: { requests: number; period_seconds: number }) =>
    `${shape.requests} per ${shape.period_seconds} s`
  if (config.requests !== undefined) {
    const bucket = new TokenBucket({ ...config, requests: config.requests }, clock)
    limits.push({
      scope: 'global',
      take: () => bucket.take(),
      describe: `${per({ ...config, requests: config.requests })} in all`,
    })
  }
  if (config.per_client) {
    const buckets = new KeyedBuckets(config.per_client, clock)
    limits.push({
      scope: 'client',
      take: (call) => buckets.take(clientIdentity(call)),
      describe: `${per(config.per_client)} per client`,
    })
  }
  if (config.per_session) {
    const buckets = new KeyedBuckets(config.per_session, clock)
    limits.push({
      scope: 'session',
      take: (call) => (call.sessionId === undefined ? 0 : buckets.take(call.sessionId)),
      describe: `${per(config.per_session)} per session`,
    })
  }
  for (const rule of config.per_tool) {
    const pattern = globRegExp(rule.tool)
    const buckets = new KeyedBuckets(rule, clock, 1000)
    limits.push({
      scope: 'tool',
      take: (call) => {
        const name = call.method === 'tools/call' ? call.target?.name : undefined
        return name !== undefined && pattern.test(name) ? buckets.take(name) : 0
      },
      describe: `${per(rule)} per tool matching ${rule.tool}`,
    })
  }
  return limits
}

/** `*` any run of characters, `?` one character; everything else literal. */
export function globRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.')
  return new RegExp(`^${body}$`)
}
