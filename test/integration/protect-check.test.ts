/**
 * `portico check` and mcp-proxy's own examples: the per-backend middleware and mirroring
 * examples of its README load as written, and every resilience table of its full example
 * (with the secrets it references set) is accepted; the problems left there are other issues'
 * tables, not these. A bad resilience value is reported with its file, line and key path.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runCliSync } from '../helpers/cli.ts'
import { scratchDir } from '../helpers/scratch.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const SEEDS = join(ROOT, 'test', 'fixtures', 'seeds')
const RESILIENCE =
  /timeout|concurrency|rate_limit|circuit_breaker|retry|hedging|outlier_detection|cache|performance|mirror|failover|canary/

describe('portico check with mcp-proxy’s examples', () => {
  it('accepts the README’s per-backend middleware and mirroring examples as written', () => {
    const out = runCliSync(['check', '-c', join(SEEDS, 'mcp-proxy-readme-middleware.toml')], {
      GITHUB_TOKEN: 'set',
    })
    assert.equal(out.status, 0, out.stderr)
    assert.match(out.stdout, /is valid/)
  })

  it('accepts every resilience table of config.example.toml (the rest: dropin-config.test.ts)', () => {
    const out = runCliSync(['check', '-c', join(SEEDS, 'mcp-proxy-config-example.toml')], {
      GITHUB_TOKEN: 'set',
    })
    const problems = out.stderr.split('\n').filter((line) => /\.toml(:\d+)?: /.test(line))
    assert.deepEqual(problems, [])
    assert.equal(out.status, 0, out.stderr)
    assert.doesNotMatch(out.stderr, RESILIENCE)
  })

  it('names a bad resilience value by file, line and key', () => {
    const dir = scratchDir('portico-protect-check-')
    const file = join(dir, 'bad.toml')
    const text = readFileSync(join(SEEDS, 'mcp-proxy-readme-middleware.toml'), 'utf8')
      .replace('failure_rate_threshold = 0.5', 'failure_rate_threshold = 1.5')
      .replace('mirror_of = "api"', 'mirror_of = "apy"')
      .replace('max_backoff_ms = 5000', 'max_backoff_ms = 5')
    writeFileSync(file, text)
    const out = runCliSync(['check', '-c', file], { GITHUB_TOKEN: 'set' })
    assert.equal(out.status, 1)
    const lines = text.split('\n')
    const lineOf = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1
    assert.match(
      out.stderr,
      new RegExp(
        `bad\\.toml:${lineOf('failure_rate_threshold')}: backends\\[0\\]\\.circuit_breaker\\.failure_rate_threshold: expected a rate in \\(0, 1\\]`,
      ),
    )
    assert.match(
      out.stderr,
      new RegExp(
        `bad\\.toml:${lineOf('max_backoff_ms')}: backends\\[0\\]\\.retry\\.max_backoff_ms: must be at least initial_backoff_ms`,
      ),
    )
    assert.match(out.stderr, /backends\[2\]\.mirror_of: no backend is named "apy"/)
  })
})
