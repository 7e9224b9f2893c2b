/**
 * Rules written for another separator: `[auth]` lists, `per_tool` rate limits and composite
 * tools' members name what clients see, `{backend}{separator}{name}`. mcp-proxy's separator
 * is `/` by default and Portico's `__`, so a mcp-proxy file's `deny_tools = ["files/write"]`
 * would match nothing here, and the denied tool would run: such a rule is refused, naming the
 * name it should be.
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
  composite_tools?: ReadonlyArray<{ tools: readonly string[] }> | undefined
}

const LIST_KEYS = ['allow_tools', 'deny_tools', 'allow_prompts', 'deny_prompts'] as const

export interface NameRuleProblem {
  path: PropertyKey[]
  message: string
}

export function refineNameRules(config: NameRulesContext, ctx: z.RefinementCtx): void {
  for (const problem of nameRuleProblems(config)) ctx.addIssue({ code: 'custom', ...problem })
}

/**
 * Every rule naming a backend with the other separator. Also asked when a backend is added at
 * runtime (gateway.ts `addBackend`): a rule the file let through, since no backend had that name
 * then, would start matching nothing once it has one.
 */
export function nameRuleProblems(config: NameRulesContext): NameRuleProblem[] {
  const backends = config.backends?.map((backend) => backend.name) ?? []
  if (backends.length === 0) return []
  const problems: NameRuleProblem[] = []
  const check = (pattern: string, path: PropertyKey[]) => {
    const message = foreignSeparator(pattern, backends, config.proxy.separator)
    if (message !== undefined) problems.push({ path, message })
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
  config.composite_tools?.forEach((composite, i) => {
    for (const tool of composite.tools) check(tool, ['composite_tools', i, 'tools'])
  })
  return problems
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
