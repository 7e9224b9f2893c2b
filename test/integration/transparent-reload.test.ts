/**
 * Hot reload in transparent mode, the way operators use it: `portico run --config` in front of
 * a real MCP server (server-everything over Streamable HTTP), the file edited, then SIGHUP (or
 * nothing, with `hot_reload = true`). New calls get the new per-upstream chain at once; a call
 * in flight and the client's session carry on; a broken file, a changed upstream or a changed
 * key only a restart applies is refused whole, and the running config stays in force.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import {
  closeSync,
  constants,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { loadConfig } from '../../src/config/load.ts'
import { createPortico } from '../../src/index.ts'
import { Logger } from '../../src/observe/logger.ts'
import { PAYMENT_URI, type RunningApp, startCspApp } from '../fixtures/csp-app.ts'
import { startCli } from '../helpers/cli.ts'
import { type Spawned, startEverything } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

const dir = scratchDir('portico-transparent-reload-')
/** One call a reload's new chain lets through, then refuses: a change nobody could miss. */
const ONE_CALL_AN_HOUR = '[rate_limit]\nrequests = 1\nperiod_seconds = 3600\n'

/** Waits for a line matching `pattern` that was not in stderr before this wait started. */
async function logged(portico: Spawned, pattern: RegExp, what: string): Promise<void> {
  const seen = portico.stderr().length
  await until(() => pattern.test(portico.stderr().slice(seen)) || undefined, 10_000, what)
}

/** Writes `text` over `file`, sends SIGHUP, and waits for the line the reload logs. */
async function editAndHangUp(
  portico: Spawned,
  file: string,
  text: string,
  pattern: RegExp,
  what: string,
): Promise<void> {
  writeFileSync(file, text)
  const seen = logged(portico, pattern, what)
  process.kill(portico.child.pid as number, 'SIGHUP')
  await seen
}

describe('hot reload in transparent mode', () => {
  let everything: Spawned & { url: string }
  before(async () => {
    everything = await startEverything('streamableHttp')
  })
  after(async () => {
    await everything?.stop()
  })

  const head = (upstream: string, extra = '') =>
    `upstream = "${upstream}"\nport = 0\n${extra}[store]\nenabled = false\n`
  const WATCHED = '[proxy]\nhot_reload = true\n'
  const limit = (requests: number) =>
    `[rate_limit]\nrequests = ${requests}\nperiod_seconds = 3600\n`

  async function connect(url: string, name: string): Promise<Client> {
    const client = new Client({ name, version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(url)))
    return client
  }
  const echo = (client: Client, message: string) =>
    client.callTool({ name: 'echo', arguments: { message } })

  it('SIGHUP applies a new [rate_limit] to the next call; a call in flight and the open session carry on', async () => {
    const file = join(dir, 'hangup.toml')
    writeFileSync(file, head(everything.url))
    const portico = await startCli(['run', '--config', file])
    const client = await connect(portico.url, 'reload-hangup')
    try {
      for (let i = 0; i < 3; i++) await echo(client, `before ${i}`) // no limit in force
      // A call the upstream is still working on when the reload lands (its first progress
      // notification says it arrived there).
      let progressed: () => void = () => {}
      const started = new Promise<void>((resolve) => {
        progressed = resolve
      })
      const long = client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 6, steps: 6 } },
        undefined,
        { onprogress: () => progressed() },
      )
      await started
      writeFileSync(file, head(everything.url) + ONE_CALL_AN_HOUR)
      const reloaded = logged(
        portico,
        /config reloaded .*settings=\["rate_limit"\]/,
        'the reload applied',
      )
      process.kill(portico.child.pid as number, 'SIGHUP')
      await reloaded
      // The session opened before the reload serves the first call the new limit allows...
      const first = await echo(client, 'after')
      assert.deepEqual(first.content, [{ type: 'text', text: 'Echo: after' }])
      // ...and the limit refuses the next one, which the old config let through.
      await assert.rejects(echo(client, 'refused'), /429|rate/i)
      const result = await long
      assert.match(JSON.stringify(result.content), /Long running operation completed/)
      assert.equal(portico.child.exitCode, null, 'still running')
    } finally {
      await client.close()
      await portico.stop()
    }
  })

  it('SIGHUP with the file already in force says so, each time, and changes nothing', async () => {
    const file = join(dir, 'unchanged.toml')
    writeFileSync(file, head(everything.url))
    const portico = await startCli(['run', '--config', file])
    const client = await connect(portico.url, 'reload-unchanged')
    try {
      for (const what of ['the first', 'the second']) {
        await editAndHangUp(
          portico,
          file,
          head(everything.url),
          /config reload accepted; nothing to change/,
          `${what} unchanged reload acknowledged`,
        )
      }
      assert.doesNotMatch(portico.stderr(), /config reloaded|rejected/)
      await echo(client, 'still served')
    } finally {
      await client.close()
      await portico.stop()
    }
  })

  it('a broken file, a new upstream or a key only a restart applies is refused whole; the running config stays', async () => {
    const file = join(dir, 'refused.toml')
    writeFileSync(file, head(everything.url))
    const portico = await startCli(['run', '--config', file])
    const client = await connect(portico.url, 'reload-refused')
    const hangUp = (text: string, pattern: RegExp, what: string) =>
      editAndHangUp(portico, file, text, pattern, what)
    try {
      await hangUp(
        `${head(everything.url)}${ONE_CALL_AN_HOUR}[rate_limit\n`,
        /config reload rejected; the running config stays in force/,
        'the broken file rejected',
      )
      await hangUp(
        head(everything.url.replace('127.0.0.1', 'localhost'), ONE_CALL_AN_HOUR),
        /config reload rejected: upstream cannot change while Portico runs; restart Portico to apply/,
        'the new upstream refused',
      )
      await hangUp(
        `${head(everything.url)}${ONE_CALL_AN_HOUR}[proxy]\nrate_limit = { requests = 1 }\n`,
        /config reload rejected: proxy.rate_limit cannot change while Portico runs; restart Portico to apply/,
        'the global rate limit refused',
      )
      await hangUp(
        `${head(everything.url)}${ONE_CALL_AN_HOUR}[auth]\ntokens = ["a-token-for-the-reload-test"]\n`,
        /config reload rejected: \[auth\] or \[security\] changed; restart Portico to apply/,
        'the new [auth] refused',
      )
      // None of the four applied its [rate_limit]; the session works as before.
      for (let i = 0; i < 3; i++) await echo(client, `still ${i}`)
      assert.equal(portico.child.exitCode, null, 'still running')
    } finally {
      await client.close()
      await portico.stop()
    }
  })

  it('a reload keeps the state of the policies it does not change: a spent [rate_limit] stays spent across a [timeout] edit, and starts afresh when its own table changes', async () => {
    const file = join(dir, 'kept.toml')
    // Two requests an hour: the client's initialize and one call.
    writeFileSync(file, head(everything.url, limit(2)))
    const portico = await startCli(['run', '--config', file])
    const client = await connect(portico.url, 'reload-kept')
    const hangUp = (text: string, pattern: RegExp, what: string) =>
      editAndHangUp(portico, file, text, pattern, what)
    try {
      await echo(client, 'the one call of the hour')
      await assert.rejects(echo(client, 'refused'), /429|rate/i)
      // Another table changes: the chain is rebuilt, the hour's budget is still spent.
      const timeout = '[timeout]\nseconds = 30\n'
      await hangUp(
        head(everything.url, limit(2) + timeout),
        /config reloaded .*settings=\["timeout"\]/,
        'the [timeout] edit applied',
      )
      await assert.rejects(echo(client, 'still refused'), /429|rate/i)
      // The limit's own table changes: a new budget, of three calls.
      await hangUp(
        head(everything.url, limit(3) + timeout),
        /config reloaded .*settings=\["rate_limit"\]/,
        'the [rate_limit] edit applied',
      )
      await echo(client, 'first of the new budget')
      await echo(client, 'second of the new budget')
      await echo(client, 'third of the new budget')
      await assert.rejects(echo(client, 'over the new budget'), /429|rate/i)
    } finally {
      await client.close()
      await portico.stop()
    }
  })

  /**
   * Runs Portico on `file` (hot_reload on, no limit in force), has `update` write one call an
   * hour where the layout under test keeps the file, and shows the watch alone applied it: the
   * reload's line, then the limit on the calls. `more` goes on with the same Portico.
   */
  /** Writes `text` to `folder`/portico.toml, making the folder if need be; returns the file. */
  function writeConfigIn(folder: string, text: string): string {
    mkdirSync(folder, { recursive: true })
    writeFileSync(join(folder, 'portico.toml'), text)
    return join(folder, 'portico.toml')
  }

  async function appliedByTheWatch(
    file: string,
    update: (text: string) => void,
    more?: (portico: Spawned, client: Client) => Promise<void>,
  ): Promise<void> {
    const portico = await startCli(['run', '--config', file])
    const client = await connect(portico.url, 'reload-layout')
    try {
      for (let i = 0; i < 3; i++) await echo(client, `before ${i}`)
      const reloaded = logged(
        portico,
        /config reloaded .*settings=\["rate_limit"\]/,
        'the update applied without a signal',
      )
      update(head(everything.url, ONE_CALL_AN_HOUR) + WATCHED)
      await reloaded
      await echo(client, 'after')
      await assert.rejects(echo(client, 'refused'), /429|rate/i)
      await more?.(portico, client)
    } finally {
      await client.close()
      await portico.stop()
    }
  }

  it('hot_reload = true applies an edited file without a signal', async () => {
    const file = join(dir, 'watched.toml')
    writeFileSync(file, head(everything.url) + WATCHED)
    await appliedByTheWatch(file, (text) => writeFileSync(file, text))
  })

  it('hot_reload refuses a config path replaced by a FIFO and serves on, never blocked on it', async () => {
    const file = join(dir, 'fifo-swap.toml')
    writeFileSync(file, head(everything.url) + WATCHED)
    const portico = await startCli(['run', '--config', file])
    const client = await connect(portico.url, 'reload-fifo')
    try {
      await echo(client, 'before')
      const refused = logged(portico, /config reload rejected[^\n]*not a regular file/, 'refusal')
      rmSync(file)
      execFileSync('mkfifo', [file])
      // Before: the watcher's read of the file blocked in open() until a writer came, and
      // the process (with workers, the primary that takes every connection) served nothing.
      await refused
      await echo(client, 'after')
    } finally {
      // Releases a reader still blocked on it (the code before the fix), so the test ends.
      try {
        closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK))
      } catch {}
      await client.close()
      await portico.stop()
    }
  })

  it('hot_reload follows a Kubernetes ConfigMap mount: the ..data link swapped to a new folder', async () => {
    // kubelet's layout: portico.toml -> ..data/portico.toml, ..data -> a timestamped folder.
    const mount = join(dir, 'configmap')
    writeConfigIn(join(mount, '..2026_01_01_00_00_00.1'), head(everything.url) + WATCHED)
    symlinkSync('..2026_01_01_00_00_00.1', join(mount, '..data'))
    symlinkSync('..data/portico.toml', join(mount, 'portico.toml'))
    await appliedByTheWatch(join(mount, 'portico.toml'), (text) => {
      // Its update: a new folder, a new link renamed over ..data, the old folder removed.
      writeConfigIn(join(mount, '..2026_01_01_00_01_00.2'), text)
      symlinkSync('..2026_01_01_00_01_00.2', join(mount, '..data_tmp'))
      renameSync(join(mount, '..data_tmp'), join(mount, '..data'))
      rmSync(join(mount, '..2026_01_01_00_00_00.1'), { recursive: true })
    })
  })

  it('hot_reload follows a config path that links to a file in another folder: the target edited', async () => {
    const target = writeConfigIn(join(dir, 'link-target'), head(everything.url) + WATCHED)
    mkdirSync(join(dir, 'link-folder'))
    const file = join(dir, 'link-folder', 'portico.toml')
    symlinkSync(target, file)
    await appliedByTheWatch(file, (text) => writeFileSync(target, text))
  })

  it('hot_reload follows a replaced config folder: the new folder is watched, the old one no more', async () => {
    const live = join(dir, 'replaced')
    const old = join(dir, 'replaced.old')
    const file = writeConfigIn(live, head(everything.url) + WATCHED)
    const replace = (text: string) => {
      renameSync(live, old)
      writeConfigIn(live, text)
    }
    await appliedByTheWatch(file, replace, async (portico, client) => {
      // An edit in the folder moved away is not the config: nothing reloads.
      const seen = portico.stderr().length
      writeFileSync(join(old, 'portico.toml'), head(everything.url, limit(5)) + WATCHED)
      await new Promise((resolve) => setTimeout(resolve, 1500))
      assert.doesNotMatch(portico.stderr().slice(seen), /config reload/)
      // An edit of the file in the new folder is: a new budget of three calls.
      const reloaded = logged(
        portico,
        /config reloaded .*settings=\["rate_limit"\]/,
        'the edit in the new folder applied',
      )
      writeFileSync(file, head(everything.url, limit(3)) + WATCHED)
      await reloaded
      await echo(client, 'first of the new budget')
    })
  })

  it('hot_reload follows a link swapped in a folder above the file (current -> releases/v2): the stat poll sees it', async () => {
    const releases = join(dir, 'releases')
    writeConfigIn(join(releases, 'v1'), head(everything.url) + WATCHED)
    symlinkSync(join(releases, 'v1'), join(dir, 'current'))
    await appliedByTheWatch(join(dir, 'current', 'portico.toml'), (text) => {
      // No watched folder sees this rename: the link is in the folder above the file's.
      writeConfigIn(join(releases, 'v2'), text)
      symlinkSync(join(releases, 'v2'), join(dir, 'current.next'))
      renameSync(join(dir, 'current.next'), join(dir, 'current'))
    })
  })

  it('hot_reload: an emptied file is refused as empty, a file without upstream as such, and the old config serves on', async () => {
    const file = join(dir, 'emptied.toml')
    writeFileSync(file, head(everything.url) + WATCHED)
    const portico = await startCli(['run', '--config', file])
    const client = await connect(portico.url, 'reload-emptied')
    const refused = async (text: string, pattern: RegExp, what: string) => {
      const seen = portico.stderr().length
      const logs = logged(portico, pattern, what)
      writeFileSync(file, text)
      await logs
      // Not the keys such a file leaves to their defaults (port, store, proxy.hot_reload…).
      assert.doesNotMatch(portico.stderr().slice(seen), /cannot change/)
    }
    try {
      // What `gen > portico.toml` leaves for a moment.
      await refused(
        '',
        /config reload rejected; the running config stays in force .*emptied\.toml: file is empty/,
        'the empty file refused as empty',
      )
      await refused(
        `port = 0\n[store]\nenabled = false\n${WATCHED}`,
        /config reload rejected; the running config stays in force .*no upstream: set `upstream` \(or `mcp`\) or list \[\[backends\]\]/,
        'the file without upstream refused as such',
      )
      for (let i = 0; i < 3; i++) await echo(client, `still ${i}`) // no limit: the old config
      const reloaded = logged(
        portico,
        /config reloaded .*settings=\["rate_limit"\]/,
        'the file written whole applied',
      )
      writeFileSync(file, head(everything.url, ONE_CALL_AN_HOUR) + WATCHED)
      await reloaded
      await echo(client, 'after')
      await assert.rejects(echo(client, 'refused'), /429|rate/i)
    } finally {
      await client.close()
      await portico.stop()
    }
  })

  it("PUT and validate judge a text with the command line's flags, as the reload loads it", async () => {
    const token = 'admin-token-for-the-flags-test-01234'
    const file = join(dir, 'flags.toml')
    // No upstream in the file: --upstream gives it.
    const text = (extra = '') =>
      `port = 0\n${extra}[proxy]\nhot_reload = true\n[admin]\nenabled = true\ntoken = "${token}"\n`
    writeFileSync(file, text())
    const flags = ['--upstream', everything.url, '--db', join(dir, 'flags.db')]
    const portico = await startCli(['run', '--config', file, ...flags])
    const admin = async (method: string, path: string, body: string) => {
      const response = await fetch(new URL(path, portico.url), {
        method,
        headers: { authorization: `Bearer ${token}` },
        body,
      })
      return `${response.status} ${((await response.json()) as { message: string }).message}`
    }
    try {
      // Before: validate said "no upstream" (400) of the file Portico runs with.
      assert.equal(
        await admin('POST', '/admin/config/validate', text('request_timeout = 45\n')),
        '200 Valid config (transparent mode)',
      )
      // Before: "Hot reload will not apply it (store cannot change while Portico runs)", the
      // text read without --db, while the reload (with it) applied the change.
      assert.equal(
        await admin('PUT', '/admin/config', text('request_timeout = 45\n')),
        '200 Config updated (transparent mode). Hot reload applies it.',
      )
      await logged(portico, /config reloaded .*settings=\["request_timeout"\]/, 'the reload')
    } finally {
      await portico.stop()
    }
  })

  it('PUT /admin/config says whether hot reload applies a file, and Portico.reloadConfig applies it', async () => {
    const token = 'admin-token-for-the-reload-test-0123'
    const file = join(dir, 'admin.toml')
    const text = (upstream: string, extra = '') =>
      `admin_bind = "127.0.0.1:0"\n${head(upstream, extra)}[proxy]\nhot_reload = true\n[admin]\ntoken = "${token}"\n`
    writeFileSync(file, text(everything.url))
    const load = () => loadConfig({ file, env: {} }).config
    const portico = createPortico(load(), {
      logger: new Logger({ level: 'silent' }),
      reload: { file, load },
    })
    const listening = await portico.listen()
    const client = await connect(listening.url, 'reload-admin')
    const put = async (body: string) => {
      const response = await fetch(`${listening.admin}/config`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}` },
        body,
      })
      return ((await response.json()) as { message: string }).message
    }
    try {
      assert.equal(
        await put(text(everything.url.replace('127.0.0.1', 'localhost'))),
        'Config updated (transparent mode). Hot reload will not apply it (upstream cannot change while Portico runs): restart Portico.',
      )
      assert.equal(
        await put(text(everything.url, `request_timeout = 45\n${ONE_CALL_AN_HOUR}`)),
        'Config updated (transparent mode). Hot reload applies it.',
      )
      // Applied on request too (what SIGHUP runs), whether or not the watch got there first.
      assert.ok(['applied', 'unchanged'].includes((await portico.reloadConfig()) ?? ''))
      await echo(client, 'after')
      await assert.rejects(echo(client, 'refused'), /429|rate/i)
      // The admin API shows the config in force: the reloaded request_timeout.
      const shown = await fetch(`${listening.admin}/config`, {
        headers: { authorization: `Bearer ${token}` },
      })
      assert.equal(
        ((await shown.json()) as { request_timeout_ms: number }).request_timeout_ms,
        45_000,
      )
    } finally {
      await client.close()
      await portico.close()
    }
  })
})

describe('hot reload in transparent mode, legacy HTTP+SSE', () => {
  let everything: Spawned & { url: string }
  before(async () => {
    everything = await startEverything('sse')
  })
  after(async () => {
    await everything?.stop()
  })

  it('an open legacy session keeps its stream across SIGHUP, and its calls get the new [rate_limit]', async () => {
    const file = join(dir, 'legacy.toml')
    const text = (extra = '') =>
      `upstream = "${everything.url}"\nport = 0\n${extra}[store]\nenabled = false\n`
    writeFileSync(file, text())
    const portico = await startCli(['run', '--config', file])
    const client = new Client({ name: 'reload-legacy', version: '1.0.0' })
    await client.connect(new SSEClientTransport(new URL('/sse', new URL(portico.url).origin)))
    const echo = (message: string) => client.callTool({ name: 'echo', arguments: { message } })
    try {
      for (let i = 0; i < 3; i++) await echo(`before ${i}`)
      writeFileSync(file, text(ONE_CALL_AN_HOUR))
      const reloaded = logged(portico, /config reloaded/, 'the reload applied')
      process.kill(portico.child.pid as number, 'SIGHUP')
      await reloaded
      // The same stream (the session opened before the reload) carries the next answer...
      assert.match(JSON.stringify((await echo('after')).content), /Echo: after/)
      // ...and the refusal of the one after it.
      await assert.rejects(echo('refused'), /rate|429|limit/i)
    } finally {
      await client.close()
      await portico.stop()
    }
  })

  it("an open legacy session's stream follows a reloaded max_response_body_size", async () => {
    const file = join(dir, 'legacy-bound.toml')
    const text = (bytes: number) =>
      `upstream = "${everything.url}"\nport = 0\nmax_response_body_size = ${bytes}\n[store]\nenabled = false\n`
    writeFileSync(file, text(1_048_576))
    const portico = await startCli(['run', '--config', file])
    const client = new Client({ name: 'reload-legacy-bound', version: '1.0.0' })
    await client.connect(new SSEClientTransport(new URL('/sse', new URL(portico.url).origin)))
    const echo = (message: string) => client.callTool({ name: 'echo', arguments: { message } })
    try {
      const big = 'x'.repeat(50_000)
      assert.match(JSON.stringify((await echo(big)).content), /Echo: x{100}/)
      await editAndHangUp(portico, file, text(10_000), /config reloaded/, 'the reload')
      // Before: the stream kept the bound read when it opened, and the 50 KB answer came.
      await assert.rejects(echo(big), /larger than|too large/i)
      assert.match(JSON.stringify((await echo('small')).content), /Echo: small/)
    } finally {
      await client.close()
      await portico.stop()
    }
  })
})

describe('hot reload of the widget CSP ([csp], as mcpr reloaded it)', () => {
  let app: RunningApp
  before(async () => {
    app = await startCspApp({ json: true })
  })
  after(async () => {
    await app?.close()
  })

  for (const mode of ['transparent', 'gateway'] as const) {
    it(`${mode}: SIGHUP applies a changed [csp] policy to the next answer; turning CSP off is refused`, async () => {
      const file = join(dir, `csp-${mode}.toml`)
      // `upstream` before any table; `[[backends]]` after the others.
      const upstream = mode === 'transparent' ? `upstream = "${app.url}"\n` : ''
      const backends =
        mode === 'gateway'
          ? `[[backends]]\nname = "app"\ntransport = "http"\nurl = "${app.url}"\n`
          : ''
      const text = (csp: string) =>
        `${upstream}port = 0\n${csp}[store]\nenabled = false\n${backends}`
      const connect = (domain: string) => `[csp.connectDomains]\ndomains = ["${domain}"]\n`
      writeFileSync(file, text(connect('https://one.example.com')))
      const portico = await startCli(['run', '--config', file])
      const client = new Client({ name: 'reload-csp', version: '1.0.0' })
      await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
      // The gateway names the widget under its backend: found by its own name in the list.
      const { resources } = await client.listResources()
      const uri = resources.find((r) => r.uri.endsWith('payment.html'))?.uri ?? PAYMENT_URI
      const connectDomains = async () => {
        const { contents } = await client.readResource({ uri })
        const meta = contents[0]?._meta as { ui?: { csp?: { connectDomains?: string[] } } }
        return meta.ui?.csp?.connectDomains ?? []
      }
      const hangUp = (body: string, pattern: RegExp, what: string) =>
        editAndHangUp(portico, file, body, pattern, what)
      try {
        assert.ok((await connectDomains()).includes('https://one.example.com'))
        await hangUp(
          text(connect('https://two.example.com')),
          /config reloaded .*settings=\["csp"\]/,
          'the new policy applied',
        )
        const now = await connectDomains()
        assert.ok(now.includes('https://two.example.com'), 'the new domain')
        assert.ok(!now.includes('https://one.example.com'), 'the old one gone')
        await hangUp(
          text(''),
          /config reload rejected: csp cannot change while Portico runs; restart Portico to apply/,
          'CSP off refused',
        )
        assert.ok((await connectDomains()).includes('https://two.example.com'), 'still in force')
      } finally {
        await client.close()
        await portico.stop()
      }
    })
  }
})

describe('hot reload of request_timeout', () => {
  it('applies to forwarded non-MCP traffic too, not only to MCP calls', async () => {
    // An upstream whose /slow page sends its headers after 1.5 s.
    const upstream = createServer((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('slow page'), 1500)
      else res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    const origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
    const file = join(dir, 'timeout.toml')
    const text = (seconds: number) =>
      `upstream = "${origin}/mcp"\nport = 0\nrequest_timeout = ${seconds}\n[store]\nenabled = false\n`
    writeFileSync(file, text(1))
    const load = () => loadConfig({ file, env: {} }).config
    const portico = createPortico(load(), {
      logger: new Logger({ level: 'silent' }),
      reload: { file, load },
    })
    const listening = await portico.listen()
    const page = () => fetch(`${new URL(listening.url).origin}/slow`)
    try {
      assert.equal((await page()).status, 504, 'past the 1 s deadline')
      writeFileSync(file, text(5))
      assert.equal(await portico.reloadConfig(), 'applied')
      const answer = await page()
      assert.equal(answer.status, 200, 'within the reloaded 5 s')
      assert.equal(await answer.text(), 'slow page')
    } finally {
      await portico.close()
      await new Promise((resolve) => upstream.close(resolve))
    }
  })
})

describe('hot reload of max_response_body_size', () => {
  it('applies to the GET stream too, not only to POST answers', async () => {
    // An upstream that resumes a stream with one 1.5 MB answer (to request 7), then ends.
    const answer = {
      jsonrpc: '2.0',
      id: 7,
      result: { contents: [{ uri: 'ui://w/a.html', text: 'x'.repeat(1_500_000) }] },
    }
    const upstream = createServer((req, res) => {
      if (req.method !== 'GET') return void res.writeHead(405).end()
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.end(`id: 2\ndata: ${JSON.stringify(answer)}\n\n`)
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    const origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
    const file = join(dir, 'body-size.toml')
    const text = (bytes: number) =>
      `upstream = "${origin}/mcp"\nport = 0\npublic_url = "https://mcp.example.com"\nmax_response_body_size = ${bytes}\n[store]\nenabled = false\n`
    writeFileSync(file, text(1_048_576))
    const load = () => loadConfig({ file, env: {} }).config
    const portico = createPortico(load(), {
      logger: new Logger({ level: 'silent' }),
      reload: { file, load },
    })
    const listening = await portico.listen()
    const resumed = async () => {
      const response = await fetch(listening.url, {
        headers: {
          accept: 'text/event-stream',
          'last-event-id': '1',
          'mcp-session-id': 's1',
          'mcp-protocol-version': '2025-11-25',
        },
      })
      return (await response.text()).includes('"id":7')
    }
    try {
      assert.equal(await resumed(), false, 'over the 1 MiB bound: not relayed')
      writeFileSync(file, text(8_388_608))
      assert.equal(await portico.reloadConfig(), 'applied')
      // Before: the bound read at start stayed, and the answer was still cut.
      assert.equal(await resumed(), true, 'within the reloaded 8 MiB')
    } finally {
      await portico.close()
      await new Promise((resolve) => upstream.close(resolve))
    }
  })
})
