/**
 * Dashboard benchmark: every page's data (the JSON the browser fetches) over a store of
 * 1,000,000 exchanges spread over 24 hours, two proxies and 5,000 sessions, for the 1 h and 24 h
 * windows. Each number is the median of five runs of the page's query in process (what the
 * server spends before it writes the answer). Goal: ≤ 200 ms per page.
 *
 * Run: `npm run build && node dist/bench/dashboard.js [--rows N]`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PAGES } from '../src/dashboard/pages.ts'
import { Params } from '../src/dashboard/query.ts'
import type { ExchangeEvent } from '../src/observe/event.ts'
import { Ingestor } from '../src/store/ingest.ts'
import { openStore } from '../src/store/open.ts'
import { lastExchangeId, logsAfter } from '../src/store/report-logs.ts'
import { syntheticEvent } from './store.ts'

const DAY = 86_400_000
const SESSIONS = 5000

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

function event(i: number, ts: number): ExchangeEvent {
  const base = syntheticEvent(i, ts, i % 3 === 0 ? 'search' : 'main')
  const error = i % 40 === 0
  return {
    ...base,
    sessionId: `session-${i % SESSIONS}`,
    ...(i < SESSIONS
      ? {
          client: { name: ['claude-code', 'cursor', 'chatgpt'][i % 3] as string, version: '1.0.0' },
        }
      : {}),
    ...(error ? { errorCode: -32000 - (i % 4), errorMessage: `failure kind ${i % 4}` } : {}),
  }
}

function fill(path: string, rows: number): number {
  const db = openStore(path, { create: true })
  const ingestor = new Ingestor(db)
  const now = Date.now()
  const started = performance.now()
  const batch: ExchangeEvent[] = []
  for (let i = 0; i < rows; i++) {
    batch.push(event(i, now - DAY + Math.floor((i / rows) * DAY)))
    if (batch.length === 10_000) {
      ingestor.write(batch)
      batch.length = 0
    }
  }
  if (batch.length) ingestor.write(batch)
  db.close()
  return (performance.now() - started) / 1000
}

export function runDashboardBench(rows: number): Array<[string, number, number]> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-dashboard-bench-'))
  const path = join(dir, 'store.db')
  try {
    const insertS = fill(path, rows)
    process.stdout.write(
      `filled ${rows.toLocaleString('en-US')} exchanges in ${insertS.toFixed(1)} s\n`,
    )
    const db = openStore(path)
    const anySession = db.prepare('SELECT session_id FROM sessions LIMIT 1').pluck().get() as string
    const pages: Array<[string, Record<string, string>]> = [
      ['proxies', {}],
      ['overview', {}],
      ['targets', {}],
      ['target', { kind: 'tool', name: 'search_docs' }],
      ['errors', {}],
      ['sessions', {}],
      ['session', { id: anySession }],
      ['clients', {}],
      ['schema', {}],
    ]
    const results: Array<[string, number, number]> = []
    for (const [name, extra] of pages) {
      const timeOf = (since: string) => {
        const params = new Params(new URLSearchParams({ ...extra, since }))
        const runs: number[] = []
        for (let i = 0; i < 5; i++) {
          const start = performance.now()
          JSON.stringify(PAGES[name]?.(db, params, Date.now()))
          runs.push(performance.now() - start)
        }
        return Math.round(median(runs) * 10) / 10
      }
      results.push([name, timeOf('1h'), timeOf('24h')])
    }
    const liveRuns: number[] = []
    const after = lastExchangeId(db) - 200
    for (let i = 0; i < 5; i++) {
      const start = performance.now()
      logsAfter(db, {}, after, 200)
      liveRuns.push(performance.now() - start)
    }
    const live = Math.round(median(liveRuns) * 10) / 10
    results.push(['live (200 new rows)', live, live])
    db.close()
    return results
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const flag = process.argv.indexOf('--rows')
  const rows = flag === -1 ? 1_000_000 : Number(process.argv[flag + 1])
  const results = runDashboardBench(rows)
  process.stdout.write('page                     1h window   24h window   (median of 5, ms)\n')
  for (const [name, hour, day] of results) {
    process.stdout.write(
      `${name.padEnd(24)} ${String(hour).padStart(9)}   ${String(day).padStart(10)}\n`,
    )
  }
}
