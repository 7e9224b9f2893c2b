/** `portico schema`, declared: its options; what it does is ../schema.ts, loaded when it runs. */
import type { Command } from 'commander'
import { intOption } from '../errors.ts'
import type { SchemaFlags } from '../schema.ts'
import { addSince, addStoreOptions } from '../store-options.ts'

export function registerSchema(program: Command): void {
  const command = program
    .command('schema')
    .description(
      'The captured server schema; --changes for its history, --unused for idle tools, --usage for calls per tool',
    )
    .option('--changes', 'history of schema changes, newest first')
    .option('--unused', 'only the listed tools nobody called in the window')
    .option('--usage', 'every listed tool with its calls and errors in the window')
    .option('--method <method>', 'only this list method (tools/list, prompts/list, …)')
    .option('--limit <n>', 'rows of history to show (default 50)', intOption('--limit'))
  addSince(addStoreOptions(command), '7d').action(async (flags: SchemaFlags) => {
    const { printSchemaReport } = await import('../schema.ts')
    await printSchemaReport(flags)
  })
}
