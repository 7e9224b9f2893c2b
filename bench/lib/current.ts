/**
 * The report folder's rules (issue 18): one current report per scenario set, updated in place
 * rather than a new file per rerun, and one row per run in the history table of
 * bench/reports/README.md. Generated parts of a report sit between `<!-- bench:ID -->` and
 * `<!-- /bench:ID -->`, so a rerun of some scenarios replaces just their sections and leaves
 * the others, and any text written by hand outside the markers, as they were.
 */

export interface Block {
  /** `head`, or a scenario id (`S1`, `C2`). */
  id: string
  text: string
}

const opening = (id: string) => `<!-- bench:${id} -->`
const closing = (id: string) => `<!-- /bench:${id} -->`

function wrap(block: Block): string {
  return `${opening(block.id)}\n${block.text.trim()}\n${closing(block.id)}`
}

/** A report made of these blocks only (a run of the whole set). */
export function freshReport(blocks: readonly Block[]): string {
  return `${blocks.map(wrap).join('\n\n')}\n`
}

/**
 * `existing` with these blocks replaced in place; a block it lacks goes after the nearest
 * block that comes before it in `order`, else before the nearest after it, else at the end.
 */
export function mergeReport(
  existing: string,
  blocks: readonly Block[],
  order: readonly string[],
): string {
  let text = existing
  for (const block of blocks) {
    const start = text.indexOf(opening(block.id))
    const end = text.indexOf(closing(block.id))
    if (start !== -1 && end > start) {
      text = text.slice(0, start) + wrap(block) + text.slice(end + closing(block.id).length)
      continue
    }
    const index = order.indexOf(block.id)
    const before = order
      .slice(0, Math.max(0, index))
      .reverse()
      .find((id) => text.includes(closing(id)))
    const after = order.slice(index + 1).find((id) => text.includes(opening(id)))
    if (before !== undefined) {
      const at = text.indexOf(closing(before)) + closing(before).length
      text = `${text.slice(0, at)}\n\n${wrap(block)}${text.slice(at)}`
    } else if (after !== undefined) {
      const at = text.indexOf(opening(after))
      text = `${text.slice(0, at)}${wrap(block)}\n\n${text.slice(at)}`
    } else {
      text = `${text.trimEnd()}\n\n${wrap(block)}\n`
    }
  }
  return text
}

/**
 * `readme` with `row` appended to the table under its "## History" heading (made at the end
 * when missing). The row goes in unpadded: the runner has biome re-align the table.
 */
export function appendHistory(
  readme: string,
  columns: readonly string[],
  row: readonly string[],
): string {
  const lines = readme.split('\n')
  const render = (cells: readonly string[]) =>
    `| ${cells.map((cell) => cell.replaceAll('|', '/')).join(' | ')} |`
  const heading = lines.findIndex((line) => line.trim() === '## History')
  if (heading === -1) {
    const rule = columns.map(() => '---')
    return `${readme.trimEnd()}\n\n## History\n\n${render(columns)}\n${render(rule)}\n${render(row)}\n`
  }
  let at = heading + 1
  while (at < lines.length && !lines[at]?.startsWith('|') && !lines[at]?.startsWith('#')) at++
  if (!lines[at]?.startsWith('|')) {
    lines.splice(heading + 1, 0, '', render(columns), render(columns.map(() => '---')))
    at = heading + 2
  }
  while (at < lines.length && lines[at]?.startsWith('|')) at++
  lines.splice(at, 0, render(row))
  return lines.join('\n')
}
