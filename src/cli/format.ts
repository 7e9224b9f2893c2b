/**
 * Formatting for the CLI reports: aligned borderless tables (first column left, the rest
 * right; widths in terminal cells, so CJK and emoji, two cells each, line up), latencies, byte sizes, counts, percentages and local times, and colour only when
 * stdout is a terminal (and NO_COLOR is unset).
 */
import { formatBytes as formatSize, jsonForTerminal, printable } from '../util/format.ts'
import {
  displayWidth,
  headWithin,
  padEndWidth,
  padStartWidth,
  tailWithin,
} from '../util/text-width.ts'

export type Colour = 'red' | 'yellow' | 'green' | 'dim' | 'bold'

const CODES: Record<Colour, [number, number]> = {
  red: [31, 39],
  yellow: [33, 39],
  green: [32, 39],
  dim: [2, 22],
  bold: [1, 22],
}

export function useColour(stream: NodeJS.WriteStream = process.stdout): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR
}

export function paint(text: string, colour: Colour | undefined, enabled: boolean): string {
  if (!enabled || colour === undefined) return text
  const [open, close] = CODES[colour]
  return `\u001b[${open}m${text}\u001b[${close}m`
}

export interface TableOptions {
  /** Alignment per column; default: first left, others right. */
  align?: ReadonlyArray<'left' | 'right'>
  /** Colour of a whole row. */
  rowColour?: (index: number) => Colour | undefined
  colour?: boolean
  /** Minimum column widths (keeps `logs --follow` output aligned across polls). */
  minWidths?: readonly number[]
  header?: boolean
}

/**
 * Width of each column in terminal cells: its header, its widest cell and its minimum,
 * whichever is largest.
 */
export function columnWidths(
  headers: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  minWidths: readonly number[] = [],
  withHeader = true,
): number[] {
  // A loop, not Math.max(...rows): a spread of 200,000 rows exceeds the arguments a call takes.
  return headers.map((header, column) => {
    let width = Math.max(withHeader ? displayWidth(header) : 0, minWidths[column] ?? 0)
    for (const row of rows) width = Math.max(width, displayWidth(row[column] ?? ''))
    return width
  })
}

/**
 * Cells cut to fixed widths (all but the last column, which may run on), so rows printed
 * later (`logs --follow`) line up with the header printed first.
 */
export function fitCells(cells: readonly string[], widths: readonly number[]): string[] {
  return cells.map((raw, column) => {
    // A damaged store can hold no text where a name belongs (its string gone): an empty cell.
    const cell = printable(raw ?? '')
    const width = widths[column]
    return column === cells.length - 1 || width === undefined ? cell : middleTruncate(cell, width)
  })
}

/** Renders rows as an aligned table, two spaces between columns, no borders. */
export function renderTable(
  headers: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  options: TableOptions = {},
): string {
  // Cells hold what clients and servers chose: no control character reaches the terminal.
  const safe = rows.map((row) => row.map(printable))
  const widths = columnWidths(headers, safe, options.minWidths, options.header !== false)
  const alignOf = (column: number) => options.align?.[column] ?? (column === 0 ? 'left' : 'right')
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => {
        const width = widths[column] ?? 0
        return alignOf(column) === 'left' ? padEndWidth(cell, width) : padStartWidth(cell, width)
      })
      .join('  ')
      .trimEnd()
  const colour = options.colour ?? false
  const out: string[] = []
  if (options.header !== false) out.push(paint(line(headers), 'bold', colour))
  safe.forEach((row, index) => {
    out.push(paint(line(row), options.rowColour?.(index), colour))
  })
  return `${out.join('\n')}\n`
}

/** `142µs`, `4.2ms`, `45ms`, `2.40s`. */
export function formatLatency(us: number): string {
  if (us < 1000) return `${Math.round(us)}µs`
  const ms = us / 1000
  if (ms < 10) return `${ms.toFixed(1)}ms`
  if (ms < 1000) return `${Math.round(ms)}ms`
  return `${(ms / 1000).toFixed(2)}s`
}

/** `512 B`, `48.2 KB`, `1.2 MB` (1024-based); `—` for zero. */
export function formatBytes(bytes: number): string {
  return formatSize(bytes, { zero: '—' })
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US')
}

export function formatPct(pct: number): string {
  return pct === 0 ? '0%' : `${pct.toFixed(1)}%`
}

function two(n: number): string {
  return String(n).padStart(2, '0')
}

/**
 * What a time no date can show is printed as: a store's row whose timestamp is not a number of
 * milliseconds a date can hold (a damaged or hand-edited store) prints this, not `NaN-NaN-NaN`.
 */
const NO_TIME = '?'

/** A Date of `ms`, or undefined when `ms` is no time a Date can hold. */
function dateOf(ms: unknown): Date | undefined {
  const d = new Date(typeof ms === 'number' ? ms : Number.NaN)
  return Number.isNaN(d.getTime()) ? undefined : d
}

/** UTC ISO time for JSON output, or null for a time no date can hold. */
export function isoTime(ms: unknown): string | null {
  return dateOf(ms)?.toISOString() ?? null
}

/** Local time `2026-04-12 14:30:00`. */
export function formatTime(ms: number): string {
  const d = dateOf(ms)
  if (d === undefined) return NO_TIME
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** Local time `Apr 10 14:20`. */
export function formatShortTime(ms: number): string {
  const d = dateOf(ms)
  if (d === undefined) return NO_TIME
  return `${MONTHS[d.getMonth()]} ${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`
}

/** `just now` (under a second), `42s ago`, `4m ago`, `2h ago`, `3d ago`. */
export function formatAgo(ms: number, now: number): string {
  if (dateOf(ms) === undefined) return NO_TIME
  const seconds = Math.max(0, Math.floor((now - ms) / 1000))
  if (seconds < 1) return 'just now'
  if (seconds < 60) return `${seconds}s ago`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`
  return `${Math.floor(seconds / 86_400)}d ago`
}

/**
 * Shortens text wider than `max` terminal cells in the middle: `ui://widget/very…/end.html`
 * (never splitting a character: a wide one that does not fit leaves its cell empty).
 */
export function middleTruncate(text: string, max: number): string {
  if (displayWidth(text) <= max) return text
  const head = headWithin(text, Math.ceil((max - 1) / 2))
  // A cell the head could not use (half of a wide character) goes to the tail.
  return `${head}…${tailWithin(text, max - 1 - displayWidth(head))}`
}

/** Shortens text wider than `max` terminal cells at the end: `Searches the catalog…`. */
export function truncate(text: string, max: number): string {
  return displayWidth(text) <= max ? text : `${headWithin(text, max - 1)}…`
}

/** Writes one JSON object per line (the `--json` form of list reports). */
export function writeJsonLines(rows: readonly unknown[]): void {
  for (const row of rows) process.stdout.write(`${jsonForTerminal(row)}\n`)
}
