/**
 * `portico dashboard` as a child process over a store the real store sink writes: the rows a
 * test records are committed before it goes on.
 */
import { join } from 'node:path'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { type StoreSink, storeSink } from '../../src/store/sink.ts'
import { CLI, cliEnv } from './cli.ts'
import { type Spawned, spawnReady } from './processes.ts'
import { until } from './wait.ts'

export interface StoreDashboard {
  /** The dashboard's URL, ending with `/`. */
  base: string
  cli: Spawned
  /** Writes the events and waits until they are committed. */
  record(events: ExchangeEvent[]): Promise<void>
  close(): Promise<void>
}

const READY = /Portico dashboard on (http:\/\/\S+)/

/** A store in `dir` holding `events`, and the dashboard over it. */
export async function storeDashboard(
  dir: string,
  proxy: string,
  events: ExchangeEvent[],
): Promise<StoreDashboard> {
  const db = join(dir, 'store.db')
  const sink: StoreSink = storeSink({ path: db, proxy, flushMs: 20 })
  const record = async (batch: ExchangeEvent[]) => {
    const before = sink.stats().written
    sink.write(batch)
    await until(
      () => sink.stats().written >= before + batch.length || undefined,
      10_000,
      'the rows committed',
    )
  }
  await record(events)
  const cli = await spawnReady(process.execPath, [CLI, 'dashboard', '--db', db, '--port', '0'], {
    env: cliEnv(),
    ready: READY,
  })
  return {
    base: READY.exec(cli.output())?.[1] ?? '',
    cli,
    record,
    close: async () => {
      await cli.stop()
      await sink.close()
    },
  }
}
