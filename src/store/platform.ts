/**
 * AI-client detection: the platform label of a client, from its MCP client name (the
 * `initialize` `clientInfo`, or the modern `_meta` client info) and, when the name says
 * nothing, its HTTP User-Agent.
 */
import { boundText } from '../util/bound-text.ts'

/** Patterns tried in order against the lower-cased client name, then the user agent. */
const PLATFORMS: ReadonlyArray<[RegExp, string]> = [
  [/chatgpt|openai/, 'chatgpt'],
  [/claude/, 'claude'],
  [/cursor/, 'cursor'],
  [/visual[ -]studio[ -]code|vscode|vs-code|copilot/, 'vscode'],
  [/inspector/, 'inspector'],
  [/windsurf|codeium/, 'windsurf'],
  [/\bzed\b|^zed/, 'zed'],
  [/cline/, 'cline'],
  [/gemini/, 'gemini'],
  [/goose/, 'goose'],
  [/continue/, 'continue'],
  [/mcp-remote/, 'mcp-remote'],
]

const memo = new Map<string, string>()

/** The platform label; memoized, since modern clients name themselves on every request. */
export function platformOf(clientName: string | undefined, userAgent?: string): string {
  // Bounded parts: a client's name or User-Agent may be long, and 1,000 keys are kept.
  const key = `${boundText(clientName ?? '')}\0${boundText(userAgent ?? '')}`
  let label = memo.get(key)
  if (label === undefined) {
    label = detect(clientName, userAgent)
    if (memo.size >= 1000) memo.clear()
    memo.set(key, label)
  }
  return label
}

function detect(clientName: string | undefined, userAgent: string | undefined): string {
  for (const text of [clientName, userAgent]) {
    if (!text) continue
    const lower = text.toLowerCase()
    for (const [pattern, label] of PLATFORMS) if (pattern.test(lower)) return label
  }
  return 'unknown'
}
