/**
 * The deployment files under deploy/, checked against a running Portico: the systemd unit's
 * ExecStart command line and Environment (run as written, with `portico` on PATH and the
 * config and store paths moved to a scratch folder), the Dockerfile's HEALTHCHECK command, and
 * the probe paths of the Kubernetes manifest and compose file. No container engine runs here:
 * the image itself is not built (see README "Containers").
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { CLI, cliEnv } from '../helpers/cli.ts'
import { exitOf, type Spawned, spawnReady } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const DEPLOY = join(ROOT, 'deploy')
const read = (path: string) => readFileSync(join(DEPLOY, path), 'utf8')
const LISTENING = /Portico listening on (http:\/\/\S+)/

/** `Key=value` lines of a unit's section, in order (a key may repeat). */
function unitValues(unit: string, key: string): string[] {
  return unit
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1))
}

describe('deploy/systemd/portico.service', () => {
  const dir = scratchDir('portico-systemd-')
  const unit = read('systemd/portico.service')
  let demo: DemoServer
  let service: Spawned
  let origin: string

  before(async () => {
    demo = await startDemoServer()
    // `portico` on PATH, as `npm install -g` puts it.
    const bin = join(dir, 'bin')
    mkdirSync(bin)
    writeFileSync(
      join(bin, 'portico'),
      `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`,
    )
    chmodSync(join(bin, 'portico'), 0o755)
    const config = join(dir, 'portico.toml')
    writeFileSync(config, `upstream = "${demo.url}"\nport = 0\n`)
    const [execStart] = unitValues(unit, 'ExecStart')
    assert.equal(execStart, '/usr/bin/env portico run --config /etc/portico/portico.toml')
    const argv = (execStart ?? '').replace('/etc/portico/portico.toml', config).split(' ')
    const env: NodeJS.ProcessEnv = { PATH: `${bin}:${process.env.PATH ?? ''}` }
    for (const assignment of unitValues(unit, 'Environment')) {
      const [name = '', value = ''] = assignment.split('=', 2)
      env[name] = value.replace('/var/lib/portico', dir)
    }
    assert.equal(env.PORTICO_DB, join(dir, 'store.db'))
    service = await spawnReady(argv[0] ?? '', argv.slice(1), { env: cliEnv(env), ready: LISTENING })
    origin = new URL(LISTENING.exec(service.output())?.[1] ?? '').origin
  })

  after(async () => {
    await service?.stop()
    await demo?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('the unit is valid for systemd-analyze verify', (t) => {
    const analyze = spawnSync(
      'systemd-analyze',
      ['verify', join(DEPLOY, 'systemd', 'portico.service')],
      {
        encoding: 'utf8',
      },
    )
    if (analyze.error) {
      t.skip(`systemd-analyze is not installed (${analyze.error.message})`)
      return
    }
    assert.equal(analyze.status, 0, analyze.stderr)
  })

  it('ExecStart serves: /healthz 200, /readyz 200 with the upstream up', async () => {
    const health = await fetch(`${origin}/healthz`)
    assert.equal(health.status, 200)
    const ready = await fetch(`${origin}/readyz`)
    assert.equal(ready.status, 200)
  })

  it('KillSignal=SIGTERM drains and exits 0 within TimeoutStopSec', async () => {
    assert.deepEqual(unitValues(unit, 'KillSignal'), ['SIGTERM'])
    const stopSeconds = Number(unitValues(unit, 'TimeoutStopSec')[0])
    assert.equal(stopSeconds, 40)
    const exit = exitOf(service.child, stopSeconds * 1000, 'the service')
    service.child.kill('SIGTERM')
    assert.deepEqual(await exit, { code: 0, signal: null })
    // JSON lines (PORTICO_JSON_LOGS=true), as the journal gets them.
    const lines = service
      .stderr()
      .split('\n')
      .filter((line) => line.startsWith('{'))
    assert.ok(lines.length >= 2, service.stderr())
    for (const line of lines) JSON.parse(line)
  })
})

describe('deploy/Dockerfile, deploy/kubernetes, deploy/compose.yaml against a running Portico', () => {
  const dockerfile = read('Dockerfile')
  let demo: DemoServer
  let portico: Spawned
  let port: number

  before(async () => {
    demo = await startDemoServer()
    portico = await spawnReady(
      process.execPath,
      [CLI, 'run', '--upstream', demo.url, '--port', '0'],
      {
        env: cliEnv({
          PORTICO_DB: join(scratchDir('portico-docker-'), 'store.db'),
        }),
        ready: LISTENING,
      },
    )
    port = Number(new URL(LISTENING.exec(portico.output())?.[1] ?? '').port)
  })
  after(async () => {
    await portico?.stop()
    await demo?.close()
  })

  it('is multi-stage, runs as the non-root node user, and starts the packaged CLI', () => {
    assert.equal(dockerfile.match(/^FROM /gm)?.length, 2)
    assert.match(dockerfile, /^USER node$/m)
    const bin = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: { portico: string } }
    ).bin.portico
    assert.equal(bin, './dist/src/cli/main.js')
    assert.match(dockerfile, /^ENTRYPOINT \["node", "\/app\/dist\/src\/cli\/main\.js"\]$/m)
    assert.match(dockerfile, /^COPY --from=build \/src\/dist\/src \.\/dist\/src$/m)
  })

  it('its HEALTHCHECK command exits 0 against /healthz, 1 when nothing answers', async () => {
    const match = /^HEALTHCHECK [^\n]*\\\n\s+CMD (\[.*\])$/m.exec(dockerfile)
    const command = JSON.parse(match?.[1] ?? '[]') as string[]
    assert.equal(command[0], 'node')
    assert.match(command.join(' '), /\/healthz/)
    const run = async (env: NodeJS.ProcessEnv) => {
      const child = spawn(process.execPath, command.slice(1), { env: cliEnv(env), stdio: 'ignore' })
      return (await exitOf(child, 10_000, 'the healthcheck')).code
    }
    assert.equal(await run({ PORTICO_PORT: String(port) }), 0)
    assert.equal(await run({ PORTICO_PORT: '1' }), 1)
  })

  it('the Kubernetes liveness and readiness probes and compose’s healthcheck name paths that answer 200', async () => {
    const manifest = read('kubernetes/portico.yaml')
    const probe = (name: string) =>
      new RegExp(`${name}:\\n\\s+httpGet:\\n\\s+path: (\\S+)`).exec(manifest)?.[1]
    assert.equal(probe('livenessProbe'), '/healthz')
    assert.equal(probe('readinessProbe'), '/readyz')
    const compose = read('compose.yaml')
    const composePath = /fetch\('http:\/\/127\.0\.0\.1:3000(\/\w+)'\)/.exec(compose)?.[1]
    assert.equal(composePath, '/healthz')
    for (const path of ['/healthz', '/readyz']) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`)
      assert.equal(response.status, 200, path)
    }
  })
})
