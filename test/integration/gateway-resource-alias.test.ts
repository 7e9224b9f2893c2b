/**
 * mcp-proxy's resource-URI aliases in gateway mode, end to end with the official SDK client and
 * a real stdio backend (the subscribable fixture, SDK server): `memo://a` is aliased
 * `notes://first`. The list shows the alias, reading it returns the backend's content, a
 * subscription under it reaches the backend as `memo://a` and the backend's update comes back
 * under the alias (on the session's stream and on a listen stream; under the namespaced URI
 * for whoever subscribed by it), roles judge the alias with the namespaced URI failing closed,
 * and an aliased MCP Apps widget (the csp-app fixture over HTTP) is named by its alias in the
 * tool's `_meta`, in results and in reads.
 */
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { loadConfig } from '../../src/config/load.ts'
import { createPortico } from '../../src/index.ts'
import { Logger } from '../../src/observe/logger.ts'
import { MCP_APP_MIME, PAYMENT_URI, type RunningApp, startCspApp } from '../fixtures/csp-app.ts'
import { type ListenMessage, openListenStream } from '../helpers/listen.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

const ALIAS = 'notes://first'
/** The namespaced URI of `memo://a`, which still reaches it (as a tool alias's original name). */
const ORIGINAL = 'memo://sub__a'

const SUB = {
  name: 'sub',
  transport: 'stdio' as const,
  command: process.execPath,
  args: [fixture('subscribable-stdio')],
  aliases: [{ from: 'memo://a', to: ALIAS, description: 'The first memo' }],
}

const clients: Client[] = []

async function connect(url: string, key?: string): Promise<Client> {
  const client = new Client({ name: 'resource-alias-test', version: '1.0.0' })
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {}
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }),
  )
  clients.push(client)
  return client
}

/** The text of a read's first content. */
function textOf(read: { contents: readonly object[] }): unknown {
  const first = read.contents[0]
  return first !== undefined && 'text' in first ? first.text : undefined
}

async function subscribed(client: Client): Promise<string[]> {
  const result = await client.callTool({ name: 'sub__touch', arguments: {} })
  return (result.structuredContent as { subscribed: string[] }).subscribed
}

after(async () => {
  for (const client of clients) await client.close().catch(() => {})
})

describe('resource aliases through the gateway', () => {
  let gateway: RunningPortico
  before(async () => {
    gateway = await startPortico({
      proxy: { admin_tools: false, list_timeout: '3s' },
      admin: { enabled: true },
      backends: [SUB],
    })
  })
  after(async () => {
    await gateway?.close()
  })

  it('lists the alias in place of the namespaced URI, with its description', async () => {
    const client = await connect(gateway.url)
    const { resources } = await client.listResources()
    const uris = resources.map((r) => r.uri).sort()
    assert.deepEqual(uris, ['memo://sub__b', 'memo://sub__refused', ALIAS].sort())
    assert.equal(resources.find((r) => r.uri === ALIAS)?.description, 'The first memo')
    // Listed again from the kept page (list_cache_ttl): aliased as well.
    const again = (await client.listResources()).resources.map((r) => r.uri).sort()
    assert.deepEqual(again, uris)
  })

  it("reads the backend's resource through the alias (and still through its namespaced URI)", async () => {
    const client = await connect(gateway.url)
    const read = await client.readResource({ uri: ALIAS })
    assert.deepEqual(read.contents, [{ uri: ALIAS, mimeType: 'text/plain', text: 'memo' }])
    const again = await client.readResource({ uri: ORIGINAL })
    assert.equal(textOf(again), 'memo')
    await assert.rejects(client.readResource({ uri: 'notes://second' }), /Unknown resource/)
  })

  it('subscribes the backend to its own URI under the alias; its update comes back as the alias', async () => {
    const client = await connect(gateway.url)
    const updates: string[] = []
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri)
    })
    await client.subscribeResource({ uri: ALIAS })
    // `touch` announces an update of every URI the backend is subscribed to.
    assert.deepEqual(await subscribed(client), ['memo://a'])
    await until(() => updates.includes(ALIAS), 5000, `an update of ${ALIAS}`)
    assert.deepEqual([...new Set(updates)], [ALIAS])
    await client.unsubscribeResource({ uri: ALIAS })
    assert.deepEqual(await subscribed(client), [])
  })

  it('a session that subscribed by the namespaced URI gets its updates under that URI', async () => {
    const client = await connect(gateway.url)
    const updates: string[] = []
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri)
    })
    await client.subscribeResource({ uri: ORIGINAL })
    assert.deepEqual(await subscribed(client), ['memo://a'])
    await until(() => updates.includes(ORIGINAL), 5000, `an update of ${ORIGINAL}`)
    assert.deepEqual([...new Set(updates)], [ORIGINAL])
    await client.unsubscribeResource({ uri: ORIGINAL })
    assert.deepEqual(await subscribed(client), [])
  })

  it('refuses a backend added over the admin API whose resource alias takes a URI already taken', async () => {
    const add = (to: string) =>
      fetch(`${gateway.origin}/admin/backends/add`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'other',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('subscribable-stdio')],
          aliases: [{ from: 'memo://a', to }],
        }),
      })
    const taken = await add(ALIAS)
    assert.equal(taken.status, 409)
    assert.match(
      String(((await taken.json()) as { message?: unknown }).message),
      /"notes:\/\/first" is also the alias of backends\[0\]\.aliases\[0\]/,
    )
    const inside = await add('memo://sub__z')
    assert.equal(inside.status, 409)
    assert.match(
      String(((await inside.json()) as { message?: unknown }).message),
      /inside backend sub/,
    )
    const client = await connect(gateway.url)
    assert.equal(textOf(await client.readResource({ uri: ALIAS })), 'memo', 'still the first')
  })

  it('listen streams get the update under the name they asked for; one leaving keeps the other subscribed', async () => {
    const client = await connect(gateway.url)
    const byAlias = await openListenStream(gateway.url, 'listen-alias', {
      resourceSubscriptions: [ALIAS],
    })
    const byOriginal = await openListenStream(gateway.url, 'listen-original', {
      resourceSubscriptions: [ORIGINAL],
    })
    const updated = (uri: string) => (all: ListenMessage[]) =>
      all.some(
        (m) =>
          m.method === 'notifications/resources/updated' &&
          (m.params as { uri?: string } | undefined)?.uri === uri,
      )
    try {
      const [ack] = await byAlias.until((all) => all.length > 0, 'the listen acknowledgement')
      assert.deepEqual(
        (ack?.params as { notifications?: unknown } | undefined)?.notifications,
        { resourceSubscriptions: [ALIAS] },
        JSON.stringify(ack),
      )
      await byOriginal.until((all) => all.length > 0, 'the second acknowledgement')
      await client.callTool({ name: 'sub__touch', arguments: {} })
      await byAlias.until(updated(ALIAS), `an update of ${ALIAS} on the alias's stream`)
      await byOriginal.until(updated(ORIGINAL), `an update of ${ORIGINAL} on its stream`)
      // Both names are one resource: the stream by the alias leaving must not unsubscribe the
      // backend while the other still listens.
      byAlias.close()
      // Nothing to wait for: the stream's end is what could (wrongly) unsubscribe the other.
      await sleep(500)
      assert.deepEqual(await subscribed(client), ['memo://a'])
      const seen = (await byOriginal.until(() => true)).length
      await client.callTool({ name: 'sub__touch', arguments: {} })
      await byOriginal.until(
        (all) => updated(ORIGINAL)(all.slice(seen)),
        'an update on the stream left open',
      )
    } finally {
      byAlias.close()
      byOriginal.close()
    }
  })
})

describe('roles on an aliased resource', () => {
  let gateway: RunningPortico
  before(async () => {
    gateway = await startPortico({
      proxy: { admin_tools: false, list_timeout: '3s' },
      backends: [SUB],
      auth: {
        api_keys: [
          { name: 'reader', key: 'reader-key-0123456789', roles: ['alias-reader'] },
          { name: 'denier', key: 'denier-key-0123456789', roles: ['no-original'] },
        ],
        roles: [
          // Written for the name clients see.
          { name: 'alias-reader', allow_resources: ['notes://*'] },
          // Written for the namespaced URI: it must hold under the alias too.
          { name: 'no-original', deny_resources: [ORIGINAL] },
        ],
      },
    })
  })
  after(async () => {
    await gateway?.close()
  })

  it('a role that allows the alias reads it by the alias only', async () => {
    const reader = await connect(gateway.url, 'reader-key-0123456789')
    const uris = (await reader.listResources()).resources.map((r) => r.uri)
    assert.deepEqual(uris, [ALIAS])
    assert.equal(textOf(await reader.readResource({ uri: ALIAS })), 'memo')
    await assert.rejects(reader.readResource({ uri: ORIGINAL }), /403|Forbidden/)
    await assert.rejects(reader.readResource({ uri: 'memo://sub__b' }), /403|Forbidden/)
  })

  it('a role that denies the namespaced URI denies the alias too (fail closed)', async () => {
    const denier = await connect(gateway.url, 'denier-key-0123456789')
    const uris = (await denier.listResources()).resources.map((r) => r.uri).sort()
    assert.deepEqual(uris, ['memo://sub__b', 'memo://sub__refused'])
    for (const uri of [ALIAS, ORIGINAL]) {
      await assert.rejects(denier.readResource({ uri }), /403|Forbidden/, uri)
      await assert.rejects(denier.subscribeResource({ uri }), /403|Forbidden/, uri)
    }
    // The prefix moved into a user part: the backend gets memo://u@a, read as memo://a.
    await assert.rejects(denier.readResource({ uri: 'memo://sub__u@a' }), /403|Forbidden/)
    assert.equal(textOf(await denier.readResource({ uri: 'memo://sub__b' })), 'memo')
  })
})

describe('an aliased widget (MCP Apps ui:// resource)', () => {
  const WIDGET = 'ui://checkout/pay.html'
  let app: RunningApp
  let gateway: RunningPortico
  before(async () => {
    app = await startCspApp({ json: true })
    gateway = await startPortico({
      csp: { connectDomains: { domains: ['https://api.example.com'] } },
      backends: [
        {
          name: 'app',
          transport: 'http',
          url: app.url,
          aliases: [{ from: PAYMENT_URI, to: WIDGET }],
        },
      ],
    })
  })
  after(async () => {
    await gateway?.close()
    await app?.close()
  })

  it("names the alias in the tool's widget links, results and reads, so the client can read it", async () => {
    const client = await connect(gateway.url)
    const pay = (await client.listTools()).tools.find((t) => t.name === 'app__pay')
    const meta = pay?._meta as { ui?: { resourceUri?: string }; 'openai/outputTemplate'?: string }
    assert.equal(meta?.ui?.resourceUri, WIDGET, JSON.stringify(pay?._meta))
    assert.equal(meta?.['openai/outputTemplate'], WIDGET)
    const result = await client.callTool({ name: 'app__pay', arguments: {} })
    const embedded = (result.content as Array<{ resource?: { uri?: string } }>)[1]
    assert.equal(embedded?.resource?.uri, WIDGET)
    const read = await client.readResource({ uri: WIDGET })
    const item = read.contents[0]
    assert.equal(item?.uri, WIDGET)
    assert.equal(item?.mimeType, MCP_APP_MIME)
    // The widget CSP rewriting sees the widget under its alias as well.
    const csp = (item?._meta as { ui?: { csp?: { connectDomains?: string[] } } } | undefined)?.ui
      ?.csp
    assert.ok(csp?.connectDomains?.includes('https://api.example.com'), JSON.stringify(item?._meta))
  })
})

describe('resource aliases of backends added at runtime, on a file reload', () => {
  const dir = scratchDir('portico-resource-alias-reload-')
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('refuses a reloaded file whose alias takes the URI of a backend added at runtime', async () => {
    const file = join(dir, 'portico.toml')
    const backend = (name: string, alias = '') =>
      `[[backends]]\nname = "${name}"\ntransport = "stdio"\ncommand = ${JSON.stringify(process.execPath)}\nargs = [${JSON.stringify(fixture('subscribable-stdio'))}]\n${alias}`
    writeFileSync(file, `port = 0\n[admin]\nenabled = true\n${backend('sub')}`)
    const load = () => loadConfig({ file, env: {} }).config
    const portico = createPortico(load(), {
      logger: new Logger({ level: 'silent' }),
      reload: { file, load },
    })
    const listening = await portico.listen()
    try {
      const added = await fetch(`${new URL(listening.url).origin}/admin/backends/add`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'late',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('subscribable-stdio')],
          aliases: [{ from: 'memo://a', to: 'notes://late' }],
        }),
      })
      assert.equal(added.status, 201)
      // The file now gives its own backend's memo the URI the runtime backend took.
      const aliased = '[[backends.aliases]]\nfrom = "memo://a"\nto = "notes://late"\n'
      writeFileSync(file, `port = 0\n[admin]\nenabled = true\n${backend('sub', aliased)}`)
      await portico.reloadConfig()
      const client = await connect(listening.url)
      const { resources } = await client.listResources()
      const uris = resources.map((r) => r.uri).sort()
      assert.deepEqual(
        uris.filter((uri) => uri === 'notes://late'),
        ['notes://late'],
        'one resource under the URI: the reload was refused',
      )
      assert.ok(uris.includes('memo://sub__a'), `the file's backend kept its config: ${uris}`)
    } finally {
      await portico.close()
    }
  })
})
