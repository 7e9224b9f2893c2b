/**
 * The stderr sink: one line per exchange, human-readable or JSON. Formatting happens on the
 * dispatcher's tick, never on the request path.
 *
 * With the access log on, every exchange is a line (failures at warn). With it off (the
 * default when stderr is not a terminal: a container, a service) failures are still logged at
 * warn: an exchange that ended in a JSON-RPC or HTTP error, or that Portico refused (it carries
 * a `reason`), so a deployment is never blind to what goes wrong. Those lines are capped per
 * second, and what the cap held back is counted in one line, so an error flood cannot flood
 * the log.
 */

import { clipText, formatBytes as formatSize, jsonForTerminal, printable } from '../util/format.ts'
import { PerSecond } from '../util/per-second.ts'
import type { Sink } from './bus.ts'
import type { ExchangeEvent, PorticoEvent } from './event.ts'
import type { Logger } from './logger.ts'

export interface StderrSinkOptions {
  /** Log every exchange (true), or only failures (false). Default true. */
  accessLog?: boolean
  /** Failure lines per second when the access log is off (default 20). */
  failuresPerSecond?: number
}

export function stderrSink(logger: Logger, options: StderrSinkOptions = {}): Sink {
  const accessLog = options.accessLog ?? true
  const limit = new PerSecond(options.failuresPerSecond ?? 20)
  return {
    name: accessLog ? 'stderr' : 'stderr-failures',
    write(events) {
      for (const event of events) {
        if (event.type !== 'exchange') continue
        const failed = isFailure(event)
        if (!accessLog && !failed) continue
        const level = event.outcome === 'ok' ? 'info' : 'warn'
        if (!logger.enabled(level)) continue
        if (!accessLog) {
          const held = limit.take()
          if (held > 0)
            logger.warn(
              `${held} more failed exchanges were not logged (over ${limit.max} a second)`,
            )
          if (held < 0) continue
        }
        if (logger.json) logger.line(level, jsonExchange(event, level))
        // Without the access log, a failure is an ordinary warn record (time, level, text).
        else if (!accessLog) logger.warn(formatExchange(event, false))
        else logger.line(level, formatExchange(event))
      }
    },
    async close() {
      const held = limit.drain()
      if (held > 0) logger.warn(`${held} more failed exchanges were not logged`)
    },
  }
}

/** A JSON-RPC or HTTP error, or anything Portico refused or failed itself. */
export function isFailure(event: ExchangeEvent): boolean {
  return event.outcome === 'error' || event.outcome === 'http_error' || event.reason !== undefined
}

/**
 * At most `max` lines a second. `take` returns -1 when the line must be held back, else how
 * many were held back since the last line that passed (to be reported before it).
 */
function jsonExchange(event: ExchangeEvent, level: string): string {
  const { params: _params, result: _result, ...summary } = event
  const fields = summary as Record<string, unknown>
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === 'string' && value.length > 512) fields[key] = clip(value, 512)
  }
  // The client's name and version are a client's own text too, one level down.
  const client = event.client
  if (client !== undefined && (client.name.length > 512 || (client.version?.length ?? 0) > 512)) {
    fields.client = {
      name: clip(client.name, 512),
      ...(client.version === undefined ? {} : { version: clip(client.version, 512) }),
    }
  }
  return jsonForTerminal({ time: new Date(event.ts).toISOString(), level, ...fields })
}

/** `14:20:12.345 tools/call get_weather ok 200 12.3ms 48B→1.2KB sess=a1b2c3d4 user=alice claude-ai/1.0` */
export function formatExchange(event: ExchangeEvent, withTime = true): string {
  const parts = withTime ? [new Date(event.ts).toISOString().slice(11, 23)] : []
  parts.push(clip(event.method))
  if (event.name !== undefined) parts.push(clip(event.name))
  parts.push(outcomeLabel(event), String(event.httpStatus), formatDuration(event.durationUs))
  parts.push(`${formatBytes(event.bytesIn)}→${formatBytes(event.bytesOut)}`)
  if (event.reason) parts.push(`reason=${clip(event.reason)}`)
  if (event.backend) parts.push(`backend=${event.backend}`)
  if (event.via) parts.push(`via=${event.via}`)
  if (event.cache) parts.push(`cache=${event.cache}`)
  if (event.queuedMs) parts.push(`queued=${event.queuedMs}ms`)
  if (event.retries) parts.push(`retries=${event.retries}`)
  if (event.hedges) parts.push(`hedges=${event.hedges}`)
  if (event.breaker) parts.push(`breaker=${event.breaker}`)
  if (event.sessionId) parts.push(`sess=${event.sessionId.slice(0, 8)}`)
  if (event.subject) parts.push(`user=${clip(event.subject)}`)
  if (event.client) {
    const { name, version } = event.client
    parts.push(clip(`${name}${version ? `/${version}` : ''}`))
  }
  return parts.join(' ')
}

function outcomeLabel(event: ExchangeEvent): string {
  if (event.outcome === 'error') {
    const message = event.errorMessage ? ` ${JSON.stringify(clip(event.errorMessage, 512))}` : ''
    return `error(${event.errorCode ?? '?'}${message})`
  }
  return event.outcome
}

/** Client-chosen text (a tool name, a client name) kept to a line's worth. */
function clip(text: string, max = 256): string {
  return clipText(printable(text), max)
}

export function formatDuration(us: number): string {
  if (us <= 0) return '—'
  if (us < 1000) return `${us}µs`
  if (us < 1_000_000) return `${(us / 1000).toFixed(1)}ms`
  return `${(us / 1_000_000).toFixed(2)}s`
}

export function formatBytes(bytes: number): string {
  return formatSize(bytes, { compact: true })
}

export type { PorticoEvent }
