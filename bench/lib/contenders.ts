/**
 * The contenders: how to start each proxy (or none) in front of an upstream, and how to find
 * or install the tools they need (nginx from Debian, the npm peers). A contender that cannot
 * run on this machine throws `Skip` with the reason, which the report prints.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Session, Target } from './client.ts'
import { freePort, type Started, start, waitUntil } from './procs.ts'

export class Skip extends Error {}

export interface Running {
  name: string
  url: string
  /** Processes whose memory is the contender's (the proxy, with its children). */
  pid: number
  /** Prepended to tool names: a gateway namespaces them (`fx__echo`). */
  toolPrefix?: string
  /** The main thread's live heap after a full collection (started with `heapProbe`). */
  liveHeap?(): Promise<number>
  stop(): Promise<void>
}

export interface Launcher {
  name: string
  /** Short description for the report's contender table. */
  what: string
  start(upstream: string, options?: StartHow): Promise<Running>
  /** Honours `StartHow.heapProbe` (the Porticos). */
  probesHeap?: true
}

export interface StartHow {
  /** Portico only: preload fixtures/heap-probe.js, so that `Running.liveHeap` can ask it. */
  heapProbe?: boolean
}

export const ROOT = process.cwd()
const NODE = process.execPath
const FIXTURES = join(ROOT, 'dist/bench/fixtures')
export const HTTP_FIXTURE = join(FIXTURES, 'http-server.js')
export const STDIO_FIXTURE = join(FIXTURES, 'stdio-server.js')
const PORTICO = join(ROOT, 'dist/src/cli/main.js')
const scratch = mkdtempSync(join(tmpdir(), 'portico-bench-'))
// Stores, configs and logs of one run: gone with it (S9's audit logs alone reach 100 MB).
process.once('exit', () => rmSync(scratch, { recursive: true, force: true }))

export function scratchPath(name: string): string {
  return join(scratch, name)
}

function running(name: string, url: string, started: Started): Running {
  return { name, url, pid: started.child.pid ?? 0, stop: () => started.stop() }
}

interface HeapProbe {
  flags: string[]
  env: Record<string, string>
  attach(running: Running): Running
}

/** What a Portico launcher adds for `heapProbe`: node flags, the file, `Running.liveHeap`. */
function heapProbe(name: string, how: StartHow): HeapProbe {
  if (!how.heapProbe) {
    return { flags: [], env: {}, attach: (r: Running) => r }
  }
  const file = scratchPath(`${name}-${++probes}.heap`)
  return {
    flags: ['--expose-gc', '--import', join(FIXTURES, 'heap-probe.js')],
    env: { PORTICO_BENCH_HEAP_FILE: file },
    attach: (r: Running): Running => ({ ...r, liveHeap: () => askHeap(r.pid, file) }),
  }
}

let probes = 0

/** Signals the probe and waits (up to 5 s) for the figure it writes. */
async function askHeap(pid: number, file: string): Promise<number> {
  rmSync(file, { force: true })
  process.kill(pid, 'SIGUSR2')
  const deadline = Date.now() + 5000
  while (Date.now() < deadline) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
    if (text !== '') return Number(text)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`no heap figure from ${pid} within 5 s`)
}

/** Starts the HTTP fixture; `tools` sets the size of tools/list. */
export async function startFixture(tools = 3, name = 'fixture'): Promise<Running> {
  const started = await start(NODE, [HTTP_FIXTURE, '--tools', String(tools), '--name', name], {
    waitFor: /listening on (http:\/\/\S+)/,
  })
  return running('fixture', started.match?.[1] as string, started)
}

/** Waits until an MCP session can be opened through `url`. */
async function mcpReady(url: string, timeoutMs = 20_000): Promise<void> {
  const target = new Target(url, 1)
  try {
    await waitUntil(
      async () => {
        const session = new Session(target)
        await session.open()
        await session.close().catch(() => undefined)
        return true
      },
      timeoutMs,
      url,
    )
  } finally {
    await target.close()
  }
}

export const direct: Launcher = {
  name: 'direct',
  what: 'no proxy: the client talks to the fixture itself',
  async start(upstream) {
    return { name: 'direct', url: upstream, pid: 0, stop: async () => undefined }
  },
}

function bareLauncher(name: string, what: string, client: string): Launcher {
  return {
    name,
    what,
    async start(upstream) {
      const script = join(FIXTURES, 'bare-proxy.js')
      const started = await start(NODE, [script, '--upstream', upstream, '--client', client], {
        waitFor: /listening on (http:\/\/\S+)/,
      })
      return running(name, started.match?.[1] as string, started)
    },
  }
}

export const bare = bareLauncher(
  'bare-node',
  'node:http server piping bytes to the upstream through a keep-alive node:http Agent, parsing nothing (bench/fixtures/bare-proxy.ts)',
  'http',
)

export const bareUndici = bareLauncher(
  'bare-undici',
  'the same with an undici Pool and a raw dispatch handler instead of node:http’s client',
  'undici',
)

function porticoLauncher(
  name: string,
  what: string,
  extra: () => string[],
  entry: string = PORTICO,
): Launcher {
  return {
    name,
    what,
    probesHeap: true,
    async start(upstream, how = {}) {
      const probe = heapProbe(name, how)
      // PORTICO_BENCH_NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles Portico.
      const flags = (process.env.PORTICO_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)
      const args = [...flags, ...probe.flags, entry, 'run', '--upstream', upstream, '--port', '0']
      const started = await start(NODE, [...args, '--log-level', 'warn', ...extra()], {
        waitFor: /listening on (http:\/\/\S+)/,
        env: probe.env,
      })
      return probe.attach(running(name, started.match?.[1] as string, started))
    },
  }
}

let dbCount = 0
export const porticoStoreOn = porticoLauncher(
  'portico',
  'Portico transparent, `--db PATH` (store on)',
  () => ['--db', scratchPath(`store-${++dbCount}.db`)],
)

export const porticoTwoWorkers = porticoLauncher(
  'portico-2workers',
  'Portico transparent, `--workers 2 --db PATH` (store on): two node:cluster workers share the port, the primary writes the store',
  () => ['--workers', '2', '--db', scratchPath(`workers-${++dbCount}.db`)],
)

export const porticoStoreOff = porticoLauncher(
  'portico-nostore',
  'Portico transparent, `[store] enabled = false`',
  () => {
    const file = scratchPath('store-off.toml')
    writeFileSync(file, '[store]\nenabled = false\n')
    return ['--config', file]
  },
)

export const porticoAccessLog = porticoLauncher(
  'portico-accesslog',
  'Portico transparent with `access_log = true`: every exchange recorded through the event bus to a sink (stderr lines)',
  () => {
    const file = scratchPath('access-log.toml')
    writeFileSync(file, 'access_log = true\n')
    return ['--config', file]
  },
)

/** The gateway from the PORTICO_BENCH_BASELINE build, for S4 A/B runs. */
export function porticoGatewayBaseline(backends: readonly Backend[]): Launcher[] {
  const entry = process.env.PORTICO_BENCH_BASELINE
  return entry ? [porticoGateway(backends, 'portico-gateway-baseline', entry)] : []
}

/**
 * Another build of Portico (PORTICO_BENCH_BASELINE=path/to/dist/src/cli/main.js), run side by
 * side with this one to measure what a change bought without the machine's noise in between.
 */
export function porticoBaseline(): Launcher[] {
  const entry = process.env.PORTICO_BENCH_BASELINE
  if (!entry) return []
  return [
    porticoLauncher(
      'portico-baseline',
      `Portico built from ${entry} (A/B baseline), \`--db PATH\``,
      () => ['--db', scratchPath(`baseline-${++dbCount}.db`)],
      entry,
    ),
  ]
}

// ---------------------------------------------------------------------------------------
// nginx

let nginxBinary: string | undefined | null = null

/** Finds nginx, installing the Debian package when missing and running as root. */
export function findNginx(log: (line: string) => void): string | undefined {
  if (nginxBinary !== null) return nginxBinary
  nginxBinary = locate('nginx', ['/usr/sbin/nginx', '/usr/local/sbin/nginx'])
  if (nginxBinary === undefined && process.getuid?.() === 0) {
    log('nginx not found: installing the Debian package (apt-get install -y nginx-light)')
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    spawnSync('apt-get', ['update'], { stdio: 'ignore', env })
    for (const pkg of ['nginx-light', 'nginx']) {
      if (spawnSync('apt-get', ['install', '-y', pkg], { stdio: 'ignore', env }).status === 0) break
    }
    nginxBinary = locate('nginx', ['/usr/sbin/nginx'])
  }
  return nginxBinary
}

function locate(command: string, candidates: string[]): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' })
  if (found.status === 0 && found.stdout.trim()) return found.stdout.trim()
  return candidates.find((path) => existsSync(path))
}

export function nginxVersion(): string {
  if (!nginxBinary) return 'not available'
  const out = spawnSync(nginxBinary, ['-v'], { encoding: 'utf8' })
  return (out.stderr || out.stdout).trim().replace(/^nginx version: /, '')
}

export const nginx: Launcher = {
  name: 'nginx',
  what: 'nginx (Debian), 1 worker, plain reverse proxy: keep-alive upstream, proxy_buffering off',
  async start(upstream) {
    const binary = nginxBinary
    if (!binary) throw new Skip('nginx not installed (not root, or apt-get failed)')
    const target = new URL(upstream)
    const port = await freePort()
    const dir = mkdtempSync(join(scratch, 'nginx-'))
    const conf = join(dir, 'nginx.conf')
    writeFileSync(conf, nginxConfig(dir, port, target.host))
    const started = await start(binary, ['-c', conf, '-p', dir, '-e', join(dir, 'error.log')])
    const url = `http://127.0.0.1:${port}${target.pathname}`
    try {
      await mcpReady(url, 10_000)
    } catch (error) {
      await started.stop()
      const log = existsSync(join(dir, 'error.log'))
        ? readFileSync(join(dir, 'error.log'), 'utf8')
        : ''
      throw new Error(
        `nginx did not start: ${String(error)} ${log.slice(-400)} ${started.output()}`,
      )
    }
    return running('nginx', url, started)
  },
}

function nginxConfig(dir: string, port: number, upstreamHost: string): string {
  const user = process.getuid?.() === 0 ? 'user root;\n' : ''
  return `${user}daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream mcp_upstream { server ${upstreamHost}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 100000;
    location / {
      proxy_pass http://mcp_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 300s;
      client_max_body_size 16m;
    }
  }
}
`
}

// ---------------------------------------------------------------------------------------
// npm peers

/**
 * The peers live in their own package (bench/peers, with its own lockfile), installed on first
 * use: `npm install` of Portico does not download proxies that only the benchmark runs.
 */
const PEERS_DIR = join(ROOT, 'bench', 'peers')

const PEERS: Record<string, string> = {
  supergateway: 'supergateway/package.json',
  'mcp-proxy': 'mcp-proxy/package.json',
  '@civic/passthrough-mcp-server': '@civic/passthrough-mcp-server/package.json',
}

function peerManifest(pkg: string): string {
  return join(PEERS_DIR, 'node_modules', PEERS[pkg] ?? `${pkg}/package.json`)
}

/** The entry script of an npm peer, installing the peers (`npm ci --prefix bench/peers`) if missing. */
export function peerEntry(pkg: string, log: (line: string) => void): string {
  const manifest = peerManifest(pkg)
  if (!existsSync(manifest)) {
    log(`${pkg} not installed: npm ci --prefix bench/peers`)
    const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--prefix', PEERS_DIR], {
      cwd: ROOT,
      stdio: 'ignore',
    })
    if (result.status !== 0 || !existsSync(manifest))
      throw new Skip(`${pkg} could not be installed (npm ci --prefix bench/peers failed)`)
  }
  const json: unknown = JSON.parse(readFileSync(manifest, 'utf8'))
  const bin = (json as { bin?: string | Record<string, string> }).bin
  const rel = typeof bin === 'string' ? bin : Object.values(bin ?? {})[0]
  if (!rel) throw new Skip(`${pkg} has no executable`)
  return realpathSync(join(manifest, '..', rel))
}

export function peerVersion(pkg: string): string {
  const manifest = peerManifest(pkg)
  if (!existsSync(manifest)) return 'not installed'
  return String((JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version)
}

export function civic(log: (line: string) => void): Launcher {
  return {
    name: 'civic-passthrough',
    what: '`@civic/passthrough-mcp-server` (HTTP → HTTP, no hooks)',
    async start(upstream) {
      const entry = peerEntry('@civic/passthrough-mcp-server', log)
      const port = await freePort()
      const started = await start(NODE, [entry], {
        env: { PORT: String(port), TARGET_SERVER_URL: upstream, LOG_LEVEL: 'error' },
      })
      const url = `http://127.0.0.1:${port}/mcp`
      try {
        await mcpReady(url)
      } catch (error) {
        await started.stop()
        throw new Error(`civic did not start: ${String(error)} ${started.output().slice(-400)}`)
      }
      return running('civic-passthrough', url, started)
    },
  }
}

/** stdio contenders ignore `upstream`: they spawn the stdio fixture themselves. */
export function supergateway(log: (line: string) => void): Launcher {
  return {
    name: 'supergateway',
    what: '`supergateway --stdio … --outputTransport streamableHttp --stateful` (one child per session)',
    async start() {
      const entry = peerEntry('supergateway', log)
      const port = await freePort()
      const started = await start(NODE, [
        entry,
        '--stdio',
        `${NODE} ${STDIO_FIXTURE}`,
        '--outputTransport',
        'streamableHttp',
        '--stateful',
        '--port',
        String(port),
        '--logLevel',
        'none',
      ])
      return readyOrStop('supergateway', `http://127.0.0.1:${port}/mcp`, started)
    },
  }
}

export function mcpProxy(log: (line: string) => void): Launcher {
  return {
    name: 'mcp-proxy',
    what: '`mcp-proxy --server stream -- node stdio-server.js` (one shared child)',
    async start() {
      const entry = peerEntry('mcp-proxy', log)
      const port = await freePort()
      const started = await start(NODE, [
        entry,
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--server',
        'stream',
        '--',
        NODE,
        STDIO_FIXTURE,
      ])
      return readyOrStop('mcp-proxy', `http://127.0.0.1:${port}/mcp`, started)
    },
  }
}

async function readyOrStop(name: string, url: string, started: Started): Promise<Running> {
  try {
    await mcpReady(url)
  } catch (error) {
    await started.stop()
    throw new Error(`${name} did not start: ${String(error)} ${started.output().slice(-400)}`)
  }
  return running(name, url, started)
}

// ---------------------------------------------------------------------------------------
// Portico gateway mode: `[[backends]]` (README "Gateway mode", src/config/gateway.ts).

export interface Backend {
  name: string
  stdio?: boolean
  url?: string
  tools?: number
}

let gatewayStores = 0

/** Between backend and tool name; the gateway's default, written out so the two agree. */
export const GATEWAY_SEPARATOR = '__'

/**
 * The gateway config for these backends. Admin tools are off so that tools/list counts only
 * the backends' tools (the same 500 as the direct row of S5). `proxy` adds lines to `[proxy]`
 * (the curves raise the session limits and turn the list cache off).
 */
export function gatewayToml(backends: readonly Backend[], proxy: readonly string[] = []): string {
  const lines = [
    'port = 0',
    '',
    '[proxy]',
    `separator = "${GATEWAY_SEPARATOR}"`,
    'admin_tools = false',
    ...proxy,
    '',
    // Recording stays on, as by default, but in the scratch folder, not ~/.portico.
    '[store]',
    `path = ${JSON.stringify(scratchPath(`gateway-${++gatewayStores}.db`))}`,
    '',
  ]
  for (const backend of backends) {
    lines.push('[[backends]]', `name = "${backend.name}"`)
    if (backend.stdio) {
      lines.push('transport = "stdio"', `command = ${JSON.stringify(NODE)}`)
      lines.push(`args = ${JSON.stringify([STDIO_FIXTURE, '--tools', String(backend.tools ?? 3)])}`)
    } else {
      lines.push('transport = "http"', `url = ${JSON.stringify(backend.url)}`)
    }
    lines.push('')
  }
  return lines.join('\n')
}

/** Undefined when gateway mode works in this build, else the reason it does not. */
export function gatewayUnavailable(): string | undefined {
  const file = scratchPath('gateway-check.toml')
  writeFileSync(file, gatewayToml([{ name: 'probe', stdio: true }]))
  try {
    execFileSync(NODE, [PORTICO, 'check', '--config', file], { stdio: 'pipe' })
    return undefined
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim()
    return `gateway mode not available in this build (portico check: ${stderr.split('\n')[0]})`
  }
}

export function porticoGateway(
  backends: readonly Backend[],
  label = 'portico-gateway',
  entry: string = PORTICO,
  proxy: readonly string[] = [],
): Launcher {
  return {
    name: label,
    what:
      entry === PORTICO
        ? 'Portico gateway (`portico run --config gateway.toml`, `[[backends]]`, shared stdio child, tools called as `fx__echo`)'
        : `Portico gateway built from ${entry} (A/B baseline)`,
    probesHeap: true,
    async start(_upstream, how = {}) {
      const reason = gatewayUnavailable()
      if (reason) throw new Skip(reason)
      const probe = heapProbe(label, how)
      const file = scratchPath(`${label}.toml`)
      writeFileSync(file, gatewayToml(backends, proxy))
      const flags = (process.env.PORTICO_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)
      const args = [...flags, ...probe.flags, entry, 'run', '--config', file, '--log-level', 'warn']
      const started = await start(NODE, args, {
        waitFor: /listening on (http:\/\/\S+)/,
        env: probe.env,
      })
      const ready = probe.attach(await readyOrStop(label, started.match?.[1] as string, started))
      // A single backend is the one the load calls; with several, callers name it themselves.
      const only = backends.length === 1 ? backends[0]?.name : undefined
      return only ? { ...ready, toolPrefix: `${only}${GATEWAY_SEPARATOR}` } : ready
    },
  }
}

// ---------------------------------------------------------------------------------------
// S8: traffic protection (issue 12). Store off in all three, so only the tables differ.

/** Every protection table configured, limits far above the load: nothing trips. */
export const PROTECT_ALL_TOML = `[store]
enabled = false

[timeout]
seconds = 30
attempt = "20s"

[concurrency]
max_concurrent = 512
max_queue = 1000

[rate_limit]
requests = 10000000
period_seconds = 1

[circuit_breaker]
failure_rate_threshold = 0.5
minimum_calls = 20

[retry]
max_retries = 2

[hedging]
delay_ms = 2000
max_hedges = 1

[outlier_detection]
consecutive_errors = 5

[cache]
tool_ttl_seconds = 60

[performance]
coalesce_requests = true

[proxy.rate_limit]
requests = 10000000
per_client = { requests = 10000000, period_seconds = 1 }
per_session = { requests = 10000000, period_seconds = 1 }
per_tool = [{ tool = "*", requests = 10000000, period_seconds = 1 }]
`

function porticoWithToml(name: string, what: string, toml: string): Launcher {
  return porticoLauncher(name, what, () => {
    const file = scratchPath(`${name}.toml`)
    writeFileSync(file, toml)
    return ['--config', file]
  })
}

export const porticoPlain = porticoWithToml(
  'portico-plain',
  'Portico transparent, `[store] enabled = false`, no protection table',
  '[store]\nenabled = false\n',
)

export const porticoProtected = porticoWithToml(
  'portico-protected',
  'Portico transparent, `[store] enabled = false`, every protection table configured (timeout, concurrency, rate_limit, circuit_breaker, retry, hedging, outlier_detection, cache, [performance] coalescing, [proxy.rate_limit] global/per client/per session/per tool), limits far above the load',
  PROTECT_ALL_TOML,
)

export const porticoCache = porticoWithToml(
  'portico-cache',
  'Portico transparent, `[store] enabled = false`, `[cache] tool_ttl_seconds = 60` (answers from its cache)',
  '[store]\nenabled = false\n\n[cache]\ntool_ttl_seconds = 60\n',
)
