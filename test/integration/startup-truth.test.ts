/**
 * Start-up and readiness tell the truth: `portico run` in front of nothing, or in front of
 * something that is not an MCP endpoint (an HTML 404 from a wrong path), says so at start and
 * `/readyz` stays 503 with the reason; in front of a real MCP server it is ready.
 */
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { runCli, runCliSync, startCli } from '../helpers/cli.ts'
import { listenOnZero, REFUSED_ORIGIN } from '../helpers/ports.ts'
import { until } from '../helpers/wait.ts'

describe('start-up and readiness', () => {
  let demo: DemoServer
  const web = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>')
  })
  let webOrigin: string

  before(async () => {
    demo = await startDemoServer()
    webOrigin = `http://127.0.0.1:${await listenOnZero(web)}`
  })
  after(async () => {
    await demo?.close()
    web.close()
  })

  async function check(upstream: string) {
    // cliEnv gives every CLI child a scratch store: never the user's ~/.portico.
    const portico = await startCli(['run', '--upstream', upstream, '--port', '0'])
    try {
      const origin = new URL(portico.url).origin
      const ready = await fetch(`${origin}/readyz`)
      const body = (await ready.json()) as { status: string; problem?: string }
      return { status: ready.status, body, portico }
    } catch (error) {
      await portico.stop()
      throw error
    }
  }

  it('warns at start and is not ready when nothing listens at the upstream', async () => {
    const { status, body, portico } = await check(`${REFUSED_ORIGIN}/mcp`)
    try {
      assert.equal(status, 503)
      assert.match(body.problem ?? '', /unreachable/)
      await until(
        () => /warn .*no upstream is answering/.test(portico.output()) || undefined,
        5000,
        'the start-up warning',
      )
    } finally {
      await portico.stop()
    }
  })

  it('is not ready in front of a wrong path that answers an HTML 404', async () => {
    const { status, body, portico } = await check(`${webOrigin}/wrong/mcp`)
    try {
      assert.equal(status, 503)
      assert.match(body.problem ?? '', /HTTP 404 \(text\/html\)/)
      await until(
        () => /HTTP 404/.test(portico.output()) || undefined,
        5000,
        'the start-up warning',
      )
    } finally {
      await portico.stop()
    }
  })

  it('is ready, and quiet, in front of a real MCP server', async () => {
    const { status, portico } = await check(demo.url)
    try {
      assert.equal(status, 200)
      assert.doesNotMatch(portico.output(), /no upstream is answering/)
    } finally {
      await portico.stop()
    }
  })

  it('check refuses what run would refuse when building (a widgets or store folder that is not there)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-preflight-'))
    try {
      const file = join(dir, 'portico.toml')
      const toml = (widgets: string) =>
        `widgets = "${widgets}"\n[[backends]]\nname = "m"\ntransport = "stdio"\ncommand = "${process.execPath}"\n`
      writeFileSync(file, toml(join(dir, 'missing')))
      const missing = await runCli(['check', '--config', file])
      assert.equal(missing.code, 1)
      // At its line, as every other problem (before: the file without a line).
      assert.match(missing.stderr, /portico\.toml:1: widgets: .*missing is not a folder/)
      mkdirSync(join(dir, 'assets'))
      writeFileSync(file, toml(join(dir, 'assets')))
      const fine = await runCli(['check', '--config', file])
      assert.equal(fine.code, 0, fine.stderr)
      // A store whose folder is missing: run refuses it, so check says so (before: "ok").
      const store = join(dir, 'no-such-folder', 'store.db')
      writeFileSync(file, `${toml(join(dir, 'assets'))}[store]\npath = "${store}"\n`)
      // (run says it when it opens the store: cli-damaged-store.test.ts, cli-usage.test.ts.)
      // Without the tests' PORTICO_DB, which would name the store in the file's place.
      const refused = runCliSync(['check', '--config', file], { PORTICO_DB: '' })
      assert.equal(refused.status, 1, refused.stderr)
      assert.match(
        refused.stderr,
        /portico\.toml:7: store\.path: the folder .*no-such-folder of the store .* does not exist/,
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
