import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { ConfigError, loadConfig } from '../../src/config/load.ts'

const dir = mkdtempSync(join(tmpdir(), 'portico-csp-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function load(text: string) {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.toml`)
  writeFileSync(file, text)
  return loadConfig({ file, env: {} })
}

function problems(text: string) {
  try {
    load(text)
  } catch (error) {
    assert.ok(error instanceof ConfigError)
    return error.problems.map((p) => `${p.line}: ${p.path}: ${p.message}`)
  }
  assert.fail('expected the config to be rejected')
}

describe('[csp] config', () => {
  it('accepts the mcpr README shape plus every directive and widget field', () => {
    const { config } = load(`
mcp = "http://localhost:9000/mcp"
public_url = "https://mcp.example.com"

[csp]
widgetDomain = "https://app.example.com"

[csp.connectDomains]
domains = ["api.example.com"]
mode = "extend"

[csp.resourceDomains]
domains = ["cdn.example.com"]
mode = "Extend"

[csp.frameDomains]
domains = []
mode = "replace"

[csp.baseUriDomains]
domains = ["https://cdn.example.com"]

[csp.redirectDomains]
domains = ["https://checkout.example.com"]
mode = "override"

[[csp.widget]]
match = "ui://widget/payment*"
connectDomains = ["api.stripe.com"]
connectDomainsMode = "extend"
frameDomains = ["https://js.stripe.com"]
redirectDomainsMode = "replace"
`)
    assert.equal(config.csp?.resourceDomains?.mode, 'extend')
    assert.equal(config.csp?.redirectDomains?.mode, 'replace')
    assert.equal(config.csp?.baseUriDomains?.mode, undefined)
    assert.deepEqual(config.csp?.widget[0]?.frameDomains, ['https://js.stripe.com'])
    assert.equal(config.csp?.widget[0]?.redirectDomainsMode, 'replace')
  })

  it('reports every problem with its line and key path', () => {
    const found = problems(`mcp = "http://localhost:9000/mcp"
[csp]
domian = "x"
[csp.connectDomains]
domains = ["api.example.com", "bad domain"]
mode = "merge"
[[csp.widget]]
connectDomains = ["https://a.example.com"]
[[csp.widget]]
match = "ui://*"
frameDomainsMode = "sometimes"
`)
    assert.deepEqual(found, [
      '3: csp.domian: unknown key "domian" (did you mean "domain"?)',
      '5: csp.connectDomains.domains[1]: a domain is printable ASCII without spaces, ";", "," or quotes (an internationalized one in its xn-- form)',
      '6: csp.connectDomains.mode: expected "extend" or "replace"',
      '7: csp.widget[0].match: expected a glob such as "ui://widget/*"',
      '11: csp.widget[1].frameDomainsMode: expected "extend" or "replace"',
    ])
  })

  it('accepts mcpr csp.domain and rejects an unparsable one', () => {
    assert.equal(load('[csp]\ndomain = "mcp.example.com"\n').config.csp?.domain, 'mcp.example.com')
    // mcpr's domain is its public URL; public_url beside it names the same host, or is refused
    // (before: public_url won, and widget metadata named one host here and the other there).
    assert.equal(
      load('[csp]\ndomain = "mcp.example.com"\n').config.public_url,
      'https://mcp.example.com',
    )
    const same = 'public_url = "https://mcp.example.com/"\n[csp]\ndomain = "mcp.example.com"\n'
    assert.equal(load(same).config.public_url, 'https://mcp.example.com/')
    const both = 'public_url = "https://gw.example.org/"\n[csp]\ndomain = "mcp.example.com"\n'
    assert.deepEqual(problems(both), [
      '3: csp.domain: [csp] domain (mcp.example.com) and public_url (gw.example.org) both name where clients reach Portico and disagree: keep one',
    ])
    assert.deepEqual(problems('[csp]\ndomain = "bad host/%%"\n'), [
      '2: csp.domain: expected a host such as "mcp.example.com"',
    ])
    // It stands for public_url's origin: a path would be dropped without a word.
    for (const domain of [
      'x.example.com/tools',
      'https://x.example.com/tools',
      'x.example.com?a=1',
    ]) {
      assert.match(
        problems(`[csp]\ndomain = "${domain}"\n`).join('\n'),
        /2: csp\.domain: a domain names a host or an origin .*without a path, query or credentials/,
        domain,
      )
    }
    assert.equal(
      load('[csp]\ndomain = "https://x.example.com:8443/"\n').config.public_url,
      'https://x.example.com:8443',
    )
  })

  it('refuses a public origin whose host would split or widen every widget CSP', () => {
    // Before: accepted, and `https://a.com;script-src` went into every widget's connectDomains.
    const message =
      'its host must be a name or an address (letters, digits, ".", "-"): it goes into every widget\'s CSP'
    assert.deepEqual(
      problems('upstream = "http://127.0.0.1:9/mcp"\npublic_url = "https://a.com;script-src"\n'),
      [`2: public_url: ${message}`],
    )
    assert.deepEqual(problems('[csp]\ndomain = "a.com,*"\n'), [`2: csp.domain: ${message}`])
    for (const url of [
      'https://mcp.example.com:8443/mcp',
      'http://[::1]:3000',
      'http://127.0.0.1',
    ]) {
      assert.equal(
        load(`upstream = "http://127.0.0.1:9/mcp"\npublic_url = "${url}"\n`).config.public_url,
        url,
      )
    }
  })
})
