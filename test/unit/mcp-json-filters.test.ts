/**
 * The tool lists of an MCP client's file (Gemini's `includeTools` / `excludeTools`, Windsurf's
 * `disabledTools`, Codex's `enabled_tools` / `disabled_tools`) limit what a server may do, so
 * their import fails closed: a list Portico cannot read stops the import, and an include list
 * that leaves nothing exposes no tool (never, as before, every tool).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { codexServers, importMcpJson } from '../../src/config/mcp-json.ts'
import { visibility } from '../../src/gateway/names.ts'

function imported(server: Record<string, unknown>) {
  const warnings: string[] = []
  const [backend] = importMcpJson(
    { mcpServers: { fs: { command: 'srv', ...server } } },
    { warn: (message) => warnings.push(message) },
  )
  return { backend, warnings }
}

describe('tool lists of an imported server', () => {
  it('an include list is what is exposed, less what is excluded', () => {
    const { backend } = imported({ includeTools: ['read', 'write'], excludeTools: ['write'] })
    assert.deepEqual(backend?.expose_tools, ['read'])
  })

  it('an include list that leaves nothing exposes nothing, and says so', () => {
    for (const server of [
      { includeTools: ['read'], excludeTools: ['read'] },
      { includeTools: ['read'], disabledTools: ['read'] },
      { includeTools: [] },
    ]) {
      const { backend, warnings } = imported(server)
      assert.deepEqual(backend?.hide_tools, ['*'], JSON.stringify(server))
      assert.equal(backend?.expose_tools, undefined)
      const exposed = visibility([], backend?.hide_tools as string[])
      for (const tool of ['read', 'write', 'anything']) assert.equal(exposed(tool), false, tool)
      assert.match(warnings.join('\n'), /none exposed/)
    }
  })

  it('a list that is not a list of names stops the import, naming the server and the key', () => {
    for (const [key, value] of [
      ['includeTools', 'read_file'],
      ['excludeTools', ['ok', 5]],
      ['disabledTools', { read: true }],
    ] as const) {
      assert.throws(
        () => imported({ [key]: value }),
        new RegExp(`server "fs": ${key} must be a list of tool names`),
      )
    }
  })

  it('Codex’s enabled_tools and disabled_tools are read the same way', () => {
    const servers = codexServers({
      mcp_servers: { fs: { command: 'srv', enabled_tools: ['a'], disabled_tools: ['a'] } },
    })
    const [backend] = importMcpJson(servers)
    assert.deepEqual(backend?.hide_tools, ['*'])
  })

  it('a Codex list that is not a list of names stops the import under its Codex name', () => {
    for (const [key, value, what] of [
      ['enabled_tools', 'read', 'tool'],
      ['disabled_tools', [1], 'tool'],
      ['env_vars', ['HOME', 2], 'variable'],
    ] as const) {
      assert.throws(
        () => codexServers({ mcp_servers: { fs: { command: 'srv', [key]: value } } }),
        new RegExp(`server "fs": ${key} must be a list of ${what} names`),
      )
    }
  })
})

describe('how an imported stdio server is started', () => {
  it('stops the import, naming the server and the key, for args, env or cwd it cannot read', () => {
    // Before: a string `args` was dropped (npx ran with none), `cwd: 5` dropped, and `null`
    // or an object became the argument "null" or "[object Object]".
    for (const [server, message] of [
      [
        { args: '-y @modelcontextprotocol/server-filesystem /srv' },
        /server "fs": args must be a list of strings/,
      ],
      [{ args: ['a.js', null] }, /server "fs": args must be a list of strings/],
      [{ args: ['a.js', { k: 1 }] }, /server "fs": args must be a list of strings/],
      [{ cwd: 5 }, /server "fs": cwd must be a string/],
      [{ env: 'A=1' }, /server "fs": env must be an object of strings/],
      [{ env: { TOKEN: null } }, /server "fs": env: "TOKEN" must be a string/],
    ] as const) {
      assert.throws(() => imported(server), message, JSON.stringify(server))
    }
  })

  it('reads numbers and booleans written where strings are meant as their text', () => {
    const { backend } = imported({ args: ['--port', 8080, true], env: { DEBUG: 1 }, cwd: '/srv' })
    assert.deepEqual(backend?.args, ['--port', '8080', 'true'])
    assert.deepEqual(backend?.env, { DEBUG: '1' })
    assert.equal(backend?.cwd, '/srv')
  })
})

describe('how an imported remote server is reached', () => {
  it('stops the import for headers that are not an object of strings', () => {
    // Before: a list of header lines was dropped, and the server contacted without them.
    for (const headers of [
      ['Authorization: Bearer abc'],
      'Authorization: Bearer abc',
      { A: null },
    ]) {
      assert.throws(
        () =>
          importMcpJson({ mcpServers: { remote: { url: 'https://mcp.example/mcp', headers } } }),
        /server "remote": headers/,
        JSON.stringify(headers),
      )
    }
  })
})

describe("a Codex server's credentials", () => {
  it('stop the import when written in a type Codex does not read', () => {
    // Before: each was dropped, and the server contacted without its credentials.
    for (const [key, value] of [
      ['http_headers', ['Authorization: Bearer x']],
      ['env_http_headers', 'X-Key'],
      ['bearer_token_env_var', ['TOKEN']],
      // Not a variable name: written as `Bearer ${TOK}x}` before.
      ['bearer_token_env_var', 'TOK}x'],
    ] as const) {
      assert.throws(
        () =>
          codexServers({
            mcp_servers: { remote: { url: 'https://mcp.example/mcp', [key]: value } },
          }),
        new RegExp(`server "remote": ${key} must be`),
        key,
      )
    }
    // A header's variable that is a list: written as `${A,B}` before.
    assert.throws(
      () =>
        codexServers({
          mcp_servers: {
            remote: { url: 'https://x.example/mcp', env_http_headers: { Authorization: ['A'] } },
          },
        }),
      /server "remote": env_http_headers: "Authorization" must be a variable name/,
    )
  })
})
