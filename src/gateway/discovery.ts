/**
 * Tool discovery (mcp-proxy's `tool_discovery` / `tool_exposure = "search"`): a BM25 index
 * over every backend tool as clients see it (exposed name, description, parameter names and
 * descriptions, backend, annotation tags), so a client facing hundreds of tools can search
 * them instead of listing them. Unlike mcp-proxy, the index is built from the filtered,
 * aliased lists clients get (hidden tools stay hidden) and rebuilt when the backends change
 * (reload, runtime changes, a list change the gateway hears, or 30 s old).
 */
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Gateway } from './gateway.ts'

export interface ToolEntry {
  /** The name clients call it by (`backend__tool`). */
  id: string
  server: string
  /** The backend's own name for it. */
  name: string
  description: string
  tags: string[]
  category: string
  tokens: string[]
}

export interface SearchHit {
  id: string
  server: string
  name: string
  description: string
  score: number
  tags: string[]
  category: string
}

/** What a caller may see (`Call.visible`): a tool's exposed name in, whether it may use it. */
export type Visible = (kind: 'tool', name: string) => boolean

const MAX_PAGES = 50
const MAX_AGE_MS = 30_000
const K1 = 1.2
const B = 0.75

export class ToolIndex {
  readonly entries: ToolEntry[]
  readonly #df = new Map<string, number>()
  readonly #avgLength: number

  constructor(entries: ToolEntry[]) {
    this.entries = entries
    let total = 0
    for (const entry of entries) {
      total += entry.tokens.length
      for (const token of new Set(entry.tokens)) this.#df.set(token, (this.#df.get(token) ?? 0) + 1)
    }
    this.#avgLength = entries.length === 0 ? 1 : total / entries.length
  }

  /** The best `topK` matches among the tools `visible` admits (every tool when undefined). */
  search(query: string, topK: number, visible?: Visible, exclude?: string): SearchHit[] {
    const terms = [...new Set(tokenize(query))]
    const n = this.entries.length
    const hits: SearchHit[] = []
    for (const entry of this.entries) {
      if (entry.id === exclude || (visible !== undefined && !visible('tool', entry.id))) continue
      let score = 0
      for (const term of terms) {
        const tf = entry.tokens.reduce((count, token) => count + (token === term ? 1 : 0), 0)
        if (tf === 0) continue
        const df = this.#df.get(term) ?? 0
        const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5))
        score +=
          (idf * tf * (K1 + 1)) / (tf + K1 * (1 - B + (B * entry.tokens.length) / this.#avgLength))
      }
      if (score > 0) hits.push(hitOf(entry, Math.round(score * 1000) / 1000))
    }
    return hits.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id)).slice(0, topK)
  }

  /** Undefined for a tool the index does not hold, or one `visible` does not admit. */
  similar(id: string, topK: number, visible?: Visible): SearchHit[] | undefined {
    const entry = this.entries.find((e) => e.id === id)
    if (entry === undefined || (visible !== undefined && !visible('tool', id))) return undefined
    return this.search(entry.tokens.join(' '), topK, visible, id)
  }

  categories(visible?: Visible): JsonObject {
    const counts = new Map<string, string[]>()
    for (const entry of this.entries) {
      if (visible !== undefined && !visible('tool', entry.id)) continue
      const tools = counts.get(entry.category) ?? []
      tools.push(entry.id)
      counts.set(entry.category, tools)
    }
    const categories = [...counts.entries()]
      .map(([name, tools]) => ({ name, tool_count: tools.length, tools: tools.slice(0, 10) }))
      .sort((a, b) => b.tool_count - a.tool_count || a.name.localeCompare(b.name))
    return { categories, total_categories: categories.length }
  }
}

function hitOf(entry: ToolEntry, score: number): SearchHit {
  const { tokens: _tokens, ...rest } = entry
  return { ...rest, score }
}

/** Lower-case words, `snake_case` and `camelCase` split, one-letter noise dropped. */
export function tokenize(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word.length > 1)
}

const cache = new WeakMap<Gateway, { index: ToolIndex; version: number; at: number }>()

/** The index of the gateway's tools, built (by listing every backend) when stale. */
export async function toolIndex(gateway: Gateway, origin: Call): Promise<ToolIndex> {
  const cached = cache.get(gateway)
  const now = Date.now()
  if (cached && cached.version === gateway.toolsVersion && now - cached.at < MAX_AGE_MS) {
    return cached.index
  }
  const version = gateway.toolsVersion
  const tools: JsonObject[] = []
  let cursor: string | undefined
  for (let page = 0; page < MAX_PAGES; page++) {
    const params = cursor === undefined ? {} : { cursor }
    const result = await gateway.list('tools/list', params, gateway.session, origin)
    if (Array.isArray(result.tools)) tools.push(...(result.tools as JsonObject[]))
    cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined
    if (cursor === undefined) break
  }
  const index = new ToolIndex(tools.flatMap((tool) => entryOf(gateway, tool) ?? []))
  cache.set(gateway, { index, version, at: now })
  return index
}

function entryOf(gateway: Gateway, tool: JsonObject): ToolEntry | undefined {
  if (typeof tool.name !== 'string') return undefined
  let server = ''
  let name = tool.name
  try {
    const route = gateway.routeName('tool', tool.name)
    server = route.backend.name
    name = route.local
  } catch {
    return undefined
  }
  const description = typeof tool.description === 'string' ? tool.description : ''
  const tags = tagsOf(tool.annotations)
  const words = [
    tool.name,
    name,
    name,
    description,
    server,
    ...tags,
    ...parameterWords(tool.inputSchema),
  ]
  return {
    id: tool.name,
    server,
    name,
    description,
    tags,
    category: server,
    tokens: tokenize(words.join(' ')),
  }
}

function tagsOf(annotations: unknown): string[] {
  if (!isObject(annotations)) return []
  const tags: string[] = []
  if (annotations.destructiveHint === true) tags.push('destructive')
  if (annotations.readOnlyHint === true) tags.push('read-only')
  if (annotations.idempotentHint === true) tags.push('idempotent')
  if (annotations.openWorldHint === true) tags.push('open-world')
  return tags
}

function parameterWords(schema: unknown): string[] {
  if (!isObject(schema) || !isObject(schema.properties)) return []
  const words: string[] = []
  for (const [key, value] of Object.entries(schema.properties)) {
    words.push(key)
    if (isObject(value) && typeof value.description === 'string') words.push(value.description)
  }
  return words
}
