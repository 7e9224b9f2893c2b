/**
 * Where a bench run's report goes. A normal run updates the current report of each scenario
 * set it touched (bench/reports/<set>.md, charts in bench/reports/<set>/) and adds one history
 * row per set to bench/reports/README.md. `--out FILE` and `--quick` write one standalone
 * report instead and leave the history alone: an ad-hoc or smoke run is not a measurement.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { appendHistory, type Block, freshReport, mergeReport } from './current.ts'
import { renderSection, type Section } from './report.ts'
import type { Figures } from './scenarios.ts'
import { type ScenarioSet, setOf } from './sets.ts'

export interface RunInfo {
  date: string
  /** `abc1234`, with `+local changes` when the measured sources differ from that commit. */
  commit: string
  /** Machine, versions and method lines for the report's head. */
  machine: string[]
  method: string[]
  /** The contender lines for a report of these sets. */
  contenders: (sets: readonly ScenarioSet[]) => string[]
}

/** A measured section with the load average when it began (the history row quotes it). */
export interface Measured {
  section: Section
  load: number
}

export const HISTORY_COLUMNS = ['date', 'set', 'commit', 'load (1 min, at start)', 'headline']

export function git(root: string, ...args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

/** The commit measured; a work tree with changed sources is not that commit. */
export function measuredCommit(root: string): string {
  const hash = git(root, 'rev-parse', '--short', 'HEAD')
  const changed = git(
    root,
    'status',
    '--porcelain',
    '--untracked-files=no',
    '--',
    'src',
    'bench',
    ':!bench/reports',
  )
  return changed && changed !== 'unknown' ? `${hash}+local changes` : hash
}

function head(title: string, intro: string, info: RunInfo, sets: readonly ScenarioSet[]): Block {
  const contenders = info.contenders(sets)
  const text = [
    `# ${title}`,
    '',
    intro,
    '',
    '## Machine and versions (latest run)',
    '',
    ...info.machine,
    '',
    '## Method',
    '',
    ...info.method,
    ...(contenders.length > 0 ? ['', '## Contenders', '', ...contenders] : []),
  ].join('\n')
  return { id: 'head', text }
}

/** Writes a section's charts next to the report and returns its block. */
function sectionBlock(section: Section, report: string): Block {
  const dir = report.replace(/\.md$/, '')
  for (const chart of section.charts ?? []) {
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, chart.file), chart.svg)
  }
  return { id: section.id, text: renderSection(section, basename(dir)) }
}

/** One standalone report of everything measured (`--out`, `--quick`). */
export function writeStandalone(
  file: string,
  title: string,
  info: RunInfo,
  measured: readonly Measured[],
): void {
  mkdirSync(dirname(file), { recursive: true })
  const intro =
    'A standalone report of one run (`--out` or `--quick`); the current report of each scenario set is in bench/reports, indexed by its README.md.'
  const sets = [...new Set(measured.map((m) => setOf(m.section.id)))].filter(
    (set): set is ScenarioSet => set !== undefined,
  )
  const blocks = [
    head(title, intro, info, sets),
    ...measured.map((m) => sectionBlock(m.section, file)),
  ]
  writeFileSync(file, freshReport(blocks))
}

/**
 * Updates the current report of every set this run touched and adds its history row.
 * Returns the files written.
 */
export function writeCurrent(
  reportsDir: string,
  info: RunInfo,
  measured: readonly Measured[],
  figures: Figures,
): string[] {
  const written: string[] = []
  const bySet = new Map<ScenarioSet, Measured[]>()
  for (const m of measured) {
    const set = setOf(m.section.id)
    if (!set) continue
    bySet.set(set, [...(bySet.get(set) ?? []), m])
  }
  let readme = readFileSync(join(reportsDir, 'README.md'), 'utf8')
  for (const [set, items] of bySet) {
    const file = join(reportsDir, `${set.id}.md`)
    const ran = items.map((m) => m.section.id)
    const partial = set.scenarios.some((id) => !ran.includes(id))
    const intro =
      `The current report of ${set.scenarios.join(', ')}, written by \`npm run bench\` (bench/run.ts). A run of the whole set rewrites it; a run of some of its scenarios (\`--only\`) replaces just their sections (text outside the generated sections is kept). ` +
      'Each section says when, on which commit and at what load average it was measured; earlier runs are rows of the history table in [README.md](README.md).'
    const blocks = [
      head(`Portico benchmark: ${set.title}`, intro, info, [set]),
      ...items.map((m) => sectionBlock(m.section, file)),
    ]
    const text =
      partial && existsSync(file)
        ? mergeReport(readFileSync(file, 'utf8'), blocks, ['head', ...set.scenarios])
        : freshReport(blocks)
    writeFileSync(file, text)
    written.push(file)
    readme = appendHistory(readme, HISTORY_COLUMNS, [
      info.date,
      `[${set.id}](${set.id}.md)${partial ? ` (${ran.join(', ')})` : ''}`,
      info.commit,
      (items[0]?.load ?? Number.NaN).toFixed(2),
      set.headline(figures) || 'no headline figures (contenders skipped?)',
    ])
  }
  if (written.length > 0) {
    writeFileSync(join(reportsDir, 'README.md'), readme)
    written.push(join(reportsDir, 'README.md'))
    formatMarkdown(written)
  }
  return written
}

/**
 * Lets biome lay the files out as `npm run lint` wants them (aligned tables), so a run leaves
 * nothing to reformat. Best effort: without the dev dependencies the files stay valid Markdown.
 */
function formatMarkdown(files: readonly string[]): void {
  const biome = join(process.cwd(), 'node_modules', '.bin', 'biome')
  if (existsSync(biome)) spawnSync(biome, ['format', '--write', ...files], { stdio: 'ignore' })
}
