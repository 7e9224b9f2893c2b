/** The bench's Markdown report: sections of tables and notes, and the targets verdict. */

export interface Table {
  columns: string[]
  rows: string[][]
}

export interface Section {
  id: string
  title: string
  method: string
  tables: Table[]
  notes: string[]
}

export interface Verdict {
  target: string
  measured: string
  met: boolean | undefined
  comment?: string
}

export function renderTable(table: Table): string {
  const head = `| ${table.columns.join(' | ')} |`
  const rule = `| ${table.columns.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`
  return [head, rule, ...table.rows.map((row) => `| ${row.join(' | ')} |`)].join('\n')
}

export function renderSection(section: Section): string {
  const parts = [`## ${section.id}: ${section.title}`, '', section.method, '']
  for (const table of section.tables) parts.push(renderTable(table), '')
  for (const note of section.notes) parts.push(`- ${note}`)
  if (section.notes.length > 0) parts.push('')
  return parts.join('\n')
}

export function renderVerdicts(verdicts: readonly Verdict[]): string {
  return renderTable({
    columns: ['target', 'measured', 'result'],
    rows: verdicts.map((v) => [
      v.target,
      v.measured,
      v.met === undefined
        ? `not measured${v.comment ? `: ${v.comment}` : ''}`
        : v.met
          ? 'met'
          : `**missed**${v.comment ? `: ${v.comment}` : ''}`,
    ]),
  })
}
