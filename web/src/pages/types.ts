/** What every page gets: the window and proxy from the URL, and the route's own parameters. */
export interface PageContext {
  since: string
  proxy: string | undefined
  params: URLSearchParams
  /** Aborted when the page is left (live streams stop). */
  signal: AbortSignal
}

export type Page = (ctx: PageContext) => Promise<HTMLElement>

/** The rows the API answers with are the store's report types (one definition). */
export type { ExchangeRow as Exchange } from '../../../src/store/report-logs.ts'
export type { ErrorGroup, SeriesPoint } from '../../../src/store/report-series.ts'
export type { ClientRow, SessionRow } from '../../../src/store/report-sessions.ts'
export type { TargetStats } from '../../../src/store/report-status.ts'
