/** `workers`: its values, its flag and variable, and every combination refused with it. */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ConfigError, loadConfig } from '../../src/config/load.ts'
import { scratchDir } from '../helpers/scratch.ts'

function file(text: string): string {
  const path = join(scratchDir('portico-workers-config-'), 'portico.toml')
  writeFileSync(path, text)
  return path
}

function problemsOf(text: string): Array<{ path: string; message: string; line?: number }> {
  try {
    loadConfig({ file: file(text), env: {} })
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}

const UPSTREAM = 'upstream = "http://127.0.0.1:9000/mcp"\n'

describe('workers', () => {
  it('is 1 by default, a count, or "auto" (one per core)', () => {
    const workers = (text: string) => loadConfig({ file: file(text), env: {} }).config.workers
    assert.equal(workers(UPSTREAM), 1)
    assert.equal(workers(`${UPSTREAM}workers = 3\n`), 3)
    assert.equal(workers(`${UPSTREAM}workers = "auto"\n`), availableParallelism())
  })

  it('takes --workers over PORTICO_WORKERS over the file', () => {
    const path = file(`${UPSTREAM}workers = 3\n`)
    const load = (env: NodeJS.ProcessEnv, workers?: number | 'auto') =>
      loadConfig({ file: path, env, overrides: workers === undefined ? {} : { workers } }).config
        .workers
    assert.equal(load({ PORTICO_WORKERS: '2' }), 2)
    assert.equal(load({ PORTICO_WORKERS: 'auto' }), availableParallelism())
    assert.equal(load({ PORTICO_WORKERS: '2' }, 4), 4)
  })

  it('refuses 0, fractions and words, at the key line', () => {
    for (const value of ['0', '1.5', '"many"']) {
      const [problem] = problemsOf(`${UPSTREAM}workers = ${value}\n`)
      assert.equal(problem?.path, 'workers', value)
      assert.equal(problem?.line, 2, value)
      assert.match(problem?.message ?? '', /whole number from 1 to 256, or "auto"/)
    }
  })

  it('refuses what keeps session state in one process, naming why', () => {
    const refused = (text: string, why: RegExp) => {
      const found = problemsOf(`workers = 2\n${text}`).filter((p) => p.path === 'workers')
      assert.equal(found.length, 1, text)
      assert.equal(found[0]?.line, 1)
      assert.match(found[0]?.message ?? '', why)
    }
    refused(
      '[[backends]]\nname = "a"\ntransport = "http"\nurl = "http://127.0.0.1:1/mcp"\n',
      /must be 1 in gateway mode/,
    )
    refused(
      `${UPSTREAM}[tunnel]\nenabled = true\nrelay_url = "https://relay.example"\ntoken = "t"\n`,
      /must be 1 with \[tunnel\] enabled/,
    )
    refused(
      `${UPSTREAM}[auth]\ntype = "api_key"\n[[auth.api_keys]]\nname = "k"\nkey = "secret-key-123456"\n`,
      /must be 1 with \[auth\]/,
    )
    refused('upstream = "http://127.0.0.1:9000/sse"\n', /legacy HTTP\+SSE upstream \(\/sse\)/)
  })

  it('accepts all of them with one worker', () => {
    assert.deepEqual(problemsOf('workers = 1\nupstream = "http://127.0.0.1:9000/sse"\n'), [])
  })
})
