/**
 * Two V8 settings that keep a starting Portico from taking memory it then never uses, applied
 * by the `portico` entry (main.ts) before the command it runs loads its implementation. A
 * proxy spends its life waiting for requests, and what start-up grows stays resident. An idle
 * transparent proxy, 1 s after start, medians of five starts: 86.9 → 72.3 MB resident (store
 * on), 92.6 → 69.6 MB (store off); start-up as fast; CPU per proxied request unchanged
 * (paired A/B slices, within noise). bench/reports/2026-12-01-perf2.md, step 32.
 *
 * - The young generation is held at its initial size until the proxy listens. Loading the
 *   modules leaves many objects alive at each young-generation collection, and V8 answers that
 *   by doubling the young generation, to 16 MB, in a process that then mostly waits. Once it
 *   serves, V8 sizes it as usual again, so throughput under load is unchanged. V8 reads
 *   `--semi-space-growth-factor` each time it considers growing it, so a run-time change
 *   takes effect at once; 2 is V8's default.
 * - WebAssembly is compiled by V8's baseline compiler only. The one module Portico runs is
 *   undici's HTTP parser; optimizing it took some 37 MB of compiler memory at the first
 *   upstream request, of which the C allocator kept about 9 MB in one start out of two, while
 *   the parser's speed does not show in the proxy's CPU per request (headers of a few hundred
 *   bytes per answer; bodies are passed through).
 *
 * Whoever sets these themselves (a node flag or NODE_OPTIONS naming them) is left alone.
 */
import v8 from 'node:v8'

const V8_DEFAULT_GROWTH_FACTOR = 2
/** A command that never says it serves (a report, `check`) gets V8's sizing back by then. */
const RELEASE_AT_LATEST_MS = 10_000

let held = false

/** The node flags in effect: the command line's and NODE_OPTIONS'. */
export function nodeFlags(): string {
  return `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`
}

export function leanStart(flags: string = nodeFlags()): void {
  if (!/semi[-_]space/.test(flags)) holdYoungGeneration()
  if (!/liftoff|wasm/.test(flags)) v8.setFlagsFromString('--liftoff-only')
}

function holdYoungGeneration(): void {
  if (held) return
  v8.setFlagsFromString('--semi-space-growth-factor=1')
  held = true
  setTimeout(releaseYoungGeneration, RELEASE_AT_LATEST_MS).unref()
}

/**
 * Start-up is over (the proxy, relay or dashboard listens): V8 grows the young generation as
 * it sees fit again, and what a burst grew is given back once the process idles
 * (idle-memory.ts).
 */
export function releaseYoungGeneration(): void {
  if (!held) return
  held = false
  v8.setFlagsFromString(`--semi-space-growth-factor=${V8_DEFAULT_GROWTH_FACTOR}`)
  // Loaded here, not with this module: every command loads this one (cli-lazy-load.test.ts).
  void import('../util/idle-memory.ts').then(({ trimYoungGenerationWhenIdle }) =>
    trimYoungGenerationWhenIdle(),
  )
}
