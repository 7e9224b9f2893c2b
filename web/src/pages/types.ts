/** What every page gets: the window and proxy from the URL, and the route's own parameters. */
export interface PageContext {
  since: string
  proxy: string | undefined
  params: URLSearchParams
  /** Aborted when the page is left (live streams stop). */
  signal: AbortSignal
}

export type Page = (ctx: PageContext) => Promise<HTMLElement>

export interface Exchange {
  id: number
  ts: number
  proxy: string
  session_id: string | null
  client_name: string | null
  method: string
  target_kind: string | null
  name: string | null
  status: string
  outcome: string
  error_code: number | null
  error_message: string | null
  latency_us: number
  bytes_in: number
  bytes_out: number
}

export interface TargetStats {
  method: string
  name: string
  calls: number
  errors: number
  error_pct: number
  avg_us: number
  p50_us: number
  p95_us: number
  p99_us: number
  max_us: number
  bytes_in: number
  bytes_out: number
}
