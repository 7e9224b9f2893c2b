/**
 * The runtime every part of Portico shares, built once from the validated config by
 * `createPortico` and never re-read on the hot path: the config, the proxy's name, the event
 * bus, the logger and the HTTP client to upstreams.
 */
import type { IncomingMessage } from 'node:http'
import type { Config } from './config/schema.ts'
import { type RequestInfo, requestInfoOf } from './http/headers.ts'
import type { EventBus } from './observe/bus.ts'
import type { Logger } from './observe/logger.ts'
import type { StatusBoard } from './observe/status.ts'
import type { Middleware } from './pipeline/compose.ts'
import type { ResponseRewriter } from './pipeline/rewriter.ts'
import type { RedisStore } from './protect/redis-store.ts'
import type { HttpClient } from './upstream/http-client.ts'

export interface ProxyContext {
  readonly config: Config
  /** Name tagging every event of this proxy. */
  readonly proxy: string
  readonly http: HttpClient
  readonly bus: EventBus
  readonly logger: Logger
  /** Where breakers, caches and retries report for the admin API and metrics. */
  readonly status: StatusBoard
  /**
   * Observers of each attempt (tracing's attempt span): innermost in every per-upstream chain,
   * below retries and hedging, so each attempt is seen once.
   */
  readonly attemptMiddleware?: readonly Middleware[]
  /** `[shared]`: the Redis that caches and rate limits share with other replicas. */
  readonly shared?: RedisStore
  /**
   * What answers that come outside their call's own answer (a resumed stream, the legacy SSE
   * stream), which the mode relays itself, pass: the response rewriters the chain applies
   * (widget CSP), and the roles' list filter, which the chain runs as its authorization.
   */
  readonly rewriters?: readonly ResponseRewriter[]
}

/**
 * The origin clients use to reach Portico: `public_url`, else what a trusted proxy says the
 * client used (`X-Forwarded-Proto` and `-Host`), else the request's Host.
 */
export function publicOrigin(context: ProxyContext, req: IncomingMessage): string {
  return publicOriginOf(context.config, requestInfoOf(req))
}

export function publicOriginOf(
  config: Config,
  request: Pick<RequestInfo, 'host' | 'encrypted' | 'forwardedOrigin'>,
): string {
  if (config.public_url) return new URL(config.public_url).origin
  if (request.forwardedOrigin !== undefined) return request.forwardedOrigin
  const host = request.host ?? `${config.host}:${config.port}`
  return `${request.encrypted ? 'https' : 'http'}://${host}`
}

/** A URL named for messages and logs: origin and path, never credentials or query. */
export function labelOf(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`
}
