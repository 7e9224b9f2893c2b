/**
 * csp/setup `reloadableCsp`: what a hot reload changes of the widget CSP. The backends come
 * from the reloaded file, so a widget naming a backend a reload added (at a private address the
 * browser cannot reach) is served under Portico's public origin, as the start's backends are.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseConfig } from '../../src/config/schema.ts'
import { reloadableCsp } from '../../src/csp/setup.ts'
import type { JsonObject } from '../../src/jsonrpc/message.ts'
import { requestCall } from '../helpers/calls.ts'

const PUBLIC = 'https://mcp.example.com'

function gateway(...urls: string[]) {
  return parseConfig({
    public_url: `${PUBLIC}/mcp`,
    csp: { connectDomains: { domains: ['https://api.example.com'] } },
    backends: urls.map((url, i) => ({ name: `b${i}`, transport: 'http', url })),
  })
}

/** The connect domains of a widget read through the rewriter, declaring `declared`. */
function connectDomains(
  rewriter: ReturnType<typeof reloadableCsp>['rewriters'][0],
  declared: string,
) {
  const widget = {
    uri: 'ui://widget/a.html',
    mimeType: 'text/html;profile=mcp-app',
    text: '<p>',
    _meta: { ui: { csp: { connectDomains: [declared] } } },
  }
  const response = { jsonrpc: '2.0' as const, id: 1, result: { contents: [widget] } }
  const rewritten = rewriter.rewrite(requestCall('resources/read'), response)
  // Nothing rewritten: the widget keeps what it declared.
  if (rewritten === undefined) return [declared]
  const [item] = (rewritten.result as { contents: JsonObject[] }).contents
  assert.ok(item, 'the widget is still there')
  return (item._meta as { ui: { csp: { connectDomains: string[] } } }).ui.csp.connectDomains
}

describe('widget CSP across a hot reload', () => {
  it("treats a backend the reload added as Portico's own, as it does the start's", () => {
    const csp = reloadableCsp(gateway('http://10.0.0.5:9000/mcp'))
    const [rewriter] = csp.rewriters
    assert.ok(rewriter)
    assert.ok(connectDomains(rewriter, 'http://10.0.0.5:9000').includes(PUBLIC))
    // Before the reload, the second backend's address is just a domain the widget declared.
    assert.ok(connectDomains(rewriter, 'http://10.0.0.6:9000').includes('http://10.0.0.6:9000'))
    const next = gateway('http://10.0.0.5:9000/mcp', 'http://10.0.0.6:9000/mcp')
    assert.deepEqual(csp.reload.fixed(gateway('http://10.0.0.5:9000/mcp'), next), [])
    csp.reload.prepare(next)()
    const after = connectDomains(rewriter, 'http://10.0.0.6:9000')
    assert.ok(!after.includes('http://10.0.0.6:9000'), JSON.stringify(after))
    assert.ok(after.includes(PUBLIC), JSON.stringify(after))
  })
})
