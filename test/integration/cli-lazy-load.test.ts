/**
 * What a `portico` run loads: every command is declared on each run, so `--version`, `--help`
 * and `version` load commander and the declarations alone, a report the store and its queries
 * but never the config schema (with `--db`) nor the proxy, and `pins` the config but not the
 * proxy (src/cli/main.ts says why: start-up time and memory). Each case runs the built CLI
 * with a preload that records the modules the process loaded; no timing is measured.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { openStore } from '../../src/store/open.ts'
import { CLI, cliEnv } from '../helpers/cli.ts'
import { spawnReady } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

const RECORDER = new URL('../fixtures/record-modules.js', import.meta.url).href
/** The compiled src/ folder the CLI runs from (dist/src/). */
const SRC = fileURLToPath(new URL('../../src/', import.meta.url))

const NODE_MODULES = `${sep}node_modules${sep}`

const dir = scratchDir('portico-lazy-load-')
after(() => rmSync(dir, { recursive: true, force: true }))

interface Loaded {
  /** The npm packages loaded, by name. */
  packages: Set<string>
  /** Portico's own modules loaded, relative to src/, with `/` (`cli/main.js`, `store/open.js`). */
  own: string[]
}

let runs = 0

/** Runs `portico <args>` (it must succeed) and says what it loaded. */
function loadedBy(args: string[]): Loaded {
  const log = join(dir, `modules-${++runs}.log`)
  writeFileSync(log, '')
  const result = spawnSync(process.execPath, ['--import', RECORDER, CLI, ...args], {
    env: cliEnv({ PORTICO_TEST_MODULE_LOG: log }),
    encoding: 'utf8',
    timeout: 20_000,
  })
  assert.equal(result.status, 0, `portico ${args.join(' ')}: ${result.stderr}`)
  const paths = readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('file:') || line.startsWith('/'))
    .map((line) => (line.startsWith('file:') ? fileURLToPath(line) : line))
  const packages = new Set<string>()
  for (const path of paths) {
    const at = path.lastIndexOf(NODE_MODULES)
    if (at < 0) continue
    const [scope = '', name] = path.slice(at + NODE_MODULES.length).split(sep)
    packages.add(scope.startsWith('@') ? `${scope}/${name}` : scope)
  }
  const own = paths
    .filter((path) => path.startsWith(SRC))
    .map((path) => relative(SRC, path).split(sep).join('/'))
  // The recording itself works: the CLI's own entry module was seen.
  assert.ok(own.includes('cli/main.js'), `no module recorded for ${args.join(' ')}`)
  return { packages, own }
}

/** Portico's modules of these folders (`gateway/`) or files (`portico.js`) among those loaded. */
function within(loaded: Loaded, ...prefixes: string[]): string[] {
  return loaded.own.filter((path) => prefixes.some((prefix) => path.startsWith(prefix)))
}

/** The proxy's own parts, which only `run` and `demo` build (and `check` partly reads). */
const PROXY = ['portico.js', 'gateway/', 'transparent/', 'upstream/', 'dashboard/']

/**
 * What declaring the commands takes: main.ts, commands/ and the parsers of their flags, the V8
 * settings main.ts applies before a command runs (start-memory, pretenuring), what holds a
 * SIGHUP from the first moment of `run` (hangup), what a broken output pipe does (pipes) and
 * what refuses an option given twice (only-once): none imports anything of its own.
 */
const DECLARATIONS =
  /^(cli\/(main|errors|store-options|start-memory|pretenuring|hangup|pipes|only-once|commands\/[\w-]+)|version|config\/duration)\.js$/

describe('what a portico command loads', () => {
  for (const args of [
    ['--version'],
    ['version'],
    ['--help'],
    ['logs', '--help'],
    ['proxy', 'status', '--help'],
    ['store', 'prune', '--help'],
  ]) {
    it(`portico ${args.join(' ')}: commander and the command declarations only`, () => {
      const loaded = loadedBy(args)
      assert.deepEqual([...loaded.packages], ['commander'])
      const others = loaded.own.filter((path) => !DECLARATIONS.test(path))
      assert.deepEqual(others, [], 'modules beyond the declarations')
    })
  }

  describe('a report', () => {
    const store = join(dir, 'store.db')
    before(() => openStore(store, { create: true }).close())

    for (const report of ['status', 'logs', 'sessions', 'schema']) {
      it(`portico ${report} --db: the store and its queries, not the config schema nor the proxy`, () => {
        const loaded = loadedBy([report, '--db', store, '--json'])
        assert.ok(loaded.packages.has('better-sqlite3'), 'the store was not opened')
        for (const name of ['zod', 'undici', 'smol-toml', 'jsonc-parser', 'lru-cache'])
          assert.ok(!loaded.packages.has(name), `${name} loaded`)
        assert.deepEqual(within(loaded, ...PROXY, 'auth/', 'config/load.js'), [])
      })
    }
  })

  it('portico run in transparent mode: the proxy, not gateway mode (2 MB of memory at rest)', async () => {
    const log = join(dir, `modules-${++runs}.log`)
    writeFileSync(log, '')
    const config = join(dir, 'transparent.toml')
    writeFileSync(
      config,
      'upstream = "http://127.0.0.1:9/mcp"\nport = 0\n[store]\nenabled = false\n',
    )
    const running = await spawnReady(
      process.execPath,
      ['--import', RECORDER, CLI, 'run', '-c', config],
      { env: cliEnv({ PORTICO_TEST_MODULE_LOG: log }), ready: /Portico listening on/ },
    )
    await running.stop()
    const own = readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('file:'))
      .map((line) => relative(SRC, fileURLToPath(line)).split(sep).join('/'))
    assert.ok(own.includes('transparent/mode.js'), 'the proxy was not built')
    const gateway = own.filter((path) => /^gateway\/(mode|gateway|dispatch|admin)\.js$/.test(path))
    assert.deepEqual(gateway, [], 'gateway mode loaded')
  })

  it('portico pins: the config, not the proxy', () => {
    const config = join(dir, 'pins.toml')
    writeFileSync(
      config,
      `upstream = "http://127.0.0.1:9/mcp"\n[security]\npin_tools = true\npin_file = "${join(dir, 'pins.json')}"\n`,
    )
    const loaded = loadedBy(['pins', '-c', config])
    assert.ok(loaded.packages.has('zod'), 'the config was not loaded')
    assert.ok(!loaded.packages.has('undici'), 'undici loaded')
    assert.deepEqual(within(loaded, ...PROXY), [])
  })
})
