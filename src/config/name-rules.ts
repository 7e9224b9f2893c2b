/**
 * Rules written for another separator: `[auth]` lists and `per_tool` rate limits match the
 * names clients see, `{backend}{separator}{name}`. mcp-proxy's separator is `/` by default and
 * Portico's `__`, so a mcp-proxy file's `deny_tools = ["files/write"]` would match nothing here,
 * and the denied tool would run: such a rule is refused, naming the name it should be.
 */
import type { z } from 'zod'

/** The two defaults a rule may have been written for (mcp-proxy's, Portico's). */
const KNOWN_SEPARATORS = ['/', '__'] as const

type NameLists = {
  allow_tools?: string[] | undefined
  deny_tools?: string[] | undefined
  allow_prompts?: string[] | undefined
  deny_prompts?: string[] | undefined
}

interface NameRulesContext {
  backends?: ReadonlyArray<{ name: string }> | undefined
  proxy: {
    separator: string
    rate_limit?: { per_tool: ReadonlyArray<{ tool: string }> } | undefined
  }
  auth?:
    | {
        scoped_tokens?: readonly NameLists[] | undefined
        roles: readonly NameLists[]
        profiles: readonly NameLists[]
      }
    | undefined
}

const LIST_KEYS = ['allow_tools', 'deny_tools', 'allow_prompts', 'deny_prompts'] as const

export function refineNameRules(config: NameRulesContext, ctx: z.RefinementCtx): void {
  const backends = config.backends?.map((backend) => backend.name) ?? []
  if (backends.length === 0) return
  const check = (pattern: string, path: PropertyKey[]) => {
    const message = foreignSeparator(pattern, backends, config.proxy.separator)
    if (message !== undefined) ctx.addIssue({ code: 'custom', path, message })
  }
  const auth = config.auth
  const tables: Array<[string, readonly NameLists[] | undefined]> = [
    ['scoped_tokens', auth?.scoped_tokens],
    ['roles', auth?.roles],
    ['profiles', auth?.profiles],
  ]
  for (const [table, entries] of tables) {
    entries?.forEach((entry, i) => {
      for (const key of LIST_KEYS) {
        // Said of the list, not of its item: set aside, an item would leave the list empty,
        // and the next pass would refuse it as such (config/validate.ts).
        for (const pattern of entry[key] ?? []) check(pattern, ['auth', table, i, key])
      }
    })
  }
  config.proxy.rate_limit?.per_tool.forEach((rule, i) => {
    check(rule.tool, ['proxy', 'rate_limit', 'per_tool', i, 'tool'])
  })
}

/** Why `pattern` names a backend with a separator this config does not use, if it does. */
function foreignSeparator(
  pattern: string,
  backends: readonly string[],
  separator: string,
): string | undefined {
  if (pattern.startsWith('re:')) return undefined
  // A name of this config's own (a backend named `a_b` beside `a`, with `_`) is not foreign.
  if (backends.some((backend) => pattern.startsWith(`${backend}${separator}`))) return undefined
  for (const foreign of KNOWN_SEPARATORS) {
    if (foreign === separator) continue
    const backend = backends.find((name) => pattern.startsWith(`${name}${foreign}`))
    if (backend === undefined) continue
    const rest = pattern.slice(backend.length + foreign.length)
    return `"${pattern}" names backend ${backend} with the separator "${foreign}", but its tools and prompts are named ${backend}${separator}${rest} here ([proxy] separator = "${separator}"${foreign === '/' ? '; mcp-proxy\'s default is "/"' : ''}): the rule would match nothing. Write "${backend}${separator}${rest}", or set [proxy] separator = "${foreign}"`
  }
  return undefined
}
