/** Time-series charts (uPlot): requests and errors, and p50/p95/p99 latency per bucket. */
import uPlot from 'uplot'
import { h } from './dom.ts'
import type { SeriesPoint } from './pages/types.ts'

export type { SeriesPoint }

/** The figure's own content width (its grid cell, less its 8 px padding on each side). */
function widthOf(el: HTMLElement): number {
  const width = el.clientWidth > 0 ? el.clientWidth - 16 : 600
  return Math.max(260, Math.min(1200, width))
}

/**
 * The charts made so far. uPlot keeps every chart it made (its cursor sync set, a window
 * listener) until `destroy()`: a chart whose figure left the page (a refresh re-renders the
 * page) is destroyed before the next is made, or each refresh leaked two charts.
 */
const live = new Set<uPlot>()

function destroyDetached(): void {
  for (const plot of live) {
    if (plot.root.isConnected) continue
    plot.destroy()
    live.delete(plot)
  }
}

function chart(
  title: string,
  points: SeriesPoint[],
  lines: Array<{ label: string; stroke: string; value: (p: SeriesPoint) => number }>,
  unit: string,
): HTMLElement {
  const figure = h('figure', { class: 'chart' }, h('figcaption', {}, title))
  const data: uPlot.AlignedData = [
    points.map((p) => p.t / 1000),
    ...lines.map((l) => points.map(l.value)),
  ]
  const make = () => {
    destroyDetached()
    // Gone already (the page moved on before this frame): nothing to draw into.
    if (!figure.isConnected) return
    const plot = new uPlot(
      {
        width: widthOf(figure),
        height: 200,
        series: [{}, ...lines.map((l) => ({ label: l.label, stroke: l.stroke, width: 2 }))],
        axes: [{}, { label: unit, size: 60 }],
        legend: { show: true },
      },
      data,
      figure,
    )
    live.add(plot)
    plot.root.setAttribute('role', 'img')
    plot.root.setAttribute('aria-label', `${title}: ${points.length} points`)
  }
  // Sized once it is in the page (its width follows the column).
  requestAnimationFrame(make)
  return figure
}

export function trafficChart(points: SeriesPoint[]): HTMLElement {
  return chart(
    'Requests and errors per bucket',
    points,
    [
      { label: 'requests', stroke: '#1d5fbf', value: (p) => p.calls },
      { label: 'errors', stroke: '#b3261e', value: (p) => p.errors },
    ],
    'calls',
  )
}

export function latencyChart(points: SeriesPoint[], title = 'Latency percentiles'): HTMLElement {
  const ms = (us: number) => Math.round(us / 10) / 100
  return chart(
    title,
    points,
    [
      { label: 'p50', stroke: '#2e7d32', value: (p) => ms(p.p50_us) },
      { label: 'p95', stroke: '#b26a00', value: (p) => ms(p.p95_us) },
      { label: 'p99', stroke: '#b3261e', value: (p) => ms(p.p99_us) },
    ],
    'ms',
  )
}
