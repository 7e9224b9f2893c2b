import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { loadConfigText } from '../../src/config/load.ts'
import { parseConfig } from '../../src/config/schema.ts'
import { reload, reloadRefusal } from '../../src/gateway/reload.ts'
import { Logger } from '../../src/observe/logger.ts'
import { stubReloadTarget } from '../helpers/reload-target.ts'

describe('hot reload and shared state', () => {
  it('applies the backends and says a changed [shared] waits for a restart', async () => {
    const backends = [{ name: 'a', transport: 'http' as const, url: 'http://127.0.0.1:1/mcp' }]
    const running = parseConfig({ backends })
    const next = parseConfig({
      backends: [
        ...backends,
        { name: 'b', transport: 'http' as const, url: 'http://127.0.0.1:2/mcp' },
      ],
      shared: { redis: 'redis://127.0.0.1:1' },
    })
    const lines: string[] = []
    let applied: unknown
    const gateway = {
      config: running,
      fileConfig: running,
      apply: async (config: unknown) => {
        applied = config
        return { added: ['b'], removed: [], changed: [] }
      },
      started: async () => undefined,
      announceListChanges: () => undefined,
      addedClash: () => undefined,
    }
    await reload(
      gateway as never,
      { file: 'portico.toml', load: () => next },
      new Logger({ write: (line) => lines.push(line) }),
    )
    assert.equal(applied, next)
    assert.match(
      lines.join(''),
      /\[shared\] changed; the running shared state stays until Portico restarts/,
    )
    assert.match(lines.join(''), /config reloaded/)
  })
})

describe('hot reload of a file that names no backend any more', () => {
  it('says so, before comparing keys, and applies nothing (a loader that lets such a file through)', async () => {
    const running = parseConfig({
      port: 4000,
      backends: [{ name: 'a', transport: 'http' as const, url: 'http://127.0.0.1:1/mcp' }],
    })
    const lines: string[] = []
    const { target: gateway, state } = stubReloadTarget(running, { removed: ['a'] })
    const outcome = await reload(
      gateway as never,
      { file: 'portico.toml', load: () => parseConfig({}) },
      new Logger({ write: (line) => lines.push(line) }),
    )
    assert.equal(outcome, 'rejected')
    assert.equal(state.applied, undefined)
    assert.match(
      lines.join(''),
      /config reload rejected; the running config stays in force .*portico\.toml: no upstream: set `upstream`/,
    )
    assert.doesNotMatch(lines.join(''), /cannot change/)
  })
})

describe('what a reload can apply', () => {
  it('names the keys only a restart applies; settings the gateway reads per use pass', () => {
    const backends = [{ name: 'a', transport: 'http' as const, url: 'http://127.0.0.1:1/mcp' }]
    const running = parseConfig({ backends })
    const refusal = (next: Record<string, unknown>) =>
      reloadRefusal(running, parseConfig({ backends, ...next }))
    assert.equal(
      refusal({ csp: { domain: 'a.example' }, proxy: { rate_limit: { requests: 1 } } }),
      'proxy.rate_limit, csp, public_url cannot change while Portico runs',
    )
    assert.equal(refusal({ port: 4000 }), 'port cannot change while Portico runs')
    assert.equal(refusal({ proxy: { instructions: 'x', list_timeout: 3 } }), undefined)
    assert.equal(refusal({ timeout: { seconds: 5 }, request_timeout: 9 }), undefined)
    assert.equal(refusal({ shared: { redis: 'redis://127.0.0.1:1' } }), undefined)
  })

  it("takes mcp-proxy's keys rewritten as Portico's own, with the same values, as no change", () => {
    const backend = '[[backends]]\nname = "a"\ntransport = "http"\nurl = "http://127.0.0.1:1/mcp"\n'
    const mcpProxy = `[proxy]\nname = "p"\nshutdown_timeout_seconds = 30\n[proxy.listen]\nhost = "127.0.0.1"\nport = 8080\n[observability]\nlog_level = "debug"\njson_logs = true\n${backend}`
    const own = (port: number) =>
      `host = "127.0.0.1"\nport = ${port}\ndrain_timeout = "30s"\nlog_level = "debug"\njson_logs = true\n[proxy]\nname = "p"\n${backend}`
    const running = loadConfigText(mcpProxy, { label: 'proxy.toml' }).config
    // The whole edit was refused: "proxy.listen, proxy.shutdown_timeout_seconds, observability".
    assert.equal(reloadRefusal(running, loadConfigText(own(8080)).config), undefined)
    assert.equal(
      reloadRefusal(running, loadConfigText(own(9090)).config),
      'port cannot change while Portico runs',
    )
  })

  it('takes a rate limit that spells its default burst for the same limit', () => {
    const backends = [{ name: 'a', transport: 'http' as const, url: 'http://127.0.0.1:1/mcp' }]
    const limit = {
      requests: 5,
      per_client: { requests: 2 },
      per_tool: [{ tool: 't', requests: 3 }],
    }
    const running = parseConfig({ backends, proxy: { rate_limit: limit } })
    const spelled = parseConfig({
      backends,
      proxy: {
        rate_limit: {
          requests: 5,
          burst: 5,
          per_client: { requests: 2, burst: 2 },
          per_tool: [{ tool: 't', requests: 3, burst: 3 }],
        },
      },
    })
    assert.equal(reloadRefusal(running, spelled), undefined)
    const larger = parseConfig({ backends, proxy: { rate_limit: { ...limit, burst: 6 } } })
    assert.equal(
      reloadRefusal(running, larger),
      'proxy.rate_limit cannot change while Portico runs',
    )
  })
})

describe('hot reload and the security policy', () => {
  it('refuses a new separator when [auth] is set (the policy names tools with it)', () => {
    const backends = [{ name: 'a', transport: 'http' as const, url: 'http://127.0.0.1:1/mcp' }]
    const auth = { api_keys: [{ name: 'k', key: 'key-for-the-reload-test', admin: true }] }
    const running = parseConfig({ backends, auth })
    const moved = parseConfig({ backends, auth, proxy: { separator: '_' } })
    assert.equal(reloadRefusal(running, moved), '[auth] or [security] changed')
    // Without [auth] nothing is written against it: applied.
    assert.equal(
      reloadRefusal(
        parseConfig({ backends }),
        parseConfig({ backends, proxy: { separator: '_' } }),
      ),
      undefined,
    )
  })
})
