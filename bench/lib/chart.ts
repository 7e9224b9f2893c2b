/**
 * A small SVG line chart for the bench's cost curves: one x axis (linear or log), one linear
 * y axis from zero, a line and markers per series, a legend on the right. Hand-written so the
 * report needs no charting dependency and the files stay small, readable text in git.
 */

export interface Series {
  name: string
  /** [x, y] pairs; a non-finite y leaves a gap in the line. */
  points: ReadonlyArray<readonly [number, number]>
  /** A second metric of the same contender (p99 beside p50): same colour, dashed line. */
  dashed?: boolean
  /** Index into the palette, so one contender keeps its colour across charts. */
  colour?: number
}

export interface ChartSpec {
  title: string
  xLabel: string
  yLabel: string
  /** Log-scale x (sessions, payload sizes, concurrency levels span decades). */
  xLog?: boolean
  /** Where the x ticks go; by default at every x that occurs in the data. */
  xTicks?: readonly number[]
  formatX: (x: number) => string
  formatY: (y: number) => string
  series: readonly Series[]
}

const WIDTH = 720
const HEIGHT = 380
const MARGIN = { left: 78, right: 210, top: 40, bottom: 56 }
/** Okabe–Ito colours: told apart by colour-blind readers, printable in grey. */
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000']

export function lineChart(spec: ChartSpec): string {
  const plot = {
    x0: MARGIN.left,
    x1: WIDTH - MARGIN.right,
    y0: HEIGHT - MARGIN.bottom,
    y1: MARGIN.top,
  }
  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0])).filter(Number.isFinite)
  const ys = spec.series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite)
  const xTicks = [...new Set(spec.xTicks ?? xs)].sort((a, b) => a - b)
  const xScale = scale(xTicks, spec.xLog === true, plot.x0, plot.x1)
  const yTicks = niceTicks(Math.min(0, ...ys), Math.max(0, ...ys))
  const yMin = yTicks[0] ?? 0
  const yMax = yTicks[yTicks.length - 1] ?? 1
  const y = (value: number): number =>
    plot.y0 - ((value - yMin) / (yMax - yMin || 1)) * (plot.y0 - plot.y1)

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(spec.title)}</title>`,
    // A white ground: the report may be read on a dark page.
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    text(WIDTH / 2 - MARGIN.right / 2 + MARGIN.left / 2, 22, spec.title, 'middle', 'bold'),
  ]
  for (const tick of yTicks) {
    const ty = round(y(tick))
    parts.push(line(plot.x0, ty, plot.x1, ty, '#e4e4e4'))
    parts.push(text(plot.x0 - 8, ty + 4, spec.formatY(tick), 'end'))
  }
  for (const tick of xTicks) {
    const tx = round(xScale(tick))
    parts.push(line(tx, plot.y0, tx, plot.y1, '#f0f0f0'))
    parts.push(text(tx, plot.y0 + 18, spec.formatX(tick), 'middle'))
  }
  parts.push(line(plot.x0, plot.y0, plot.x1, plot.y0, '#333'))
  // Negative values (an added latency below direct's, within noise) get a visible zero.
  if (yMin < 0) parts.push(line(plot.x0, y(0), plot.x1, y(0), '#999'))
  parts.push(line(plot.x0, plot.y0, plot.x0, plot.y1, '#333'))
  parts.push(text((plot.x0 + plot.x1) / 2, HEIGHT - 14, spec.xLabel, 'middle'))
  parts.push(
    `<text transform="translate(18 ${(plot.y0 + plot.y1) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`,
  )
  spec.series.forEach((series, index) => {
    const colour = PALETTE[(series.colour ?? index) % PALETTE.length] as string
    parts.push(...seriesPath(series, colour, xScale, y))
    const ly = plot.y1 + 6 + index * 20
    const lx = plot.x1 + 18
    parts.push(line(lx, ly, lx + 26, ly, colour, series.dashed, 2))
    parts.push(text(lx + 34, ly + 4, series.name, 'start'))
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}

function seriesPath(
  series: Series,
  colour: string,
  x: (value: number) => number,
  y: (value: number) => number,
): string[] {
  const out: string[] = []
  let run: string[] = []
  const flush = (): void => {
    if (run.length > 1) {
      const dash = series.dashed ? ' stroke-dasharray="6 4"' : ''
      out.push(
        `<polyline fill="none" stroke="${colour}" stroke-width="2"${dash} points="${run.join(' ')}"/>`,
      )
    }
    run = []
  }
  for (const [px, py] of series.points) {
    if (!Number.isFinite(px) || !Number.isFinite(py)) {
      flush()
      continue
    }
    const cx = round(x(px))
    const cy = round(y(py))
    run.push(`${cx},${cy}`)
    out.push(
      `<circle cx="${cx}" cy="${cy}" r="3" fill="${series.dashed ? '#fff' : colour}" stroke="${colour}"/>`,
    )
  }
  flush()
  return out
}

/** Maps data x to pixels over the range of the ticks, inset so end markers clear the axes. */
function scale(
  ticks: readonly number[],
  log: boolean,
  from: number,
  to: number,
): (value: number) => number {
  const f = log ? (v: number) => Math.log10(Math.max(v, Number.MIN_VALUE)) : (v: number) => v
  const lo = f(ticks[0] ?? 0)
  const hi = f(ticks[ticks.length - 1] ?? 1)
  // A single tick sits in the middle rather than on the axis.
  if (hi === lo) return () => (from + to) / 2
  const inset = (to - from) * 0.03
  return (value) => from + inset + ((f(value) - lo) / (hi - lo)) * (to - from - 2 * inset)
}

/**
 * Round steps (1, 2 or 5 × 10^k), about five of them, from at or below `min` to at or above
 * `max`. The callers include zero, so a curve is read against zero rather than against its
 * own lowest point.
 */
export function niceTicks(min: number, max: number): number[] {
  const span = max - min
  if (!(span > 0)) return [Math.min(0, min), Math.max(1, max)]
  const rough = span / 5
  const power = 10 ** Math.floor(Math.log10(rough))
  const step = ([1, 2, 5, 10].find((m) => m * power >= rough) ?? 10) * power
  const ticks: number[] = []
  for (let t = Math.floor(min / step) * step; t < max + step * 0.999; t += step) {
    ticks.push(Number(t.toPrecision(12)))
  }
  return ticks
}

function line(
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  colour: string,
  dashed = false,
  width = 1,
): string {
  const dash = dashed ? ' stroke-dasharray="6 4"' : ''
  return `<line x1="${round(x1)}" y1="${round(y1)}" x2="${round(x2)}" y2="${round(y2)}" stroke="${colour}" stroke-width="${width}"${dash}/>`
}

function text(
  x: number,
  y: number,
  content: string,
  anchor: 'start' | 'middle' | 'end',
  weight?: 'bold',
): string {
  const bold = weight ? ` font-weight="${weight}"` : ''
  return `<text x="${round(x)}" y="${round(y)}" text-anchor="${anchor}"${bold}>${escapeXml(content)}</text>`
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}

function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
