/**
 * `portico store stats | prune --older-than 30d | vacuum` (declared in commands/store.ts): look
 * after the observability store.
 */
import { type StoreStats, storeStats } from '../store/report-stats.ts'
import { prune } from '../store/retention.ts'
import { jsonForTerminal } from '../util/format.ts'
import { formatBytes, formatCount, formatTime, renderTable } from './format.ts'
import { withStore } from './store-access.ts'
import { durationLabel, type StoreFlags } from './store-options.ts'

export async function printStoreStats(flags: StoreFlags): Promise<void> {
  const stats = await withStore(flags, (db, path) => storeStats(db, path))
  if (flags.json) process.stdout.write(`${jsonForTerminal(stats)}\n`)
  else process.stdout.write(renderStats(stats))
}

/** `vacuum` (`--before` prunes first): VACUUM, a WAL checkpoint, the size before and after. */
export async function vacuumStore(
  flags: StoreFlags & { before?: number; dryRun?: boolean },
): Promise<void> {
  if (flags.before !== undefined) await pruneAndReport(flags, flags.before)
  if (flags.dryRun) return reportVacuumPlan(flags)
  const [before, after] = await withStore(flags, (db, path) => {
    const size = () => storeStats(db, path)
    const first = size()
    db.exec('VACUUM')
    db.pragma('wal_checkpoint(TRUNCATE)')
    return [first, size()] as const
  })
  const total = (s: StoreStats) => s.file_bytes + s.wal_bytes
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({ before_bytes: total(before), after_bytes: total(after) })}\n`,
    )
    return
  }
  process.stdout.write(
    `Vacuumed ${after.path}: ${formatBytes(total(before))} → ${formatBytes(total(after))}\n`,
  )
}

/** `prune --older-than` (and `vacuum --before`): deletes, or counts with --dry-run, and says so. */
export async function pruneAndReport(
  flags: StoreFlags & { dryRun?: boolean },
  age: number,
): Promise<void> {
  const cutoff = Date.now() - age
  const result = await withStore(flags, (db) => prune(db, cutoff, flags.proxy, flags.dryRun))
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({ dry_run: flags.dryRun === true, cutoff, ...result })}\n`,
    )
    return
  }
  const verb = flags.dryRun ? 'Would delete' : 'Deleted'
  const strings = flags.dryRun ? '' : `, ${formatCount(result.strings)} unused strings`
  process.stdout.write(
    `${flags.dryRun ? 'DRY RUN — no changes made\n' : ''}${verb} ${formatCount(result.exchanges)} exchanges, ${formatCount(result.rollups)} rollup rows, ${formatCount(result.sessions)} sessions, ${formatCount(result.clients)} clients${strings} older than ${durationLabel(age)} (${formatTime(cutoff)}).\n`,
  )
}

export function renderStats(stats: StoreStats): string {
  const time = (ms: number | null) => (ms === null ? '—' : formatTime(ms))
  const lines = [
    `STORAGE — ${stats.path}`,
    '',
    `  Exchanges:        ${formatCount(stats.exchanges)}`,
    `  Sessions:         ${formatCount(stats.sessions)}`,
    `  Clients:          ${formatCount(stats.clients)} (all time; portico clients shows a window)`,
    `  Schema changes:   ${formatCount(stats.schema_changes)}`,
    `  Proxies tracked:  ${stats.proxies.length}`,
    `  Oldest record:    ${time(stats.oldest)}`,
    `  Newest record:    ${time(stats.newest)}`,
    '',
    `  Database file:    ${formatBytes(stats.file_bytes)}`,
    `  WAL file:         ${formatBytes(stats.wal_bytes)}`,
    `  Schema version:   ${stats.schema_version}`,
    '',
    '',
  ]
  if (stats.proxies.length === 0) return `${lines.join('\n')}`
  const table = renderTable(
    ['PROXY', 'EXCHANGES', 'DROPPED EVENTS', 'FIRST SEEN', 'LAST SEEN'],
    stats.proxies.map((p) => [
      p.name,
      formatCount(p.exchanges),
      formatCount(p.dropped_events),
      formatTime(p.first_seen),
      formatTime(p.last_seen),
    ]),
    { align: ['left', 'right', 'right', 'left', 'left'] },
  )
  return `${lines.join('\n')}${table}`
}

/**
 * `vacuum --dry-run`: what VACUUM would reclaim (the free pages), without writing: as mcpr's
 * dry run says "no changes made" rather than nothing at all.
 */
async function reportVacuumPlan(flags: StoreFlags): Promise<void> {
  const plan = await withStore(flags, (db, path) => {
    const stats = storeStats(db, path)
    const pageSize = Number(db.pragma('page_size', { simple: true }))
    const freePages = Number(db.pragma('freelist_count', { simple: true }))
    return { stats, reclaimable: pageSize * freePages }
  })
  const bytes = plan.stats.file_bytes + plan.stats.wal_bytes
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({ dry_run: true, bytes, reclaimable_bytes: plan.reclaimable })}\n`,
    )
    return
  }
  process.stdout.write(
    `DRY RUN — no changes made. VACUUM would rewrite ${plan.stats.path} (${formatBytes(bytes)} now; about ${formatBytes(plan.reclaimable)} of free pages to reclaim)\n`,
  )
}
