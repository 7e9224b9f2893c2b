/**
 * S9: the operating surfaces' cost. Portico with Prometheus metrics, OpenTelemetry tracing
 * (every call sampled, exported to an OTLP/HTTP sink in its own process) and the audit log
 * (to a file) all on, against the same build with all of them off, side by side in the same rounds, in both
 * modes (transparent in front of the HTTP fixture, gateway in front of the stdio fixture).
 * The store is off in all four, so the difference is what issue 14 adds.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Launcher, ROOT, type Running, scratchPath } from './contenders.ts'
import { start } from './procs.ts'

const NODE = process.execPath

/** The OTLP/HTTP sink S9's Porticos export to: its own process (fixtures/otlp-sink.ts). */
export interface SpanSink {
  url: string
  /** Export requests received so far. */
  posts(): Promise<number>
  stop(): Promise<void>
}

export async function startSpanSink(): Promise<SpanSink> {
  const started = await start(NODE, [join(ROOT, 'dist/bench/fixtures/otlp-sink.js')], {
    waitFor: /listening on (http:\/\/\S+)/,
  })
  const url = started.match?.[1] as string
  return {
    url,
    async posts() {
      const response = await fetch(`${url}/stats`)
      return ((await response.json()) as { posts: number }).posts
    },
    stop: () => started.stop(),
  }
}

function operateToml(on: boolean, otlp: string): string {
  const lines = ['[store]', 'enabled = false', '']
  if (on) {
    lines.push(
      '[observability]',
      'audit = true',
      '[observability.metrics]',
      'enabled = true',
      '[observability.tracing]',
      'enabled = true',
      `endpoint = ${JSON.stringify(otlp)}`,
      'sample_ratio = 1.0',
      '',
    )
  }
  return lines.join('\n')
}

export function porticoOps(on: boolean, entry: string, otlp: () => string): Launcher {
  const name = on ? 'portico-ops-on' : 'portico-ops-off'
  return {
    name,
    what: on
      ? 'Portico transparent, metrics + tracing (100 % sampled, OTLP/HTTP) + audit on, store off'
      : 'Portico transparent, metrics, tracing and audit off, store off',
    async start(upstream) {
      const file = scratchPath(`${name}.toml`)
      writeFileSync(file, operateToml(on, otlp()))
      // PORTICO_BENCH_NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles Portico.
      const flags = (process.env.PORTICO_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)
      const args = [...flags, entry, 'run', '--upstream', upstream, '--port', '0', '--config', file]
      const started = await start(NODE, [...args, '--log-level', 'info'], {
        waitFor: /listening on (http:\/\/\S+)/,
        stderrTo: scratchPath(`${name}.log`),
      })
      return runningOf(name, started.match?.[1] as string, started)
    },
  }
}

export function porticoGatewayOps(
  on: boolean,
  entry: string,
  stdioFixture: string,
  otlp: () => string,
): Launcher {
  const name = on ? 'portico-gateway-ops-on' : 'portico-gateway-ops-off'
  return {
    name,
    what: on
      ? 'Portico gateway (stdio `fx`), metrics + tracing + audit on, store off'
      : 'Portico gateway (stdio `fx`), metrics, tracing and audit off, store off',
    async start() {
      const file = scratchPath(`${name}.toml`)
      const backend = [
        'port = 0',
        '[proxy]',
        'admin_tools = false',
        '',
        operateToml(on, otlp()),
        '[[backends]]',
        'name = "fx"',
        'transport = "stdio"',
        `command = ${JSON.stringify(NODE)}`,
        `args = ${JSON.stringify([stdioFixture])}`,
        '',
      ]
      writeFileSync(file, backend.join('\n'))
      const started = await start(NODE, [entry, 'run', '--config', file, '--log-level', 'info'], {
        waitFor: /listening on (http:\/\/\S+)/,
        stderrTo: scratchPath(`${name}.log`),
      })
      return { ...runningOf(name, started.match?.[1] as string, started), toolPrefix: 'fx__' }
    },
  }
}

function runningOf(
  name: string,
  url: string,
  started: { child: { pid?: number | undefined }; stop(): Promise<void> },
): Running {
  return { name, url, pid: started.child.pid ?? 0, stop: () => started.stop() }
}
