/**
 * Client-facing names that are not the backend's own, through a real SDK client: a shortened
 * name (too long, or with characters clients refuse) called before any listing reaches the
 * tool it stands for; an alias that takes a name the backend also has, and a composite named
 * like a backend tool, each leave one tool of that name in the list, the one a call reaches.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { scratchDir } from '../helpers/scratch.ts'

const LONG = 'l'.repeat(70)

/** The shortened name a listing shows (names.ts): the portable head, `_`, 8 hex of sha256. */
function shortened(name: string): string {
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8)
  return `${name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64 - 9)}_${hash}`
}

function text(result: unknown): string {
  return ((result as { content: Array<{ text: string }> }).content[0]?.text ?? '').toString()
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'names-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  return client
}

describe('gateway: names clients see that are not the backend’s own', () => {
  let gateway: RunningPortico
  const listLog = join(scratchDir('portico-names-'), 'lists.log')
  const listed = (method: string) =>
    existsSync(listLog)
      ? readFileSync(listLog, 'utf8')
          .split('\n')
          .filter((line) => line === method).length
      : 0

  before(async () => {
    gateway = await startPortico({
      proxy: { admin_tools: false },
      backends: [
        {
          name: 'raw',
          namespace: false,
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('raw-stdio')],
          env: {
            RAW_EXTRA_TOOLS: JSON.stringify(['db.query', LONG, 'echo', 'slow', 'meta']),
            RAW_LIST_LOG: listLog,
          },
          aliases: [{ from: 'slow', to: 'echo' }],
        },
      ],
      composite_tools: [
        { name: 'meta', description: 'named like a backend tool', tools: ['slow'] },
      ],
    })
  })
  after(() => gateway?.close())

  it('routes a shortened name called before any listing to the tool it stands for', async () => {
    const client = await connect(gateway.url)
    try {
      const dotted = await client.callTool({ name: shortened('db.query'), arguments: {} })
      assert.equal(text(dotted), 'called db.query')
      const long = await client.callTool({ name: shortened(LONG), arguments: {} })
      assert.equal(text(long), `called ${LONG}`)
    } finally {
      await client.close()
    }
  })

  it('reads a list once for made-up shortened names, never for a kind the backend lacks', async () => {
    const client = await connect(gateway.url)
    try {
      const tools = listed('tools/list')
      for (let i = 0; i < 20; i++) {
        const fake = `made_up_${i}_deadbeef`
        // Whatever the backend answers to a name it does not have; the lists asked count.
        await client.callTool({ name: fake, arguments: {} }).catch(() => undefined)
        // The backend has no prompts at all: nothing to read for these.
        await assert.rejects(client.getPrompt({ name: fake }))
      }
      assert.ok(
        listed('tools/list') - tools <= 1,
        `tools/list read ${listed('tools/list') - tools} times`,
      )
      assert.equal(listed('prompts/list'), 0)
    } finally {
      await client.close()
    }
  })

  it('lists one tool per name: an alias and a composite take the name they share', async () => {
    const client = await connect(gateway.url)
    try {
      const names = (await client.listTools()).tools.map((tool) => tool.name)
      assert.equal(new Set(names).size, names.length, `a name listed twice: ${names.join(', ')}`)
      for (const name of ['echo', 'meta', shortened('db.query'), shortened(LONG)]) {
        assert.ok(names.includes(name), `${name} is listed`)
      }
      const listed = (await client.listTools()).tools.find((tool) => tool.name === 'meta')
      assert.equal(listed?.description, 'named like a backend tool')
      // What the listed names reach: the alias's tool, and the composite.
      assert.equal(text(await client.callTool({ name: 'echo', arguments: {} })), 'called slow')
      assert.match(text(await client.callTool({ name: 'meta', arguments: {} })), /called slow/)
    } finally {
      await client.close()
    }
  })
})

describe('gateway: a rewritten name that another tool of the backend has as its own', () => {
  let gateway: RunningPortico
  // `db.query` is listed as `a__db_query_<hash>`; the backend also has that local name.
  const literal = shortened('a__db.query').slice('a__'.length)

  before(async () => {
    gateway = await startPortico({
      proxy: { admin_tools: false },
      backends: [
        {
          name: 'a',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('raw-stdio')],
          env: { RAW_EXTRA_TOOLS: JSON.stringify(['db.query', literal]) },
        },
      ],
    })
  })
  after(() => gateway?.close())

  it('lists the two under two names, each reaching its own tool', async () => {
    const client = await connect(gateway.url)
    try {
      const { tools } = await client.listTools()
      const names = tools.map((tool) => tool.name).filter((name) => name.startsWith('a__db'))
      // Before: `a__db_query_<hash>` twice, and both reached `db.query`.
      assert.equal(new Set(names).size, 2, names.join(' '))
      assert.ok(names.includes(`a__${literal}`), names.join(' '))
      for (const name of names) {
        const called = text(await client.callTool({ name, arguments: {} }))
        assert.match(called, name === `a__${literal}` ? new RegExp(literal) : /db\.query/, name)
      }
    } finally {
      await client.close()
    }
  })
})

describe('gateway: a tool alias named like one of the backend’s prompts', () => {
  let gateway: RunningPortico

  before(async () => {
    gateway = await startPortico({
      proxy: { admin_tools: false },
      backends: [
        {
          name: 'paged',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('paged-server')],
          // `alpha` is a tool; `two` is a prompt of the same backend.
          aliases: [{ from: 'alpha', to: 'two' }],
        },
      ],
    })
  })
  after(() => gateway?.close())

  it('renames the tool and leaves the prompt listed and reachable', async () => {
    const client = await connect(gateway.url)
    try {
      const tools: string[] = []
      let cursor: string | undefined
      do {
        const page = await client.listTools(cursor === undefined ? {} : { cursor })
        tools.push(...page.tools.map((tool) => tool.name))
        cursor = page.nextCursor
      } while (cursor !== undefined)
      assert.ok(tools.includes('paged__two') && !tools.includes('paged__alpha'), tools.join(' '))
      const prompts: string[] = []
      cursor = undefined
      do {
        const page = await client.listPrompts(cursor === undefined ? {} : { cursor })
        prompts.push(...page.prompts.map((prompt) => prompt.name))
        cursor = page.nextCursor
      } while (cursor !== undefined)
      assert.deepEqual(prompts, ['paged__one', 'paged__two', 'paged__three'])
      const prompt = await client.getPrompt({ name: 'paged__two' })
      assert.deepEqual(prompt.messages[0]?.content, { type: 'text', text: 'prompt two' })
      const called = await client.callTool({ name: 'paged__two', arguments: {} })
      assert.match(text(called), /"tool":"alpha"/)
    } finally {
      await client.close()
    }
  })
})

describe('gateway: a shortened name listed past the pages one lookup reads', () => {
  let gateway: RunningPortico
  // One tool per page: the six built in, sixty fillers, and the dotted one last (page 67).
  const fillers = Array.from({ length: 60 }, (_, i) => `filler_${i}`)

  before(async () => {
    gateway = await startPortico({
      proxy: { admin_tools: false },
      backends: [
        {
          name: 'long',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('raw-stdio')],
          env: { RAW_EXTRA_TOOLS: JSON.stringify([...fillers, 'db.query']), RAW_PAGE_SIZE: '1' },
        },
      ],
    })
  })
  after(() => gateway?.close())

  it('is found by the next lookup, which goes on where the last one stopped', async () => {
    const client = await connect(gateway.url)
    try {
      const name = shortened('long__db.query')
      const answers: string[] = []
      for (let i = 0; i < 2; i++) {
        answers.push(text(await client.callTool({ name, arguments: {} })))
      }
      assert.equal(answers[1], 'called db.query', answers.join(' | '))
    } finally {
      await client.close()
    }
  })
})
