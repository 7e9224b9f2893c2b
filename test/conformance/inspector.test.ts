/**
 * The MCP Inspector's CLI (2.12) works through Portico: list and call tools, get a prompt and
 * read a resource of the legacy conformance fixture, and see a tool error reported as one.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import { TEXT } from '../fixtures/conformance-content.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type Fixture, INSPECTOR, ROOT, startFixture } from './harness.ts'

interface CliRun {
  code: number | null
  /** The JSON the CLI printed: the result on stdout, an error on stderr. */
  json: { result?: Record<string, unknown>; error?: { code: string } }
}

function lastJsonLine(text: string): Record<string, unknown> {
  const line = text.trim().split('\n').at(-1) ?? ''
  return line.startsWith('{') ? JSON.parse(line) : {}
}

/** `mcp-inspector --cli URL --transport http --method … --format json` on this process's Node. */
function inspect(url: string, ...args: string[]): Promise<CliRun> {
  const child = spawn(
    process.execPath,
    [INSPECTOR, '--cli', url, '--transport', 'http', '--format', 'json', ...args],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8')
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8')
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`inspector ${args.join(' ')} timed out: ${stderr}`))
    }, 30_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      try {
        resolve({ code, json: { ...lastJsonLine(stdout), ...lastJsonLine(stderr) } })
      } catch {
        reject(new Error(`inspector printed no JSON (exit ${code}): ${stdout} ${stderr}`))
      }
    })
  })
}

describe('MCP Inspector CLI through Portico', () => {
  let fixture: Fixture
  let portico: RunningPortico

  before(async () => {
    fixture = await startFixture('conformance-server.js')
    portico = await startPortico({ upstream: fixture.url })
  })

  after(async () => {
    await portico?.close()
    await fixture?.close()
  })

  test('tools/list returns the fixture tools', async () => {
    const { code, json } = await inspect(portico.url, '--method', 'tools/list')
    assert.equal(code, 0)
    const tools = json.result?.tools as { name: string }[]
    const names = tools.map((tool) => tool.name)
    assert.ok(names.includes('test_simple_text'), names.join(', '))
    assert.ok(names.includes('test_sampling'))
  })

  test('tools/call returns the tool result', async () => {
    const run = await inspect(
      portico.url,
      '--method',
      'tools/call',
      '--tool-name',
      'test_simple_text',
    )
    assert.equal(run.code, 0)
    assert.deepEqual(run.json.result?.content, [{ type: 'text', text: TEXT.simple }])
  })

  test('prompts/get and resources/read pass arguments and return content', async () => {
    const prompt = await inspect(
      portico.url,
      ...['--method', 'prompts/get', '--prompt-name', 'test_prompt_with_arguments'],
      ...['--prompt-args', 'arg1=hello', 'arg2=world'],
    )
    assert.equal(prompt.code, 0)
    const messages = prompt.json.result?.messages as { content: { text: string } }[]
    assert.equal(messages[0]?.content.text, "Prompt with arguments: arg1='hello', arg2='world'")
    const resource = await inspect(
      portico.url,
      ...['--method', 'resources/read', '--uri', 'test://static-text'],
    )
    assert.equal(resource.code, 0)
    const contents = resource.json.result?.contents as { text: string }[]
    assert.equal(contents[0]?.text, TEXT.staticResource)
  })

  test('a tool error exits 5 with the tool_is_error code', async () => {
    const run = await inspect(
      portico.url,
      '--method',
      'tools/call',
      '--tool-name',
      'test_error_handling',
    )
    assert.equal(run.code, 5)
    assert.equal(run.json.error?.code, 'tool_is_error')
  })
})
