/**
 * An upstream or backend URL with `user:password@` (as mcp-proxy's configs may have): the
 * credentials reach the server as HTTP Basic authentication, in transparent mode and to a
 * gateway's HTTP backend. Requests go to a pool opened on the URL's origin, so before they
 * were dropped without a word, and the server refused every call. A URL whose credentials are
 * not valid percent-encoding, or that another key also sets Authorization for, is refused.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { loadConfigText } from '../../src/config/load.ts'
import { startProbeHttp } from '../fixtures/probe-server.ts'
import type { Served } from '../fixtures/serve.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

const BASIC = `Basic ${Buffer.from('alice:s3cret p@ss', 'utf8').toString('base64')}`

function withCredentials(url: string): string {
  const parsed = new URL(url)
  parsed.username = 'alice'
  parsed.password = 's3cret p@ss' // percent-encoded by the URL: decoded before it is sent
  return parsed.href
}

async function headersSeen(url: string, tool: string): Promise<Record<string, string>> {
  const client = new Client({ name: 'url-credentials', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  try {
    const result = await client.callTool({ name: tool, arguments: {} })
    const text = (result.content as Array<{ text: string }>)[0]?.text ?? '{}'
    return JSON.parse(text) as Record<string, string>
  } finally {
    await client.close()
  }
}

describe('user:password@ in an upstream or backend URL', () => {
  let probe: Served
  const running: RunningPortico[] = []

  before(async () => {
    probe = await startProbeHttp()
  })
  after(async () => {
    for (const portico of running) await portico.close()
    await probe?.close()
  })

  it('is sent as Basic authentication by a transparent Portico', async () => {
    const portico = await startPortico({ upstream: withCredentials(probe.url) })
    running.push(portico)
    assert.equal((await headersSeen(portico.url, 'headers')).authorization, BASIC)
  })

  it("is sent as Basic authentication to a gateway's HTTP backend", async () => {
    const portico = await startPortico({
      proxy: { admin_tools: false },
      backends: [{ name: 'probe', transport: 'http', url: withCredentials(probe.url) }],
    })
    running.push(portico)
    assert.equal((await headersSeen(portico.url, 'probe__headers')).authorization, BASIC)
  })

  it('is refused when malformed, or when another key sets Authorization too', () => {
    const problems = (text: string) => {
      try {
        loadConfigText(text, { env: {} })
        return []
      } catch (error) {
        return String((error as Error).message).split('\n')
      }
    }
    const backend = (extra: string) =>
      `[[backends]]\nname = "b"\ntransport = "http"\nurl = "http://alice:pw@127.0.0.1:9/mcp"\n${extra}`
    assert.ok(
      problems(backend('bearer_token = "t"\n')).some((line) =>
        /backends\[0\]\.url: has credentials .* bearer_token sets Authorization too: keep one/.test(
          line,
        ),
      ),
    )
    assert.ok(
      problems(backend('headers = { Authorization = "Bearer x" }\n')).some((line) =>
        /headers sets Authorization too/.test(line),
      ),
    )
    // Without credentials in the url, bearer_token and an Authorization header clash too
    // (before: the header was dropped without a word).
    const plain = problems(
      '[[backends]]\nname = "b"\ntransport = "http"\nurl = "http://127.0.0.1:9/mcp"\nbearer_token = "t"\nheaders = { Authorization = "Bearer x" }\n',
    )
    assert.ok(
      plain.some((line) =>
        /:5: backends\[0\]\.bearer_token: bearer_token and headers both set Authorization: keep one/.test(
          line,
        ),
      ),
      plain.join('\n'),
    )
    // Values no header can carry, and headers the HTTP client sets: refused at their line
    // (before: accepted, and every call failed as "unreachable").
    const env = { BACKEND_TOKEN: 'secret-token\n' }
    const sent = (extra: string) => {
      try {
        loadConfigText(
          `[[backends]]\nname = "b"\ntransport = "http"\nurl = "http://127.0.0.1:9/mcp"\n${extra}`,
          { env },
        )
        return []
      } catch (error) {
        return String((error as Error).message).split('\n')
      }
    }
    const variable = ['$', '{BACKEND_TOKEN}'].join('')
    assert.ok(
      sent(`bearer_token = "${variable}"\n`).some((line) =>
        /:5: backends\[0\]\.bearer_token: sent as Authorization: a header value holds/.test(line),
      ),
    )
    assert.ok(
      sent(`headers = { "X-Api-Key" = "${variable}" }\n`).some((line) =>
        /backends\[0\]\.headers\.X-Api-Key: a header value holds/.test(line),
      ),
    )
    assert.ok(
      sent('headers = { "content-length" = "5" }\n').some((line) =>
        /backends\[0\]\.headers\.content-length: content-length is set by the HTTP client/.test(
          line,
        ),
      ),
    )
    assert.deepEqual(sent('headers = { Host = "tools.internal" }\n'), [])
    assert.ok(
      problems('upstream = "http://alice:%ZZ@127.0.0.1:9/mcp"\n').some((line) =>
        /upstream: its user:password@ is not valid percent-encoding/.test(line),
      ),
    )
  })
})
