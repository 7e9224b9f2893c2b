/**
 * The statistics of one group of requests (calls, errors, latency sum/min/max and histogram,
 * bytes): what a rollup row stores, and what `status` merges across rollups and raw rows.
 */
import { Histogram } from './histogram.ts'

/** The stored form (a `rollup_minute` row's numbers). */
export interface AggregateRow {
  calls: number
  errors: number
  sum_us: number
  min_us: number
  max_us: number
  bytes_in: number
  bytes_out: number
  hist: string
}

export class Aggregate {
  calls = 0
  errors = 0
  sumUs = 0
  minUs = Number.POSITIVE_INFINITY
  maxUs = 0
  bytesIn = 0
  bytesOut = 0
  readonly histogram = new Histogram()

  add(latencyUs: number, error: boolean, bytesIn: number, bytesOut: number): void {
    this.calls++
    if (error) this.errors++
    this.sumUs += latencyUs
    this.minUs = Math.min(this.minUs, latencyUs)
    this.maxUs = Math.max(this.maxUs, latencyUs)
    this.bytesIn += bytesIn
    this.bytesOut += bytesOut
    this.histogram.add(latencyUs)
  }

  addRow(row: AggregateRow): void {
    this.calls += row.calls
    this.errors += row.errors
    this.sumUs += row.sum_us
    this.minUs = Math.min(this.minUs, row.min_us)
    this.maxUs = Math.max(this.maxUs, row.max_us)
    this.bytesIn += row.bytes_in
    this.bytesOut += row.bytes_out
    this.histogram.mergeSerialized(row.hist, row.min_us, row.max_us)
  }

  toRow(): AggregateRow {
    return {
      calls: this.calls,
      errors: this.errors,
      sum_us: this.sumUs,
      min_us: this.calls === 0 ? 0 : this.minUs,
      max_us: this.maxUs,
      bytes_in: this.bytesIn,
      bytes_out: this.bytesOut,
      hist: this.histogram.serialize(),
    }
  }
}
