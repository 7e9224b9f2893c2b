/** `portico run`, declared: its options; what it does is ../run.ts, loaded when it runs. */
import { type Command, Option } from 'commander'
import { intOption, portOption, UserError } from '../errors.ts'
import { holdHangups } from '../hangup.ts'
import { onlyOnce } from '../only-once.ts'
import { keepServingWithoutReaders } from '../pipes.ts'
import type { RunFlags } from '../run.ts'

export function registerRun(program: Command): void {
  const run = program
    .command('run')
    .argument('[config]', 'TOML config file, as mcpr takes it (same as --config)')
    .description('Run the proxy in front of an MCP server')
    .option('--upstream <url>', 'upstream MCP endpoint, e.g. http://127.0.0.1:9000/mcp')
    .option('--mcp <url>', "mcpr's name for --upstream")
    .option('--widgets <url|dir>', 'where non-MCP traffic (widget assets) goes: a URL or a folder')
    .option('--port <n>', 'port to listen on (0 picks a free one)', portOption('--port'))
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option(
      '-c, --config <file>',
      'TOML config file (default ./portico.toml, else ./mcpr.toml, else ./proxy.toml, when present)',
      onlyOnce('--config'),
    )
    .option('--db <path>', 'path of the observability store')
    .option('--name <name>', 'proxy name recorded with every exchange')
    .option('--log-level <level>', 'debug, info, warn, error or silent')
    .option('--json-logs', 'log JSON lines instead of text')
    .option('--tunnel <relay-url>', 'publish this proxy through a relay (see `portico relay`)')
    .option('--tunnel-token <token>', 'tunnel token (else [tunnel] token or PORTICO_TUNNEL_TOKEN)')
    .option('--tunnel-subdomain <name>', 'subdomain to ask the relay for')
    .option('--no-tunnel', 'serve locally only, even with [tunnel] enabled = true (mcpr 0.1)')
    .option(
      '--csp <domain>',
      'a domain widgets may use, repeatable: [csp] domains (mcpr 0.1)',
      collect,
    )
    .option('--csp-mode <mode>', 'extend or override (replace): [csp] mode (mcpr 0.1)')
    .option(
      '--workers <n>',
      'processes serving the port (transparent mode; "auto": one per core)',
      workersOption,
    )
    .action(async (file: string | undefined, flags: RunFlags) => {
      holdHangups()
      keepServingWithoutReaders()
      const { runProxy } = await import('../run.ts')
      await runProxy(file, flags)
    })
  addMcpProxyFlags(run)
}

/**
 * mcp-proxy's flags, hidden: typed out of habit (`--config proxy.toml --import-mcp-json
 * .mcp.json`, with `--check` too), they get what to type instead of "unknown option".
 */
export function addMcpProxyFlags(command: Command): void {
  command
    .addOption(new Option('--from-mcp-json <file>').hideHelp().argParser(fromMcpJson))
    .addOption(new Option('--import-mcp-json <file>').hideHelp().argParser(importMcpJson))
}

/** A repeatable option's values, in order. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

function workersOption(value: string): number | 'auto' {
  return value === 'auto' ? value : intOption('--workers')(value)
}

function fromMcpJson(file: string): never {
  throw new UserError(
    `--from-mcp-json is mcp-proxy’s: portico import ${file} writes portico.toml from its servers, then portico run serves them (on port 3000; mcp-proxy served 127.0.0.1:8080: add --port 8080 to keep its address)`,
    2,
  )
}

function importMcpJson(file: string): never {
  throw new UserError(
    `--import-mcp-json is mcp-proxy’s: write [proxy] import_backends = ${JSON.stringify(file)} in the config file (its backends win over those of the same name)`,
    2,
  )
}
