/**
 * V8's allocation-site pretenuring, off in the `portico` process (applied by main.ts before a
 * command loads what it runs). Why: under load V8 may decide, at a full collection, that a few
 * of the proxy's per-call allocation sites make long-lived objects (many were still alive at
 * its young collections: calls in flight and what waits on them) and allocate theirs in the old
 * generation from then on. Those objects point to the call's young ones (messages, answers,
 * closures), which every young collection then has to keep and promote, until the next full
 * one. In a gateway in front of a Streamable HTTP backend at 16 sessions this happened in
 * about 4 runs out of 9, and for the rest of the run: promoted bytes per young collection
 * ~55 KB → ~1.4 MB, pauses 1 → 3 ms, CPU per request +25 %. With pretenuring off: 14 runs out
 * of 14 without it, and CPU per request unchanged in the transparent proxy (`bench/ab.ts`,
 * paired slices, 0.98–1.01×). bench/reports/2026-12-01-perf2.md, step 42.
 *
 * A process started with a node flag naming pretenuring (`node --allocation-site-pretenuring
 * …/main.js`; NODE_OPTIONS cannot carry it) is left alone.
 */
import v8 from 'node:v8'
import { nodeFlags } from './start-memory.ts'

/** Turns pretenuring off unless `flags` name it; whether it did. */
export function allocateYoung(flags: string = nodeFlags()): boolean {
  if (/pretenur/.test(flags)) return false
  v8.setFlagsFromString('--no-allocation-site-pretenuring')
  return true
}
