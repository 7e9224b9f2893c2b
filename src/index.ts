/**
 * Portico's library API: embed the proxy in another Node server, or build on its pieces.
 * @module
 */
export { ConfigError, type ConfigOverrides, loadConfig } from './config/load.ts'
export { type Config, type ConfigInput, configSchema } from './config/schema.ts'
export { PorticoError, REASONS, type Reason } from './errors.ts'
export { EventBus, type Sink } from './observe/bus.ts'
export type { ExchangeEvent, NotificationEvent, Outcome, PorticoEvent } from './observe/event.ts'
export { Logger } from './observe/logger.ts'
export type { Call, RequestPolicy, ResponseRewriter } from './pipeline/types.ts'
export { createPortico, type ListenResult, type Portico, type PorticoOptions } from './portico.ts'
