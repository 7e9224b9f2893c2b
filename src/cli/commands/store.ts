/**
 * `portico store stats | prune | vacuum`, declared: their options; what they do is
 * ../store.ts, loaded when one runs.
 */
import type { Command } from 'commander'
import { UserError } from '../errors.ts'
import { addStoreOptions, durationOption, type StoreFlags } from '../store-options.ts'

export function registerStore(program: Command): void {
  const store = program.command('store').description('Inspect and maintain the observability store')
  addStoreOptions(
    store.command('stats').description('What the store holds and its size on disk'),
  ).action(async (flags: StoreFlags) => {
    const { printStoreStats } = await import('../store.ts')
    await printStoreStats(flags)
  })
  addStoreOptions(
    store
      .command('prune')
      .description('Delete exchanges, rollups, sessions and clients older than a duration')
      .requiredOption(
        '--older-than <duration>',
        'age cutoff, e.g. 30d',
        durationOption('--older-than'),
      )
      .option('--dry-run', 'only count what would be deleted'),
  ).action(async (flags: StoreFlags & { olderThan: number; dryRun?: boolean }) => {
    const { pruneAndReport } = await import('../store.ts')
    await pruneAndReport(flags, flags.olderThan)
  })
  addStoreOptions(
    store
      .command('vacuum')
      .description(
        'Reclaim disk space (VACUUM + WAL checkpoint); --before prunes first, as in mcpr',
      )
      .option(
        '--before <duration>',
        "first delete what is older, as `prune --older-than` (mcpr's vacuum --before 7d)",
        durationOption('--before'),
      )
      .option(
        '--dry-run',
        'only say what would be deleted (with --before) and how much VACUUM would reclaim',
      ),
  ).action(async (flags: StoreFlags & { before?: number; dryRun?: boolean }) => {
    const { vacuumStore } = await import('../store.ts')
    await vacuumStore(flags)
  })
  store.action(() => {
    throw new UserError('store: expected a subcommand: stats, prune or vacuum', 2)
  })
}
