/** Starts a real Portico on 127.0.0.1:0 with a capturing sink, for integration tests. */
import {
  type Config,
  type ConfigInput,
  isParsedConfig,
  markParsed,
} from '../../src/config/schema.ts'
import { createPortico, type Portico, type PorticoOptions } from '../../src/index.ts'
import type { Sink } from '../../src/observe/bus.ts'
import type { ExchangeEvent, PorticoEvent } from '../../src/observe/event.ts'
import { Logger } from '../../src/observe/logger.ts'

export interface CaptureSink extends Sink {
  events: PorticoEvent[]
  exchanges(): ExchangeEvent[]
  /** Resolves when `predicate` holds for the captured events (bounded wait). */
  waitFor(predicate: (events: PorticoEvent[]) => boolean, timeoutMs?: number): Promise<void>
}

export function captureSink(): CaptureSink {
  const events: PorticoEvent[] = []
  const waiters = new Set<() => void>()
  return {
    name: 'capture',
    wantsResults: true,
    events,
    write(batch) {
      events.push(...batch)
      for (const wake of waiters) wake()
    },
    async close() {},
    exchanges: () => events.filter((e): e is ExchangeEvent => e.type === 'exchange'),
    waitFor(predicate, timeoutMs = 5000) {
      if (predicate(events)) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          // The predicate's own source says what was awaited.
          const what = predicate.toString().replace(/\s+/g, ' ').slice(0, 300)
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for events where ${what}; have ${events.length}`,
            ),
          )
        }, timeoutMs)
        const check = () => {
          if (!predicate(events)) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
        waiters.add(check)
      })
    },
  }
}

export interface RunningPortico {
  url: string
  origin: string
  portico: Portico
  sink: CaptureSink
  close(): Promise<void>
}

export async function startPortico(
  config: ConfigInput | Config,
  options: PorticoOptions = {},
): Promise<RunningPortico> {
  const sink = captureSink()
  // Always a free port on loopback, even for a config loaded from a file (port 3000). A
  // loaded config stays parsed: parsing it again would read its milliseconds as seconds.
  const place = { host: '127.0.0.1', port: 0 }
  const input = isParsedConfig(config)
    ? markParsed({ ...config, access_log: config.access_log ?? false, ...place })
    : ({ access_log: false, drain_timeout: 2, ...config, ...place } as ConfigInput)
  const portico = createPortico(input, {
    logger: new Logger({ level: 'silent' }),
    ...options,
    sinks: [sink, ...(options.sinks ?? [])],
  })
  const { url } = await portico.listen()
  return { url, origin: new URL(url).origin, portico, sink, close: () => portico.close() }
}
