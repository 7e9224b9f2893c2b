/**
 * Auth through the `portico` command, as users run it: `check` accepts a protected config and
 * rejects an unenforceable one, `run` refuses to start with either an invalid `[auth]` or an
 * issuer it cannot discover (fail closed, never open), and a protected `run` serves the right
 * key, refuses the rest, and `portico logs` shows who called without ever showing a token.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startProbeHttp } from '../fixtures/probe-server.ts'
import type { Served } from '../fixtures/serve.ts'
import { runCli, startCli } from '../helpers/cli.ts'
import { REFUSED_ORIGIN } from '../helpers/ports.ts'
import type { Spawned } from '../helpers/processes.ts'
import { bearer, request, rpc } from '../helpers/rpc.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

const ref = (name: string) => ['$', '{', name, '}'].join('')

describe('portico check / run / logs with [auth]', () => {
  const dir = scratchDir('portico-auth-cli-')
  const db = join(dir, 'store.db')
  let probe: Served
  let running: (Spawned & { url: string }) | undefined

  before(async () => {
    probe = await startProbeHttp()
  })
  after(async () => {
    await running?.stop()
    await probe?.close()
  })

  function config(name: string, text: string): string {
    const path = join(dir, name)
    writeFileSync(path, `upstream = "${probe.url}"\nport = 0\n[store]\npath = "${db}"\n${text}`)
    return path
  }

  it('check accepts a protected config and rejects one Portico could not enforce', async () => {
    const good = config('good.toml', `[auth]\ntype = "bearer"\ntokens = ["${ref('MCP_TOKEN')}"]\n`)
    const ok = await runCli(['check', '-c', good])
    assert.equal(ok.code, 1, 'the unset secret is a problem')
    assert.match(ok.stderr, /MCP_TOKEN is not set/)
    const bad = config('bad.toml', `[auth]\ntype = "bearer"\ntokens = ["a", "a"]\n`)
    const refused = await runCli(['check', '-c', bad])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /auth\.tokens\[1\]: duplicate token/)
  })

  it('run refuses to start with an invalid [auth] or an issuer it cannot reach', async () => {
    const unknown = config('unknown.toml', `[auth]\ntokens = ["a"]\nallow_anonymous = true\n`)
    const invalid = await runCli(['run', '-c', unknown])
    assert.notEqual(invalid.code, 0)
    assert.match(invalid.stderr, /unknown key "allow_anonymous"/)
    const unreachable = config(
      'unreachable.toml',
      `[auth]\nauthorization_servers = ["${REFUSED_ORIGIN}"]\naudience = "${probe.url}"\n`,
    )
    const down = await runCli(['run', '-c', unreachable])
    assert.notEqual(down.code, 0)
    assert.match(down.stderr, /^portico: \[auth\] authorization server metadata .* not found/m)
    // An operator's problem, said in one line: no "unexpected error", no stack trace.
    assert.doesNotMatch(down.stderr, /unexpected error|\n\s+at /)
    assert.equal(down.code, 1)
    assert.doesNotMatch(down.stdout + down.stderr, /listening/)
    // A password in an issuer URL would be fetched without it, and logged: refused unread.
    const secret = config(
      'secret.toml',
      `[auth]\nissuer = "https://svc:S3cretPassw0rd@as.example.com/"\naudience = "a"\ntype = "oauth"\n`,
    )
    const leaked = await runCli(['run', '-c', secret])
    // A bad file, as `portico check` exits for it (2 is for a bad flag value).
    assert.equal(leaked.code, 1)
    assert.match(
      leaked.stderr,
      /auth\.issuer: a URL with credentials \(user:password@\) is refused/,
    )
    assert.doesNotMatch(leaked.stdout + leaked.stderr, /S3cretPassw0rd/)
  })

  it('run serves the key, refuses others, and logs show who called but never a token', async () => {
    const path = config(
      'run.toml',
      `[auth]\napi_keys = [{ name = "alice", key = "${ref('ALICE_KEY')}" }]\n`,
    )
    running = await startCli(['run', '-c', path], { ALICE_KEY: 'alice-secret-key', PORTICO_DB: db })
    const call = request(1, 'tools/call', { name: 'cwd', arguments: {} })
    assert.equal((await rpc(running.url, call, bearer('alice-secret-key'))).status, 200)
    assert.equal((await rpc(running.url, call, bearer('wrong'))).status, 401)
    const logs = await until(
      async () => {
        const result = await runCli(['logs', '--db', db, '--tail', '10'])
        return /alice/.test(result.stdout) && /unauthorized/.test(result.stdout)
          ? result
          : undefined
      },
      10_000,
      'portico logs to show the call and the refusal',
    )
    assert.match(logs.stdout, /USER/)
    assert.match(logs.stdout, /alice\s+tools\/call\s+cwd/)
    const mine = await runCli(['logs', '--db', db, '--user', 'alice', '--json'])
    assert.ok(
      mine.stdout
        .trim()
        .split('\n')
        .every((line) => JSON.parse(line).subject === 'alice'),
    )
    await running.stop()
    const stored = readFileSync(db).toString('latin1')
    for (const text of [logs.stdout, mine.stdout, running.output(), stored]) {
      assert.ok(!text.includes('alice-secret-key'), 'the key is never printed or stored')
    }
  })
})
