import assert from 'node:assert/strict'
import { it } from 'node:test'
import { keepWellFormed } from '../../src/gateway/item-shape.ts'

const object = { type: 'object' }

it('keeps a page whose items are all well formed as it is (the same object)', () => {
  const page = { tools: [{ name: 'a', inputSchema: object, annotations: {}, title: 'A' }] }
  assert.equal(
    keepWellFormed('tools/list', page, () => assert.fail('nothing to drop')),
    page,
  )
})

it('leaves out each item that breaks what MCP requires, saying which and why', () => {
  const dropped: string[] = []
  const note = (label: string, problem: string) => dropped.push(`${label}: ${problem}`)
  const tools = keepWellFormed(
    'tools/list',
    {
      tools: [
        { name: 'ok', inputSchema: object },
        { name: 'out', inputSchema: object, outputSchema: { type: 'array' } },
        { name: 'icons', inputSchema: object, icons: 'x' },
        null,
        { inputSchema: object },
      ],
      nextCursor: 'c',
    },
    note,
  )
  assert.deepEqual(tools, { tools: [{ name: 'ok', inputSchema: object }], nextCursor: 'c' })
  const prompts = keepWellFormed(
    'prompts/list',
    {
      prompts: [
        { name: 'p', arguments: [{ name: 'x' }] },
        { name: 'q', arguments: [{}] },
      ],
    },
    note,
  )
  assert.deepEqual(prompts, { prompts: [{ name: 'p', arguments: [{ name: 'x' }] }] })
  const templates = keepWellFormed(
    'resources/templates/list',
    { resourceTemplates: [{ uriTemplate: 'a://{x}', name: 't' }, { uriTemplate: 'b://{x}' }] },
    note,
  )
  assert.equal((templates.resourceTemplates as unknown[]).length, 1)
  assert.deepEqual(dropped, [
    '"out": "outputSchema" is not a JSON Schema of type "object"',
    '"icons": "icons" is not a list',
    '#4: is not an object',
    '#5: "name" is not a non-empty string',
    '"q": "arguments" is not a list of named arguments',
    '"b://{x}": "name" is not a string',
  ])
})

it('leaves out an item that repeats an earlier one of the same name (or URI), and says so', () => {
  const dropped: string[] = []
  const result = keepWellFormed(
    'tools/list',
    {
      tools: [
        { name: 'a', inputSchema: { type: 'object' } },
        { name: 'b', inputSchema: { type: 'object' } },
        { name: 'a', description: 'again', inputSchema: { type: 'object' } },
      ],
    },
    (label, problem) => dropped.push(`${label}: ${problem}`),
  )
  assert.deepEqual(
    (result.tools as Array<{ name: string; description?: string }>).map((t) => t.name),
    ['a', 'b'],
  )
  assert.deepEqual(dropped, ['"a": repeats an earlier "a"'])
  const resources = keepWellFormed(
    'resources/list',
    {
      resources: [
        { uri: 'x://1', name: 'one' },
        { uri: 'x://1', name: 'two' },
      ],
    },
    () => {},
  )
  assert.equal((resources.resources as unknown[]).length, 1)
})
