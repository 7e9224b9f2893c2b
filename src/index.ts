/**
 * Portico's library API: embed the proxy in another Node server, add middleware to its chain,
 * or build on its pieces.
 * @module
 */
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
export {
  createPortico,
  type ListenAt,
  type ListenResult,
  type Portico,
  type PorticoOptions,
} from './portico.ts'
