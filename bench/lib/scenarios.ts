/**
 * The scenarios S1–S7 of the bench. Each starts its contenders, measures them side by side
 * in rounds (see compare.ts) and returns a report section plus the figures the targets use.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { closedLoop, openSessions, Session, Target } from './client.ts'
import {
  type Comparison,
  compare,
  type Metrics,
  maxDiff,
  med,
  medDiff,
  medRatio,
  roundRatios,
} from './compare.ts'
import {
  type Launcher,
  ROOT,
  type Running,
  Skip,
  STDIO_FIXTURE,
  startFixture,
} from './contenders.ts'
import { porticoGatewayOps, porticoOps, startSpanSink } from './operate.ts'
import { start, treeCpuUs, treeRss } from './procs.ts'
import type { Section, Table } from './report.ts'
import {
  formatCount,
  formatMb,
  formatRatio,
  formatSignedUs,
  formatUs,
  median,
  ratio,
  summarize,
} from './stats.ts'
import { type LoadedSide, pairedRatio, sliceTogether } from './together.ts'

export interface Plan {
  quick: boolean
  rounds: number
  warmupMs: number
  durationMs: number
  log: (line: string) => void
}

/** Figures the targets are checked against, keyed `S1.c1.portico.addedP50` and so on. */
export type Figures = Map<string, number>

export interface Loaded {
  target: Target
  sessions: Session[]
}

export async function loadTarget(running: Running, sessions: number): Promise<Loaded> {
  const target = new Target(running.url, sessions)
  return { target, sessions: await openSessions(target, sessions) }
}

export async function unload(loaded: Loaded): Promise<void> {
  await Promise.all(loaded.sessions.map((s) => s.close().catch(() => undefined)))
  await loaded.target.close()
}

let unique = 0
/** A distinct argument per request, so no cache can answer. */
export function distinct(): string {
  return `r${process.pid}-${++unique}-${Math.random().toString(36).slice(2, 8)}`
}

export function skippedNotes(comparison: Comparison): string[] {
  return comparison.skipped.map((s) => `skipped ${s.name}: ${s.reason}`)
}

// ---------------------------------------------------------------------------------------
// S1: small tools/call at 1 and 16 sessions

export async function s1(plan: Plan, launchers: Launcher[], figures: Figures): Promise<Section> {
  const fixture = await startFixture()
  const levels = [1, 16]
  try {
    const comparison = await compare<Loaded>({
      launchers,
      upstream: fixture.url,
      rounds: plan.rounds,
      log: plan.log,
      prepare: (running) => loadTarget(running, 16),
      measure: (loaded, running) => cells(plan, loaded, running, levels, 'echo'),
      cleanup: unload,
    })
    const tables = levels.map((c) => latencyTable(comparison, `c${c}`, figures, `S1.c${c}`))
    return {
      id: 'S1',
      title: '`tools/call`, small payload, 1 and 16 concurrent sessions',
      method:
        'Each session initializes once, then sends `tools/call echo` with a distinct `text` argument as fast as answers come back (closed loop). ' +
        `Per round and contender: ${plan.warmupMs} ms warm-up, ${plan.durationMs} ms measured at c=1, then the same at c=16. ` +
        '"added" = contender − direct within the same round, median over rounds; rps ratios are against the same-round medians.',
      tables: tables.map((t, i) => ({
        ...t,
        columns: [`c=${levels[i]}: ${t.columns[0]}`, ...t.columns.slice(1)],
      })),
      notes: skippedNotes(comparison),
    }
  } finally {
    await fixture.stop()
  }
}

/**
 * Closed-loop `tools/call` cells at each concurrency level, with the proxy's CPU time per
 * request (user + system, from /proc): the cost figure that scheduling noise does not blur.
 */
export async function cells(
  plan: Plan,
  loaded: Loaded,
  running: Running,
  levels: readonly number[],
  tool: string,
): Promise<Metrics> {
  const metrics: Metrics = {}
  for (const c of levels) {
    const sessions = loaded.sessions.slice(0, c)
    const name = `${running.toolPrefix ?? ''}${tool}`
    const call = (session: Session) => session.call(name, distinct())
    await closedLoop(sessions, call, 0, plan.warmupMs)
    const cpuBefore = running.pid ? treeCpuUs(running.pid) : Number.NaN
    const load = await closedLoop(sessions, call, 0, plan.durationMs)
    const cpu = running.pid ? treeCpuUs(running.pid) - cpuBefore : Number.NaN
    const summary = summarize(load.latenciesUs)
    metrics[`c${c}.p50`] = summary.p50
    metrics[`c${c}.p99`] = summary.p99
    metrics[`c${c}.rps`] = load.requests / load.seconds
    metrics[`c${c}.errors`] = load.errors
    metrics[`c${c}.cpu`] = cpu / Math.max(1, load.requests)
  }
  return metrics
}

/** The latency/throughput table shared by S1, S3 and S4 for one cell (`c1`, `c16`, …). */
function latencyTable(
  comparison: Comparison,
  cell: string,
  figures: Figures,
  prefix: string,
  baselines: readonly string[] = ['direct', 'nginx', 'bare-node'],
): Table {
  const present = baselines.filter((b) => comparison.rounds.has(b))
  const hasDirect = comparison.rounds.has('direct')
  const columns = ['contender', 'p50', 'p99']
  if (hasDirect) columns.push('added p50', 'added p99')
  columns.push('req/s', 'proxy CPU/req', 'errors')
  for (const b of present) columns.push(`req/s vs ${b}`)
  const rows = comparison.names.map((name) => {
    const p50 = med(comparison, name, `${cell}.p50`)
    const p99 = med(comparison, name, `${cell}.p99`)
    const rps = med(comparison, name, `${cell}.rps`)
    const errors = (comparison.rounds.get(name) ?? []).reduce(
      (sum, m) => sum + (m[`${cell}.errors`] ?? 0),
      0,
    )
    figures.set(`${prefix}.${name}.p50`, p50)
    figures.set(`${prefix}.${name}.p99`, p99)
    figures.set(`${prefix}.${name}.rps`, rps)
    const row = [name, formatUs(p50), formatUs(p99)]
    if (hasDirect) {
      const addedP50 = medDiff(comparison, name, 'direct', `${cell}.p50`)
      const addedP99 = medDiff(comparison, name, 'direct', `${cell}.p99`)
      figures.set(`${prefix}.${name}.addedP50`, addedP50)
      figures.set(`${prefix}.${name}.addedP99`, addedP99)
      figures.set(
        `${prefix}.${name}.addedP99Max`,
        maxDiff(comparison, name, 'direct', `${cell}.p99`),
      )
      row.push(
        name === 'direct' ? '—' : formatUs(addedP50),
        name === 'direct' ? '—' : formatUs(addedP99),
      )
    }
    const cpu = med(comparison, name, `${cell}.cpu`)
    figures.set(`${prefix}.${name}.cpu`, cpu)
    pairedFigures(comparison, cell, name, figures, prefix)
    row.push(formatCount(rps), formatUs(cpu), String(errors))
    for (const b of present) row.push(formatRatio(ratio(rps, med(comparison, b, `${cell}.rps`))))
    return row
  })
  return { columns, rows }
}

/**
 * Per-round ratios of `name` to the contenders issue 18's targets are read against (bare
 * Node; Portico with the store off, for what recording costs): `{prefix}.{name}.rpsOver.{b}`
 * and `.cpuOver.{b}`, medians of ratios taken within each round.
 */
function pairedFigures(
  comparison: Comparison,
  cell: string,
  name: string,
  figures: Figures,
  prefix: string,
): void {
  for (const baseline of ['bare-node', 'portico-nostore']) {
    if (!comparison.rounds.has(baseline) || baseline === name) continue
    for (const metric of ['rps', 'cpu']) {
      figures.set(
        `${prefix}.${name}.${metric}Over.${baseline}`,
        medRatio(comparison, name, baseline, `${cell}.${metric}`),
      )
    }
  }
}

// ---------------------------------------------------------------------------------------
// S2: streamed tool with 100 progress events

export async function s2(plan: Plan, launchers: Launcher[], figures: Figures): Promise<Section> {
  const fixture = await startFixture()
  const perRound = plan.quick ? 5 : 20
  try {
    const comparison = await compare<Loaded>({
      launchers,
      upstream: fixture.url,
      rounds: plan.rounds,
      log: plan.log,
      prepare: (running) => loadTarget(running, 1),
      measure: async (loaded) => {
        const session = loaded.sessions[0] as Session
        const first: number[] = []
        const total: number[] = []
        let errors = 0
        for (let i = 0; i < perRound + 1; i++) {
          const text = distinct()
          const answer = await session.request(
            'tools/call',
            {
              name: 'progress',
              arguments: { text, count: 100, intervalMs: 1 },
              _meta: { progressToken: text },
            },
            'notifications/progress',
          )
          const events = answer.text.split('notifications/progress').length - 1
          if (answer.status !== 200 || events !== 100 || answer.firstMs === undefined) {
            errors++
            continue
          }
          if (i === 0) continue // warm-up
          first.push(answer.firstMs * 1000)
          total.push(answer.totalMs * 1000)
        }
        return { first: median(first), total: median(total), firstMax: Math.max(...first), errors }
      },
      cleanup: unload,
    })
    const rows = comparison.names.map((name) => {
      const addedFirst = medDiff(comparison, name, 'direct', 'first')
      const addedTotal = medDiff(comparison, name, 'direct', 'total')
      figures.set(`S2.${name}.addedFirst`, addedFirst)
      figures.set(`S2.${name}.first`, med(comparison, name, 'first'))
      return [
        name,
        formatUs(med(comparison, name, 'first')),
        name === 'direct' ? '—' : formatSignedUs(addedFirst),
        formatUs(med(comparison, name, 'firstMax')),
        formatUs(med(comparison, name, 'total')),
        name === 'direct' ? '—' : formatSignedUs(addedTotal),
        String((comparison.rounds.get(name) ?? []).reduce((s, m) => s + (m.errors ?? 0), 0)),
      ]
    })
    return {
      id: 'S2',
      title: 'streamed tool, 100 progress events',
      method:
        `\`tools/call progress\` answers with an SSE stream: 100 \`notifications/progress\` events 1 ms apart, then the result. ${perRound} calls per round and contender (after one warm-up call), one session. ` +
        '"first event" = time from sending the request until the first body chunk holding a progress notification arrives; "completion" = until the stream ends. A proxy that buffers shows up in the first column.',
      tables: [
        {
          columns: [
            'contender',
            'first event',
            'added',
            'worst first event (median of round maxima)',
            'completion',
            'added',
            'errors',
          ],
          rows,
        },
      ],
      notes: skippedNotes(comparison),
    }
  } finally {
    await fixture.stop()
  }
}

// ---------------------------------------------------------------------------------------
// S3: 1 MiB result

export async function s3(plan: Plan, launchers: Launcher[], figures: Figures): Promise<Section> {
  const fixture = await startFixture()
  try {
    const comparison = await compare<Loaded>({
      launchers,
      upstream: fixture.url,
      rounds: plan.rounds,
      log: plan.log,
      prepare: (running) => loadTarget(running, 4),
      measure: (loaded, running) => cells(plan, loaded, running, plan.quick ? [1] : [1, 4], 'big'),
      cleanup: unload,
    })
    const tables = (plan.quick ? [1] : [1, 4]).map((c) => {
      const t = latencyTable(comparison, `c${c}`, figures, `S3.c${c}`)
      return { ...t, columns: [`c=${c}: ${t.columns[0]}`, ...t.columns.slice(1)] }
    })
    return {
      id: 'S3',
      title: '1 MiB `tools/call` result',
      method:
        '`tools/call big` returns a 1 MiB text result (JSON, `content-length`), closed loop at 1 and 4 sessions, ' +
        `${plan.warmupMs} ms warm-up + ${plan.durationMs} ms per cell. At 1 MiB per answer, req/s × 1 MiB is the throughput in MiB/s.`,
      tables,
      notes: skippedNotes(comparison),
    }
  } finally {
    await fixture.stop()
  }
}

// ---------------------------------------------------------------------------------------
// S4: a stdio server exposed over HTTP

export async function s4(plan: Plan, launchers: Launcher[], figures: Figures): Promise<Section> {
  const levels = [1, 16]
  const comparison = await compare<Loaded>({
    launchers,
    upstream: '',
    rounds: plan.rounds,
    log: plan.log,
    prepare: (running) => loadTarget(running, 16),
    measure: (loaded, running) => cells(plan, loaded, running, levels, 'echo'),
    cleanup: unload,
  })
  const tables = levels.map((c) => {
    const t = latencyTable(comparison, `c${c}`, figures, `S4.c${c}`, ['supergateway', 'mcp-proxy'])
    return { ...t, columns: [`c=${c}: ${t.columns[0]}`, ...t.columns.slice(1)] }
  })
  return {
    id: 'S4',
    title: 'a stdio server exposed over Streamable HTTP',
    method:
      'The stdio fixture (`bench/fixtures/stdio-server.ts`, newline-delimited JSON-RPC) behind each bridge; the client opens 16 sessions and runs `tools/call echo` closed-loop at c=1 and c=16 ' +
      `(${plan.warmupMs} ms warm-up + ${plan.durationMs} ms per cell). There is no "direct" here: an HTTP client cannot talk to a stdio server without a bridge.`,
    tables,
    notes: skippedNotes(comparison),
  }
}

// ---------------------------------------------------------------------------------------
// S5: tools/list across 10 backends × 50 tools

export async function s5(
  plan: Plan,
  gateway: (urls: string[]) => Launcher,
  figures: Figures,
): Promise<Section> {
  const fixtures: Running[] = []
  const notes: string[] = []
  const rows: string[][] = []
  try {
    for (let i = 0; i < 10; i++) fixtures.push(await startFixture(50, `b${i}`))
    const urls = fixtures.map((f) => f.url)
    const warmCalls = plan.quick ? 50 : 300
    // Direct: the client itself asks the 10 backends in parallel and merges (what a gateway saves it).
    const direct = await directLists(urls, warmCalls)
    figures.set('S5.direct.cold', direct.cold)
    figures.set('S5.direct.warm', direct.warm)
    rows.push([
      'direct (client asks 10 backends in parallel)',
      String(direct.tools),
      formatUs(direct.cold),
      formatUs(direct.warm),
      formatUs(direct.warmP99),
    ])
    try {
      const running = await gateway(urls).start('')
      try {
        const result = await gatewayLists(running.url, warmCalls)
        figures.set('S5.portico-gateway.cold', result.cold)
        figures.set('S5.portico-gateway.warm', result.warm)
        rows.push([
          'portico-gateway (one tools/list)',
          String(result.tools),
          formatUs(result.cold),
          formatUs(result.warm),
          formatUs(result.warmP99),
        ])
      } finally {
        await running.stop()
      }
    } catch (error) {
      notes.push(
        `skipped portico-gateway: ${error instanceof Skip ? error.message : String(error)}`,
      )
    }
  } finally {
    await Promise.all(fixtures.map((f) => f.stop()))
  }
  return {
    id: 'S5',
    title: '`tools/list` across 10 backends × 50 tools',
    method:
      'Ten HTTP fixtures with 50 tools each. "cold" = from a fresh session (initialize included) to the first complete `tools/list`; "warm" = p50 of further `tools/list` calls on the open session(s). ' +
      'The direct row is what a client without a gateway must do: 10 sessions and 10 lists in parallel, merged client-side.',
    tables: [{ columns: ['contender', 'tools', 'cold', 'warm p50', 'warm p99'], rows }],
    notes,
  }
}

function toolCount(text: string): number {
  return text.split('"inputSchema"').length - 1
}

async function directLists(urls: string[], calls: number) {
  const targets = urls.map((u) => new Target(u, 1))
  try {
    const begin = performance.now()
    const sessions = await Promise.all(
      targets.map(async (t) => {
        const s = new Session(t)
        await s.open()
        return s
      }),
    )
    const first = await Promise.all(sessions.map((s) => s.request('tools/list', {})))
    const cold = (performance.now() - begin) * 1000
    const tools = first.reduce((sum, a) => sum + toolCount(a.text), 0)
    const samples: number[] = []
    for (let i = 0; i < calls; i++) {
      const t0 = performance.now()
      await Promise.all(sessions.map((s) => s.request('tools/list', {})))
      samples.push((performance.now() - t0) * 1000)
    }
    const summary = summarize(samples)
    return { cold, tools, warm: summary.p50, warmP99: summary.p99 }
  } finally {
    await Promise.all(targets.map((t) => t.close()))
  }
}

async function gatewayLists(url: string, calls: number) {
  const target = new Target(url, 1)
  try {
    const begin = performance.now()
    const session = new Session(target)
    await session.open()
    const first = await session.request('tools/list', {})
    const cold = (performance.now() - begin) * 1000
    const samples: number[] = []
    for (let i = 0; i < calls; i++) {
      samples.push((await session.request('tools/list', {})).totalMs * 1000)
    }
    const summary = summarize(samples)
    return { cold, tools: toolCount(first.text), warm: summary.p50, warmP99: summary.p99 }
  } finally {
    await target.close()
  }
}

// ---------------------------------------------------------------------------------------
// S6: memory

export async function s6(
  launchers: Launcher[],
  figures: Figures,
  manySessions: (name: string) => string | undefined,
  starts = 3,
): Promise<Section> {
  const sessionsWanted = 1000
  const rows: string[][] = []
  const heapRows: string[][] = []
  const notes: string[] = []
  const fixture = await startFixture()
  try {
    rows.push([
      'fixture (the upstream itself, for scale)',
      formatMb(treeRss(fixture.pid)),
      '—',
      '—',
      '—',
      '—',
    ])
    for (const launcher of launchers) {
      const refusal = manySessions(launcher.name)
      const idle: number[] = []
      const loaded: number[] = []
      const settled: number[] = []
      try {
        for (let i = 0; i < starts; i++) {
          const figure = await rssOnce(launcher, fixture.url, refusal ? 0 : sessionsWanted)
          idle.push(figure.idle)
          if (figure.loaded !== undefined) loaded.push(figure.loaded)
          if (figure.settled !== undefined) settled.push(figure.settled)
        }
      } catch (error) {
        notes.push(
          `skipped ${launcher.name}: ${error instanceof Skip ? error.message : String(error)}`,
        )
        continue
      }
      figures.set(`S6.${launcher.name}.idle`, median(idle))
      if (refusal) {
        rows.push([launcher.name, formatMb(median(idle)), '—', '—', '—', '—'])
        notes.push(`${launcher.name}: ${sessionsWanted} sessions not measured: ${refusal}`)
        continue
      }
      figures.set(`S6.${launcher.name}.burst`, median(loaded))
      figures.set(`S6.${launcher.name}.sessions`, median(settled))
      rows.push([
        launcher.name,
        formatMb(median(idle)),
        formatMb(median(loaded)),
        `${formatMb(Math.min(...loaded))} – ${formatMb(Math.max(...loaded))}`,
        `${formatMb(median(settled))} (${formatMb(Math.min(...settled))} – ${formatMb(Math.max(...settled))})`,
        formatMb(median(settled) - median(idle)),
      ])
    }
    for (const launcher of launchers) {
      const row = await liveHeapRow(launcher, fixture.url, sessionsWanted, figures)
      if (row) heapRows.push(row)
    }
  } finally {
    await fixture.stop()
  }
  const tables = [
    {
      columns: [
        'contender',
        'idle',
        `${sessionsWanted} sessions, 0.5 s after the burst`,
        'range',
        `${sessionsWanted} sessions, ${SETTLE_MS / 1000} s after (range)`,
        'growth (settled − idle)',
      ],
      rows,
    },
  ]
  if (heapRows.length > 0) {
    tables.push({
      columns: ['live heap, after a full GC', 'idle', `${sessionsWanted} sessions`, 'per session'],
      rows: heapRows,
    })
  }
  return {
    id: 'S6',
    title: 'memory: RSS idle and with 1,000 open sessions',
    method:
      `RSS of the proxy process and its children (/proc, VmRSS), 0.5 s after start ("idle"), then after ${sessionsWanted} sessions were initialized through it (100 at a time, over up to 100 keep-alive connections) and each made one \`tools/call\`, sessions left open: 0.5 s after that burst, and again ${SETTLE_MS / 1000} s after it with the sessions still open and idle (what the process holds while it keeps them; the target is judged on this figure). Right after a burst V8's young generation is at the size the burst grew it to (up to 32 MB); an idle Portico gives it back some 6 s into the quiet (src/util/idle-memory.ts), other Node processes keep it. ` +
      `Stdio bridges include the stdio children they spawned. Each contender is started ${starts === 1 ? 'once' : `${starts} times`}; the figures are medians, with the ranges of the figures at ${sessionsWanted} sessions: after a burst, RSS depends on when V8 last collected (one start read 115 MB and the next 129 MB for the same build). ` +
      "Then each Portico again, started with a probe (bench/fixtures/heap-probe.ts, `--expose-gc`), for its main thread's live heap after a full collection at the same two moments: what the sessions keep alive, per session (with the code V8 compiled for their first calls), apart from the room V8 keeps for garbage (the RSS growth). A separate start, so that the probe's collections do not change the RSS figures.",
    tables,
    notes,
  }
}

/**
 * How long after the burst the settled reading is taken, sessions still open: an idle Portico
 * gives back the young generation the burst grew some 6 s into the quiet (src/util/idle-memory.ts).
 */
const SETTLE_MS = 8000

interface RssFigure {
  idle: number
  /** 0.5 s after the burst. */
  loaded?: number
  /** SETTLE_MS after the burst, the sessions still open. */
  settled?: number
}

/** One start of a contender: its RSS idle and, unless `sessions` is 0, with them open. */
async function rssOnce(launcher: Launcher, upstream: string, sessions: number): Promise<RssFigure> {
  const running = await launcher.start(upstream)
  try {
    await sleep(500)
    const idle = treeRss(running.pid)
    if (sessions === 0) return { idle }
    const target = await withSessions(running, sessions)
    await sleep(500)
    const loaded = treeRss(running.pid)
    await sleep(SETTLE_MS - 500)
    const settled = treeRss(running.pid)
    await target.close()
    return { idle, loaded, settled }
  } finally {
    await running.stop()
  }
}

/** Opens `count` sessions through `running`, 100 at a time, each making one call. */
async function withSessions(running: Running, count: number): Promise<Target> {
  const target = new Target(running.url, 100)
  const sessions = await openSessions(target, count, 100)
  const echo = `${running.toolPrefix ?? ''}echo`
  for (let i = 0; i < sessions.length; i += 100) {
    await Promise.all(sessions.slice(i, i + 100).map((s) => s.call(echo, distinct())))
  }
  return target
}

/** A Portico's live heap idle and with the sessions open; undefined for the other contenders. */
async function liveHeapRow(
  launcher: Launcher,
  upstream: string,
  count: number,
  figures: Figures,
): Promise<string[] | undefined> {
  if (!launcher.probesHeap) return undefined
  let running: Running
  try {
    running = await launcher.start(upstream, { heapProbe: true })
  } catch {
    return undefined // said in the RSS pass already
  }
  try {
    if (running.liveHeap === undefined) return undefined
    await sleep(500)
    const idle = await running.liveHeap()
    const target = await withSessions(running, count)
    const loaded = await running.liveHeap()
    await target.close()
    const perSession = (loaded - idle) / count
    figures.set(`S6.${launcher.name}.heapPerSession`, perSession)
    return [
      launcher.name,
      formatMb(idle),
      formatMb(loaded),
      `${formatCount(Math.round(perSession))} B`,
    ]
  } finally {
    await running.stop()
  }
}

// ---------------------------------------------------------------------------------------
// S7: the store (written on the `store` branch as bench/store.ts)

export async function s7(plan: Plan, figures: Figures): Promise<Section> {
  const script = join(ROOT, 'dist/bench/store.js')
  const args = [script, '--json', ...(plan.quick ? ['--quick'] : [])]
  const section: Section = {
    id: 'S7',
    title: 'store: recorded events/s and drops',
    method: `Runs \`node dist/bench/store.js${plan.quick ? ' --quick' : ''}\` (bench/store.ts: the sink alone, paced and flat out; a transparent Portico with recording on vs off in alternating rounds at c=16; \`portico status\` over a large store) and includes its output.`,
    tables: [],
    notes: [],
  }
  if (!existsSync(script)) {
    section.notes.push('skipped: dist/bench/store.js not built')
    return section
  }
  const started = await start(process.execPath, args)
  const code = await new Promise<number | null>((resolve) =>
    started.child.once('exit', (status) => resolve(status)),
  )
  const lines = started.output().trim().split('\n')
  const json = lines.find((line) => line.startsWith('{'))
  const text = lines.filter((line) => line !== json).join('\n')
  section.method += `\n\n\`\`\`text\n${text}\n\`\`\``
  if (code !== 0) section.notes.push(`store bench exited with ${code}`)
  if (json) storeFigures(JSON.parse(json) as unknown, figures)
  return section
}

/** Keeps the store bench's headline numbers (on/off ratio, peak events/s) with the others. */
function storeFigures(result: unknown, figures: Figures): void {
  const r = result as {
    sink?: { peak?: { events_per_s?: number } }
    proxy?: { ratio_on_off?: number; median_on_rps?: number; median_off_rps?: number }
    status?: { median_report_ms?: number }
  }
  const set = (key: string, value: number | undefined) => {
    if (typeof value === 'number') figures.set(key, value)
  }
  set('S7.sink.peakEventsPerS', r.sink?.peak?.events_per_s)
  set('S7.proxy.ratioOnOff', r.proxy?.ratio_on_off)
  set('S7.proxy.onRps', r.proxy?.median_on_rps)
  set('S7.proxy.offRps', r.proxy?.median_off_rps)
  set('S7.status.reportMs', r.status?.median_report_ms)
}

// ---------------------------------------------------------------------------------------
// S8: traffic protection (issue 12)

/**
 * Two measurements side by side. Cost: `tools/call echo` (read-only, distinct arguments, so
 * the cache always misses and stores, and retries, hedging and coalescing all take part)
 * through Portico with no protection table and with every table configured, limits far above
 * the load. Cache: `tools/call work` (the upstream takes 5 ms) with one fixed argument, direct
 * against Portico answering from its cache.
 */
export async function s8(
  plan: Plan,
  contenders: { direct: Launcher; plain: Launcher; protected: Launcher; cache: Launcher },
  figures: Figures,
): Promise<Section> {
  const fixture = await startFixture()
  const levels = [1, 16]
  const together: string[][] = []
  try {
    const cost = await compare<Loaded>({
      launchers: [contenders.plain, contenders.protected],
      upstream: fixture.url,
      rounds: plan.rounds,
      log: plan.log,
      prepare: async (running) => {
        const loaded = await loadTarget(running, 16)
        // Portico learns the tools' annotations from a listing (echo is read-only).
        await loaded.sessions[0]?.request('tools/list', {})
        return loaded
      },
      measure: (loaded, running) => cells(plan, loaded, running, levels, 'echo'),
      cleanup: unload,
      after: async (active) => {
        together.push(...(await togetherRows(plan, active, levels, 'echo', 'S8', figures)))
      },
    })
    const costTables = levels.map((c) => {
      const t = latencyTable(cost, `c${c}`, figures, `S8.c${c}`, [])
      return { ...t, columns: [`c=${c}: ${t.columns[0]}`, ...t.columns.slice(1)] }
    })
    // The target's ratio is the median of per-round ratios (the two Porticos ran back to back
    // in each round), as S9's: a shared machine's drift between rounds cancels out. The ratio
    // of the medians is kept beside it.
    const paired = levels.map((c) =>
      pairedRow(cost, 'portico-plain', 'portico-protected', `c=${c}`, `S8.c${c}`, c, figures),
    )
    for (const c of levels) {
      figures.set(`S8.c${c}.ratio`, figures.get(`S8.c${c}.pairedRps`) ?? Number.NaN)
      figures.set(
        `S8.c${c}.ratioOfMedians`,
        ratio(med(cost, 'portico-protected', `c${c}.rps`), med(cost, 'portico-plain', `c${c}.rps`)),
      )
    }
    const hits = await compare<Loaded>({
      launchers: [contenders.direct, contenders.cache],
      upstream: fixture.url,
      rounds: plan.rounds,
      log: plan.log,
      prepare: (running) => loadTarget(running, 1),
      measure: async (loaded) => {
        const session = loaded.sessions[0] as Session
        const call = () => session.call('work', 'the same question', { ms: 5 })
        await closedLoop([session], call, 0, plan.warmupMs)
        const load = await closedLoop([session], call, 0, plan.durationMs)
        const summary = summarize(load.latenciesUs)
        return { p50: summary.p50, p99: summary.p99, rps: load.requests / load.seconds }
      },
      cleanup: unload,
    })
    const hitRows = hits.names.map((name) => {
      figures.set(`S8.cache.${name}.p50`, med(hits, name, 'p50'))
      return [
        name,
        formatUs(med(hits, name, 'p50')),
        formatUs(med(hits, name, 'p99')),
        formatCount(med(hits, name, 'rps')),
      ]
    })
    const ratios = levels
      .map(
        (c) =>
          `c=${c}: ${formatRatio(figures.get(`S8.c${c}.ratio`) ?? Number.NaN)} (ratio of the medians ${formatRatio(figures.get(`S8.c${c}.ratioOfMedians`) ?? Number.NaN)})`,
      )
      .join(', ')
    return {
      id: 'S8',
      title:
        'traffic protection: the full policy stack against none, and a cache hit against direct',
      method:
        'Cost: each session initializes, one `tools/list` teaches Portico that `echo` is read-only, then `tools/call echo` with a distinct argument closed-loop (every call misses the cache and is stored; retry, hedging and coalescing take part) at c=1 and c=16, ' +
        `${plan.warmupMs} ms warm-up + ${plan.durationMs} ms per cell, the two Porticos side by side in rotated rounds; the ratio is the median over rounds of each round's protected ÷ plain, as in S9 (a shared machine's drift between rounds cancels out). ${TOGETHER_METHOD} ` +
        'Cache: `tools/call work` (the fixture waits 5 ms, then echoes) with one fixed argument, one session, closed loop: direct pays the upstream each time, Portico answers from its cache.',
      tables: [
        { columns: pairedColumns('protected ÷ plain, sessions'), rows: paired },
        { columns: togetherColumns('protected ÷ plain, loaded together'), rows: together },
        ...costTables,
        { columns: ['cache: contender', 'p50', 'p99', 'req/s'], rows: hitRows },
      ],
      notes: [
        ...skippedNotes(cost),
        ...skippedNotes(hits),
        `req/s protected ÷ plain, median of paired rounds: ${ratios}`,
      ],
    }
  } finally {
    await fixture.stop()
  }
}
// S9: metrics + tracing + audit on vs off (issue 14)

export async function s9(plan: Plan, entry: string, figures: Figures): Promise<Section> {
  const sink = await startSpanSink()
  const otlp = () => sink.url
  const fixture = await startFixture()
  const levels = [1, 16]
  const tables: Table[] = []
  const paired: string[][] = []
  const together: string[][] = []
  const notes: string[] = []
  try {
    const modes: Array<[string, Launcher[], string]> = [
      ['transparent', [porticoOps(false, entry, otlp), porticoOps(true, entry, otlp)], fixture.url],
      [
        'gateway',
        [
          porticoGatewayOps(false, entry, STDIO_FIXTURE, otlp),
          porticoGatewayOps(true, entry, STDIO_FIXTURE, otlp),
        ],
        '',
      ],
    ]
    for (const [mode, launchers, upstream] of modes) {
      const comparison = await compare<Loaded>({
        launchers,
        upstream,
        rounds: plan.rounds,
        log: plan.log,
        prepare: (running) => loadTarget(running, 16),
        measure: (loaded, running) => cells(plan, loaded, running, levels, 'echo'),
        cleanup: unload,
        after: async (active) => {
          const rows = await togetherRows(plan, active, levels, 'echo', `S9.${mode}`, figures)
          together.push(...rows.map(([label, ...rest]) => [`${mode}, ${label}`, ...rest]))
        },
      })
      const off = launchers[0]?.name ?? ''
      const on = launchers[1]?.name ?? ''
      for (const c of levels) {
        const t = latencyTable(comparison, `c${c}`, figures, `S9.${mode}.c${c}`, [off])
        tables.push({ ...t, columns: [`${mode} c=${c}: ${t.columns[0]}`, ...t.columns.slice(1)] })
        paired.push(
          pairedRow(comparison, off, on, `${mode}, c=${c}`, `S9.${mode}.c${c}`, c, figures),
        )
      }
      notes.push(...skippedNotes(comparison))
    }
    tables.unshift(
      { columns: pairedColumns('mode, sessions'), rows: paired },
      { columns: togetherColumns('on ÷ off, loaded together'), rows: together },
    )
    notes.push(`OTLP sink received ${await sink.posts()} export requests during the run.`)
    return {
      id: 'S9',
      title: 'metrics + tracing + audit on vs off (issue 14)',
      method:
        'The same Portico build twice per mode, store off in both: all operating surfaces off, and `[observability]` audit, metrics and tracing on (every call sampled, spans exported over OTLP/HTTP to a sink in its own process; audit lines on stderr, appended to a file, as a collector or `2>>` would take them: neither is read by the bench process, which is the load generator). Transparent mode in front of the HTTP fixture, gateway mode in front of the stdio fixture; 16 sessions, `tools/call echo` closed-loop at c=1 and c=16 ' +
        `(${plan.warmupMs} ms warm-up + ${plan.durationMs} ms per cell), ${plan.rounds} rounds with the order rotated. ${TOGETHER_METHOD} The issue's bar: on costs at most 10 % of throughput.`,
      tables,
      notes,
    }
  } finally {
    await fixture.stop()
    await sink.stop()
  }
}

/**
 * The on/off ratio of one cell per round (the two ran back to back in that round), then the
 * median and the range over rounds: steadier than a ratio of medians on a shared machine.
 * Sets `{key}.pairedRps` and `{key}.pairedCpu`; returns the table row labelled `label`.
 */
function pairedRow(
  comparison: Comparison,
  off: string,
  on: string,
  label: string,
  key: string,
  c: number,
  figures: Figures,
): string[] {
  const rps = roundRatios(comparison, on, off, `c${c}.rps`)
  const cpu = roundRatios(comparison, on, off, `c${c}.cpu`)
  figures.set(`${key}.pairedRps`, median(rps))
  figures.set(`${key}.pairedCpu`, median(cpu))
  const range = (values: number[]) =>
    values.length === 0
      ? '—'
      : `${formatRatio(Math.min(...values))} – ${formatRatio(Math.max(...values))}`
  return [label, formatRatio(median(rps)), range(rps), formatRatio(median(cpu)), range(cpu)]
}

/** The columns of `pairedRow`'s rows. */
function pairedColumns(first: string): string[] {
  return [
    first,
    'req/s on ÷ off (median of paired rounds)',
    'range over rounds',
    'CPU/req on ÷ off (median of paired rounds)',
    'range over rounds',
  ]
}

/** How the "loaded together" rows are measured, for the sections' method text. */
const TOGETHER_METHOD =
  "Then both are loaded at once, each with its own sessions, in slices (`bench/lib/together.ts`): each slice compares the two at the same moments, so the machine's drift weighs on both. The CPU per request of each is the robust figure: loaded together they share the cores, so each one's req/s is not what it would serve alone (for a proxy whose own thread is the limit, throughput alone goes as 1 ÷ CPU per request). `bench/ab.ts --together` with the same build and config on both sides (A/A) measured 0.98–1.03×."

/**
 * After the rounds: the comparison's two contenders (off, then on) loaded at once, slice by
 * slice, at each level; rows of on ÷ off CPU per request and req/s, paired by slice. Sets
 * `{key}.c{c}.togetherCpu` and `{key}.c{c}.togetherRps`.
 */
async function togetherRows(
  plan: Plan,
  active: ReadonlyArray<{ running: Running; context: Loaded }>,
  levels: readonly number[],
  tool: string,
  key: string,
  figures: Figures,
): Promise<string[][]> {
  if (active.length !== 2) return []
  const slices = Math.max(4, plan.rounds + 3)
  const ms = Math.min(1500, plan.durationMs)
  const rows: string[][] = []
  for (const c of levels) {
    const sides: LoadedSide[] = active.map(({ running, context }) => {
      const name = `${running.toolPrefix ?? ''}${tool}`
      return {
        pid: running.pid || undefined,
        sessions: context.sessions.slice(0, c),
        call: (session: Session) => session.call(name, distinct()),
      }
    })
    await sliceTogether(sides, plan.warmupMs)
    const cpu: number[][] = [[], []]
    const rps: number[][] = [[], []]
    for (let slice = 0; slice < slices; slice++) {
      for (const [i, figure] of (await sliceTogether(sides, ms)).entries()) {
        cpu[i]?.push(figure.cpu)
        rps[i]?.push(figure.rps)
      }
    }
    const cpuRatio = pairedRatio(cpu[0] ?? [], cpu[1] ?? [])
    const rpsRatio = pairedRatio(rps[0] ?? [], rps[1] ?? [])
    figures.set(`${key}.c${c}.togetherCpu`, cpuRatio.median)
    figures.set(`${key}.c${c}.togetherRps`, rpsRatio.median)
    const quartiles = (r: { q1: number; q3: number }) =>
      `${formatRatio(r.q1)} – ${formatRatio(r.q3)}`
    rows.push([
      `c=${c} each, ${slices} slices of ${ms} ms`,
      formatRatio(cpuRatio.median),
      quartiles(cpuRatio),
      formatRatio(rpsRatio.median),
      quartiles(rpsRatio),
    ])
    plan.log(`  loaded together at c=${c}: CPU/req on ÷ off ${formatRatio(cpuRatio.median)}`)
  }
  return rows
}

/** The columns of `togetherRows`' rows. */
function togetherColumns(first: string): string[] {
  return [
    first,
    'CPU/req (median of paired slices)',
    'quartiles',
    'req/s, both loaded (median of paired slices)',
    'quartiles',
  ]
}
