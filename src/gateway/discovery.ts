/**
 * Tool discovery (mcp-proxy's `tool_discovery` / `tool_exposure = "search"`): a BM25 index
 * over every backend tool as clients see it (exposed name, description, parameter names and
 * descriptions, backend, annotation tags), so a client facing hundreds of tools can search
 * them instead of listing them. Unlike mcp-proxy, the index is built from the filtered,
 * aliased lists clients get (hidden tools stay hidden), one per caller view (what each
 * caller's backends list it), and rebuilt when the backends change (reload, runtime changes, a
 * list change the gateway hears, or 30 s old).
 */
import { PorticoError } from '../errors.ts'
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import { answerIdentity } from '../protect/identity.ts'
import { BoundedMap } from '../util/bounded-map.ts'
import type { SessionRef } from './backends/backend.ts'
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
  /** How often each token occurs (the BM25 term frequency, looked up once per query term). */
  counts: Map<string, number>
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
/** A query's length in characters: the discovery tools are open to every caller. */
export const MAX_QUERY_CHARS = 1000
/** Distinct words of a query (or of the tool `similar_tools` starts from) that are scored. */
const MAX_TERMS = 64
/** Indexes kept per gateway: one per caller view (what each caller's backends list). */
const MAX_VIEWS = 256
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
    return this.#score(new Set(tokenize(query)), topK, visible, exclude)
  }

  #score(words: Set<string>, topK: number, visible?: Visible, exclude?: string): SearchHit[] {
    const terms = [...words].slice(0, MAX_TERMS)
    const n = this.entries.length
    const hits: SearchHit[] = []
    for (const entry of this.entries) {
      if (entry.id === exclude || (visible !== undefined && !visible('tool', entry.id))) continue
      let score = 0
      for (const term of terms) {
        const tf = entry.counts.get(term) ?? 0
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
    return this.#score(new Set(entry.tokens), topK, visible, id)
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
  const { tokens: _tokens, counts: _counts, ...rest } = entry
  return { ...rest, score }
}

/** A query a caller may search with: a string of at most MAX_QUERY_CHARS. */
export function checkedQuery(query: string): string {
  if (query.length > MAX_QUERY_CHARS) {
    throw new PorticoError('invalid_params', {
      message: `Invalid params: "query" is at most ${MAX_QUERY_CHARS} characters (it has ${query.length})`,
    })
  }
  return query
}

/** Lower-case words, `snake_case` and `camelCase` split, one-letter noise dropped. */
export function tokenize(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word.length > 1)
}

interface Built {
  index: ToolIndex
  version: number
  at: number
}

const cache = new WeakMap<Gateway, BoundedMap<string, Built>>()

/**
 * The index of the tools `origin`'s caller gets listed, built (by listing every backend as
 * its own `tools/list` does, on its session) when stale. Kept per caller view, as the list
 * pages are (list-cache.ts): a backend told who calls may list each caller its own tools, and a
 * per-session process its own; one caller's index never answers another's search.
 */
export async function toolIndex(
  gateway: Gateway,
  origin: Call,
  session: SessionRef,
): Promise<ToolIndex> {
  let views = cache.get(gateway)
  if (views === undefined) {
    views = new BoundedMap<string, Built>(MAX_VIEWS)
    cache.set(gateway, views)
  }
  const scopes = gateway.backends().map((backend) => backend.listScope(session))
  const view = `${origin.identity === undefined ? '' : answerIdentity(origin)}\u0000${scopes.join('\u0000')}`
  const cached = views.get(view)
  const now = Date.now()
  if (cached && cached.version === gateway.toolsVersion && now - cached.at < MAX_AGE_MS) {
    return cached.index
  }
  const version = gateway.toolsVersion
  const tools: JsonObject[] = []
  let cursor: string | undefined
  for (let page = 0; page < MAX_PAGES; page++) {
    const params = cursor === undefined ? {} : { cursor }
    const result = await gateway.list('tools/list', params, session, origin)
    if (Array.isArray(result.tools)) tools.push(...(result.tools as JsonObject[]))
    cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined
    if (cursor === undefined) break
  }
  const index = new ToolIndex(tools.flatMap((tool) => entryOf(gateway, tool) ?? []))
  views.delete(view)
  views.set(view, { index, version, at: now })
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
  const tokens = tokenize(
    [tool.name, name, name, description, server, ...tags, ...parameterWords(tool.inputSchema)].join(
      ' ',
    ),
  )
  const counts = new Map<string, number>()
  for (const token of tokens) counts.set(token, (counts.get(token) ?? 0) + 1)
  return {
    id: tool.name,
    server,
    name,
    description,
    tags,
    category: server,
    tokens,
    counts,
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
