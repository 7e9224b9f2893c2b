/**
 * Portico's library API: embed the proxy in another Node server, add middleware to its chain,
 * or build on its pieces.
 * @module
 */
import type { Config, ConfigInput } from './config/schema.ts'
import { gatewayMode } from './gateway/mode.ts'
import { createPortico as createCore, type Portico, type PorticoOptions } from './portico.ts'

export { ConfigError, type ConfigOverrides, loadConfig } from './config/load.ts'
export { type Config, type ConfigInput, configSchema } from './config/schema.ts'
export type { HttpFilter } from './edge/filters.ts'
export { PorticoError, REASONS, type Reason } from './errors.ts'
export { EventBus, type Sink } from './observe/bus.ts'
export type { ExchangeEvent, NotificationEvent, Outcome, PorticoEvent } from './observe/event.ts'
export { Logger } from './observe/logger.ts'
export {
  type BreakerStatus,
  type CacheStatus,
  type RetryStatus,
  StatusBoard,
  type StatusSource,
} from './observe/status.ts'
export { type WebhookOptions, webhookSink } from './observe/webhook-sink.ts'
export { type Call, withMessage } from './pipeline/call.ts'
export type { Handler, Middleware } from './pipeline/compose.ts'
export {
  type AcceptedReply,
  type HttpReply,
  MessageReply,
  mapAnswer,
  type Reply,
  StreamEvent,
  StreamReply,
} from './pipeline/reply.ts'
export type { ResponseRewriter } from './pipeline/rewriter.ts'
export type { ListenAt, ListenResult, Portico, PorticoOptions } from './portico.ts'

/**
 * Builds a Portico from a config (transparent mode, or gateway mode for a config with
 * `backends`); `listen()` serves it, or mount `handler` in a server of your own.
 */
export function createPortico(input: Config | ConfigInput, options: PorticoOptions = {}): Portico {
  return createCore(input, { gatewayMode, ...options })
}
