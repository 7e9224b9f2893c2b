/**
 * AI-client detection: the platform label of a client, from its MCP client name (the
 * `initialize` `clientInfo`, or the modern `_meta` client info) and, when the name says
 * nothing, its HTTP User-Agent.
 */

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

export function platformOf(clientName: string | undefined, userAgent?: string): string {
  for (const text of [clientName, userAgent]) {
    if (!text) continue
    const lower = text.toLowerCase()
    for (const [pattern, label] of PLATFORMS) if (pattern.test(lower)) return label
  }
  return 'unknown'
}
