/**
 * What the transparent handlers share: the runtime form of the config (built once at start,
 * never re-read on the hot path), the upstream client, the event bus and the policies.
 */
import type { IncomingMessage } from 'node:http'
import type { Config } from '../config/schema.ts'
import type { OriginCheck } from '../edge/origin.ts'
import type { Gateway } from '../gateway/gateway.ts'
import type { EventBus } from '../observe/bus.ts'
import type { Logger } from '../observe/logger.ts'
import type { RequestPolicy, ResponseRewriter } from '../pipeline/types.ts'
import type { HttpClient } from '../upstream/http-client.ts'
import type { LegacySessions } from './legacy-sessions.ts'

export interface ProxyContext {
  config: Config
  /** Name tagging every event of this proxy. */
  proxy: string
  upstream: URL
  /** Upstream named for messages: origin and path, never credentials. */
  upstreamLabel: string
  /** Target of non-MCP traffic: `widgets` when it is a URL, else the upstream's origin. */
  rawTarget: URL
  http: HttpClient
  bus: EventBus
  logger: Logger
  originAllowed: OriginCheck
  policies: RequestPolicy[]
  rewriters: ResponseRewriter[]
  legacy: LegacySessions
  /** Set in gateway mode (`[[backends]]`): the MCP path is served by the gateway. */
  gateway?: Gateway
}

/** The origin clients use to reach Portico: `public_url`, else the request's Host. */
export function publicOrigin(context: ProxyContext, req: IncomingMessage): string {
  if (context.config.public_url) return new URL(context.config.public_url).origin
  const host = req.headers.host ?? `${context.config.host}:${context.config.port}`
  // The socket may already be detached once a streamed request body has been consumed.
  const encrypted = (req.socket as { encrypted?: boolean } | null)?.encrypted === true
  return `${encrypted ? 'https' : 'http'}://${host}`
}

export function labelOf(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`
}
