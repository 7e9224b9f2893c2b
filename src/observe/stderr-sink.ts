/**
 * The stderr sink: one line per exchange, human-readable or JSON. Formatting happens on the
 * dispatcher's tick, never on the request path.
 */
import type { Sink } from './bus.ts'
import type { ExchangeEvent, PorticoEvent } from './event.ts'
import type { Logger } from './logger.ts'

export function stderrSink(logger: Logger): Sink {
  return {
    name: 'stderr',
    write(events) {
      for (const event of events) {
        if (event.type !== 'exchange') continue
        const level = event.outcome === 'ok' ? 'info' : 'warn'
        if (!logger.enabled(level)) continue
        logger.line(level, logger.json ? jsonExchange(event) : formatExchange(event))
      }
    },
    async close() {},
  }
}

function jsonExchange(event: ExchangeEvent): string {
  const { params: _params, result: _result, ...summary } = event
  return JSON.stringify({ time: new Date(event.ts).toISOString(), level: 'info', ...summary })
}

/** `14:20:12.345 tools/call get_weather ok 200 12.3ms 48B→1.2KB sess=a1b2c3d4 claude-ai/1.0` */
export function formatExchange(event: ExchangeEvent): string {
  const time = new Date(event.ts).toISOString().slice(11, 23)
  const parts = [time, event.method]
  if (event.name !== undefined) parts.push(event.name)
  parts.push(outcomeLabel(event), String(event.httpStatus), formatDuration(event.durationUs))
  parts.push(`${formatBytes(event.bytesIn)}→${formatBytes(event.bytesOut)}`)
  if (event.backend) parts.push(`backend=${event.backend}`)
  if (event.sessionId) parts.push(`sess=${event.sessionId.slice(0, 8)}`)
  if (event.client)
    parts.push(`${event.client.name}${event.client.version ? `/${event.client.version}` : ''}`)
  return parts.join(' ')
}

function outcomeLabel(event: ExchangeEvent): string {
  if (event.outcome === 'error') {
    return `error(${event.errorCode ?? '?'}${event.errorMessage ? ` ${JSON.stringify(event.errorMessage)}` : ''})`
  }
  return event.outcome
}

export function formatDuration(us: number): string {
  if (us < 1000) return `${us}µs`
  if (us < 1_000_000) return `${(us / 1000).toFixed(1)}ms`
  return `${(us / 1_000_000).toFixed(2)}s`
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)}KB`
  return `${(bytes / 1024 / 1024).toFixed(1)}MB`
}

export type { PorticoEvent }
