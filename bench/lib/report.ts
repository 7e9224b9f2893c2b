/** The bench's Markdown report: sections of tables and notes, and the targets verdict. */

export interface Table {
  columns: string[]
  rows: string[][]
}

export interface Chart {
  /** File name, written into the report's chart folder. */
  file: string
  /** Alt text: what the chart shows (the tables beside it hold the numbers). */
  alt: string
  svg: string
}

export interface Section {
  id: string
  title: string
  method: string
  tables: Table[]
  notes: string[]
  charts?: Chart[]
  /** When, on which commit and at what load it was measured (a report mixes runs). */
  measured?: string
  /** The targets of this scenario, checked against this run's figures. */
  verdicts?: Verdict[]
}

export interface Verdict {
  /** The scenario the target belongs to (`S1`); its section shows the verdict. */
  scenario: string
  target: string
  measured: string
  met: boolean | undefined
  comment?: string
  /**
   * Why the figure is not held against its target in this run (the machine was busy with
   * other work when the section began): the result then says so instead of met or missed.
   */
  notCompared?: string
}

/**
 * The 1-minute load average above which a section's figures are not held against their
 * targets (issue 18): on a shared 2-core machine, other tenants' work moves the ratios by more
 * than the targets' margins.
 */
export const MAX_LOAD_FOR_VERDICTS = 1

/** The verdicts of a section that began at `load`: not compared when it was above the bound. */
export function verdictsAtLoad(verdicts: readonly Verdict[], load: number): Verdict[] {
  if (!(load > MAX_LOAD_FOR_VERDICTS)) return [...verdicts]
  const why = `load average ${load.toFixed(2)} at the start of the section (above ${MAX_LOAD_FOR_VERDICTS})`
  return verdicts.map((v) => ({ ...v, notCompared: why }))
}

export function renderTable(table: Table): string {
  const head = `| ${table.columns.join(' | ')} |`
  const rule = `| ${table.columns.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`
  return [head, rule, ...table.rows.map((row) => `| ${row.join(' | ')} |`)].join('\n')
}

/** A section in Markdown; `chartDir` is the chart folder relative to the report. */
export function renderSection(section: Section, chartDir = '.'): string {
  const parts = [`## ${section.id}: ${section.title}`, '']
  if (section.measured) parts.push(`_${section.measured}_`, '')
  parts.push(section.method, '')
  for (const chart of section.charts ?? [])
    parts.push(`![${chart.alt}](${chartDir}/${chart.file})`, '')
  for (const table of section.tables) parts.push(renderTable(table), '')
  for (const note of section.notes) parts.push(`- ${note}`)
  if (section.notes.length > 0) parts.push('')
  if (section.verdicts && section.verdicts.length > 0) {
    parts.push(`Targets (${section.id}):`, '', renderVerdicts(section.verdicts), '')
  }
  return parts.join('\n')
}

export function renderVerdicts(verdicts: readonly Verdict[]): string {
  return renderTable({
    columns: ['target', 'measured', 'result'],
    rows: verdicts.map((v) => [
      v.target,
      v.measured,
      v.notCompared !== undefined
        ? `not compared: ${v.notCompared}`
        : v.met === undefined
          ? `not measured${v.comment ? `: ${v.comment}` : ''}`
          : v.met
            ? 'met'
            : `**missed**${v.comment ? `: ${v.comment}` : ''}`,
    ]),
  })
}
