/**
 * Scenario sets: the scenarios that share one current report in bench/reports (named by set,
 * not by date), and the headline each run of a set leaves in the history table of
 * bench/reports/README.md.
 */
import type { Figures } from './scenarios.ts'
import { formatCount, formatMb, formatRatio, formatSignedUs, formatUs, ratio } from './stats.ts'

export interface ScenarioSet {
  /** Also the report's file name: `s1-s7` → bench/reports/s1-s7.md. */
  id: string
  title: string
  scenarios: readonly string[]
  /** The run's headline ratios, for the history row; parts whose figures are missing drop out. */
  headline(figures: Figures): string
}

/** Joins the parts that could be computed (a part with a non-finite figure is dropped). */
function parts(...items: Array<[string, ...number[]] | undefined>): string {
  return items
    .filter((item): item is [string, ...number[]] => item !== undefined)
    .filter(([, ...values]) => values.every(Number.isFinite))
    .map(([text]) => text)
    .join('; ')
}

export const SETS: readonly ScenarioSet[] = [
  {
    id: 's1-s7',
    title: 'transparent proxy and gateway against direct, nginx, bare Node and the peers (S1–S7)',
    scenarios: ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7'],
    headline(f) {
      const g = (k: string) => f.get(k) ?? Number.NaN
      const s1 = (n: string) => g(`S1.c16.${n}.rps`)
      const peer = Math.max(g('S4.c16.mcp-proxy.rps') || 0, g('S4.c16.supergateway.rps') || 0)
      return parts(
        [
          `S1 c=16 portico ${formatRatio(ratio(s1('portico'), s1('bare-node')))} bare Node, ${formatRatio(ratio(s1('portico'), s1('nginx')))} nginx`,
          ratio(s1('portico'), s1('bare-node')),
        ],
        [
          `S1 c=1 added p50 ${formatSignedUs(g('S1.c1.portico.addedP50'))}`,
          g('S1.c1.portico.addedP50'),
        ],
        [
          `S2 first event ${formatSignedUs(g('S2.portico.addedFirst'))}`,
          g('S2.portico.addedFirst'),
        ],
        [
          `S4 gateway ${formatRatio(ratio(g('S4.c16.portico-gateway.rps'), peer))} the better peer`,
          ratio(g('S4.c16.portico-gateway.rps'), peer),
        ],
        [
          `S5 warm list ${formatUs(g('S5.portico-gateway.warm'))} vs ${formatUs(g('S5.direct.warm'))} direct`,
          g('S5.portico-gateway.warm'),
          g('S5.direct.warm'),
        ],
        [`S6 ${formatMb(g('S6.portico.sessions'))} at 1,000 sessions`, g('S6.portico.sessions')],
        [`S7 store on/off ${formatRatio(g('S7.proxy.ratioOnOff'))}`, g('S7.proxy.ratioOnOff')],
      )
    },
  },
  {
    id: 'protect',
    title: 'traffic protection: the full policy stack against none, cache hit against direct (S8)',
    scenarios: ['S8'],
    headline(f) {
      const g = (k: string) => f.get(k) ?? Number.NaN
      return parts(
        [
          `S8 protected/plain ${formatRatio(g('S8.c1.ratio'))} (c=1), ${formatRatio(g('S8.c16.ratio'))} (c=16)`,
          g('S8.c1.ratio'),
          g('S8.c16.ratio'),
        ],
        [
          `cache hit ${formatUs(g('S8.cache.portico-cache.p50'))} vs ${formatUs(g('S8.cache.direct.p50'))} direct`,
          g('S8.cache.portico-cache.p50'),
          g('S8.cache.direct.p50'),
        ],
      )
    },
  },
  {
    id: 'operate',
    title: 'metrics + tracing + audit on against off (S9)',
    scenarios: ['S9'],
    headline(f) {
      const g = (k: string) => f.get(k) ?? Number.NaN
      return parts(
        [
          `S9 on/off req/s transparent ${formatRatio(g('S9.transparent.c1.pairedRps'))} / ${formatRatio(g('S9.transparent.c16.pairedRps'))}`,
          g('S9.transparent.c16.pairedRps'),
        ],
        [
          `gateway ${formatRatio(g('S9.gateway.c1.pairedRps'))} / ${formatRatio(g('S9.gateway.c16.pairedRps'))} (c=1 / c=16)`,
          g('S9.gateway.c16.pairedRps'),
        ],
      )
    },
  },
  {
    id: 'curves',
    title: 'cost curves: sessions, answer size, backends, concurrency (C1–C4)',
    scenarios: ['C1', 'C2', 'C3', 'C4'],
    headline(f) {
      const g = (k: string) => f.get(k) ?? Number.NaN
      const top = (prefix: string, suffix: string) => {
        // The largest level measured: 10,000 sessions in a full run, 100 in a quick one.
        const levels = [10_000, 1000, 100, 10].filter((l) =>
          Number.isFinite(g(`${prefix}.${l}.${suffix}`)),
        )
        return levels[0] ?? Number.NaN
      }
      const sessions = top('C1.portico', 'rss')
      const c2 =
        [1e7, 1e6].find((b) => Number.isFinite(g(`C2.portico.json.${b}.mbps`))) ?? Number.NaN
      const backends =
        [50, 10].find((n) => Number.isFinite(g(`C3.portico-gateway.${n}.listP50`))) ?? Number.NaN
      return parts(
        [
          `C1 RSS at ${formatCount(sessions)} sessions: portico ${formatMb(g(`C1.portico.${sessions}.rss`))}, gateway ${formatMb(g(`C1.portico-gateway.${sessions}.rss`))}, bare Node ${formatMb(g(`C1.bare-node.${sessions}.rss`))}`,
          g(`C1.portico.${sessions}.rss`),
        ],
        [
          `C2 ${c2 / 1e6} MB JSON ${Math.round(g(`C2.portico.json.${c2}.mbps`))} MB/s (direct ${Math.round(g(`C2.direct.json.${c2}.mbps`))})`,
          g(`C2.portico.json.${c2}.mbps`),
          g(`C2.direct.json.${c2}.mbps`),
        ],
        [
          `C3 list at ${backends} backends ${formatUs(g(`C3.portico-gateway.${backends}.listP50`))} (no cache ${formatUs(g(`C3.portico-gateway-nocache.${backends}.listP50`))}, direct ${formatUs(g(`C3.direct.${backends}.listP50`))})`,
          g(`C3.portico-gateway.${backends}.listP50`),
        ],
        [
          `C4 peak portico ${formatCount(g('C4.portico.peakRps'))} req/s from c=${g('C4.portico.knee')}, bare Node ${formatCount(g('C4.bare-node.peakRps'))}, direct ${formatCount(g('C4.direct.peakRps'))}`,
          g('C4.portico.peakRps'),
        ],
      )
    },
  },
]

/** The set a scenario belongs to. */
export function setOf(scenario: string): ScenarioSet | undefined {
  return SETS.find((set) => set.scenarios.includes(scenario))
}

export const ALL_SCENARIOS: readonly string[] = SETS.flatMap((set) => set.scenarios)
