/**
 * One backend's catalog rules, compiled once from its config: which tools, resources and
 * prompts clients see (filters on the backend's own names), under which names (aliases,
 * namespacing, shortening; resource aliases replace the namespaced URI with their exact `to`),
 * and which arguments are injected into its tool calls.
 * Pure: no I/O, so every rule is covered by unit tables.
 */

import type { BackendConfig } from '../config/gateway.ts'
import { isResourceUri } from '../config/resource-uri.ts'
import { isObject, type JsonObject, keepLiterals } from '../jsonrpc/message.ts'
import { folded } from '../protocol/classify.ts'
import { type HeaderParam, headerParamsOf } from '../protocol/param-headers.ts'
import { resolvedUris, uriVisible } from '../protocol/resource-uri.ts'
import { localPart, namespaced, namespaceUri, unnamespaceUri, visibility } from './names.ts'
import { ParameterView } from './parameters.ts'

/** Bound on remembered shortened names per backend (a backend with more tools is unusual). */
const MAX_SHORT_NAMES = 10_000
const NONE: readonly HeaderParam[] = Object.freeze([])

const UI_META_KEYS = ['ui/resourceUri', 'openai/outputTemplate'] as const

export type ItemKind = 'tool' | 'prompt'

export class BackendCatalog {
  readonly name: string
  /** `{name}{separator}` before every client-facing name and URI; empty when unprefixed. */
  readonly #prefix: string
  readonly #toolVisible: (name: string) => boolean
  readonly #promptVisible: (name: string) => boolean
  readonly #resourceVisible: (uri: string) => boolean
  /** original local name → alias */
  readonly #aliases = new Map<string, { to?: string; description?: string }>()
  /** alias local name → original local name */
  readonly #aliasTargets = new Map<string, string>()
  /** the backend's own resource URI → the exact URI clients see, and/or its description */
  readonly #uriAliases = new Map<string, { to?: string; description?: string }>()
  /** a resource alias's URI → the backend's own URI */
  readonly #uriAliasTargets = new Map<string, string>()
  /** shortened client-facing name → original local name */
  readonly #short = new Map<string, string>()
  readonly #defaultArgs: JsonObject
  readonly #inject: BackendConfig['inject_args']
  readonly #injectMatchers: Array<(name: string) => boolean>
  /** Backend tool name → how its parameters look to clients (`param_overrides`). */
  readonly #parameters = new Map<string, ParameterView>()
  /** `hide_destructive` / `read_only_only`: whether a tool's annotations let it be shown. */
  readonly #annotationFilter: ((annotations: unknown) => boolean) | undefined
  /** Backend tool name → that verdict, learned from the backend's tools/list (bounded). */
  readonly #annotationVerdicts = new Map<string, boolean>()
  /** Every tool's verdict is known (see `namesRead`): a name without one is not a tool. */
  #listedWhole = false
  /** The kinds whose every name was read from a complete listing since they last changed. */
  readonly #namesRead = new Set<ItemKind>()
  /** Where a lookup of names stopped in a list longer than it reads at once (its cursor). */
  readonly #resume = new Map<ItemKind, string>()
  /** The backend's own tool and prompt names seen in its listings (bounded), for aliases. */
  readonly #seen = { tool: new Set<string>(), prompt: new Set<string>() }
  /**
   * Backend tool name → the arguments its client-facing schema marks `x-mcp-header` (empty for
   * nearly all), learned from listings (bounded), cleared when the tools change.
   */
  readonly #headerParams = new Map<string, readonly HeaderParam[]>()
  /** Whether every listed tool's entry fit in `#headerParams` (its bound was never reached). */
  #headerParamsWhole = true

  constructor(config: BackendConfig, separator: string) {
    this.name = config.name
    this.#prefix = config.namespace ? config.name + separator : ''
    this.#toolVisible = visibility(config.expose_tools, config.hide_tools)
    this.#promptVisible = visibility(config.expose_prompts, config.hide_prompts)
    // Judged as written and as a server resolving it would read it (`file:///tmp/../etc/x`).
    const resourceVisible = visibility(config.expose_resources, config.hide_resources)
    const filtersResources = config.expose_resources.length + config.hide_resources.length > 0
    this.#resourceVisible = filtersResources
      ? (uri) => uriVisible(resourceVisible, uri)
      : resourceVisible
    for (const alias of config.aliases) {
      // The config tells a resource alias by its URI (`scheme://…`, `urn:…`); the rest rename
      // tools or prompts, which only the listings tell apart (`sawNames`).
      const resource = isResourceUri(alias.from)
      ;(resource ? this.#uriAliases : this.#aliases).set(alias.from, {
        ...(alias.to !== undefined ? { to: alias.to } : {}),
        ...(alias.description !== undefined ? { description: alias.description } : {}),
      })
      if (alias.to === undefined) continue
      ;(resource ? this.#uriAliasTargets : this.#aliasTargets).set(alias.to, alias.from)
    }
    this.#defaultArgs = config.default_args
    this.#inject = config.inject_args
    this.#injectMatchers = config.inject_args.map((rule) => visibility([rule.tool], []))
    for (const override of config.param_overrides) {
      this.#parameters.set(override.tool, new ParameterView(override))
    }
    this.#annotationFilter = annotationFilter(config)
  }

  /**
   * Whether this backend's name filters let a call of its own `local` tool, prompt or resource
   * through: for a call a canary, failover or mirror of another backend takes under that
   * backend's names (it is never sent one its own filters hide).
   */
  serves(kind: ItemKind | 'resource', local: string): boolean {
    if (kind === 'resource') return this.#resourceVisible(local)
    return kind === 'tool' ? this.#toolVisible(local) : this.#promptVisible(local)
  }

  /** Whether this backend sets tool arguments of its own (`default_args`, `inject_args`, `param_overrides`). */
  get shapesArguments(): boolean {
    return (
      this.#inject.length > 0 ||
      Object.keys(this.#defaultArgs).length > 0 ||
      this.#parameters.size > 0
    )
  }

  /** Whether tools are also filtered by their annotations (verdicts learned from listings). */
  get filtersAnnotations(): boolean {
    return this.#annotationFilter !== undefined
  }

  /** Whether the annotation filters let a tool with these annotations through. */
  annotationsShown(annotations: unknown): boolean {
    return this.#annotationFilter === undefined || this.#annotationFilter(annotations)
  }

  /**
   * Whether the annotation filters let a backend tool through: true or false once the tool was
   * seen in a listing, undefined before (and always true without such filters).
   */
  annotationVerdict(local: string): boolean | undefined {
    if (this.#annotationFilter === undefined) return true
    return this.#annotationVerdicts.get(local) ?? (this.#listedWhole ? false : undefined)
  }

  /**
   * The arguments a 2026-07-28 client mirrors as `Mcp-Param-*` headers when it calls `local`:
   * from the tool's listing; none when a complete listing did not show it; undefined before
   * its tools were listed.
   */
  headerParams(local: string): readonly HeaderParam[] | undefined {
    const known = this.#headerParams.get(local)
    if (known !== undefined) return known
    return this.#namesRead.has('tool') && this.#headerParamsWhole ? NONE : undefined
  }

  /** The backend's tools changed (`list_changed`): names it did not list may be its tools now. */
  toolsChanged(): void {
    this.#listedWhole = false
    this.#headerParams.clear()
    this.#headerParamsWhole = true
    this.#namesRead.delete('tool')
    this.#resume.delete('tool')
  }

  /** The backend's prompts changed (`list_changed`). */
  promptsChanged(): void {
    this.#namesRead.delete('prompt')
    this.#resume.delete('prompt')
  }

  /**
   * Whether `exposed` could be a shortened name of this backend that no listing has shown yet:
   * such a name is known only once the backend's list was read (see `Gateway.routeListed`).
   */
  mayBeUnreadShortName(kind: ItemKind, exposed: string): boolean {
    return (
      !this.#namesRead.has(kind) && !this.#short.has(exposed) && exposed.startsWith(this.#prefix)
    )
  }

  /**
   * A complete listing of `kind` was read: every shortened name of it is known, and (tools)
   * every tool's verdict was kept, so a name without one is not one of its tools and is refused
   * without another walk (a client sending unknown names must not make the gateway list the
   * backend each time).
   */
  namesRead(kind: ItemKind): void {
    this.#namesRead.add(kind)
    this.#resume.delete(kind)
    if (kind === 'tool' && this.#annotationVerdicts.size < MAX_SHORT_NAMES) {
      this.#listedWhole = true
    }
  }

  /** The cursor the next lookup of `kind`'s names goes on from (undefined: the start). */
  resumeAt(kind: ItemKind): string | undefined {
    return this.#resume.get(kind)
  }

  /** A lookup stopped before the end of the list: the next one goes on from `cursor`. */
  pauseAt(kind: ItemKind, cursor: string | undefined): void {
    if (cursor === undefined) this.#resume.delete(kind)
    else this.#resume.set(kind, cursor)
  }

  /**
   * The client-facing name of a local tool or prompt name. A rewritten name (shortened, or
   * made portable) that another item of the kind has as its own unchanged name (`db.query`
   * becomes `a__db_query_06d357e1` beside the backend's own `db_query_06d357e1`) goes to the
   * item that has it: the rewritten one is told apart by another hash, so each listed name
   * reaches its own item (the listing named both alike, and calls reached `db.query` only).
   */
  exposedName(local: string, kind?: ItemKind): string {
    const renamed = this.#aliases.get(local)?.to ?? local
    const plain = `${this.#prefix}${renamed}`
    let full = namespaced(this.#prefix, '', renamed)
    if (full === plain) return full
    if (kind !== undefined && this.#seen[kind].has(full.slice(this.#prefix.length))) {
      full = namespaced(this.#prefix, '', `${renamed}\u0000`)
    }
    if (this.#short.size < MAX_SHORT_NAMES) this.#short.set(full, local)
    return full
  }

  /** The namespaced own name of a local tool or prompt, alias or not (still routed). */
  namespacedName(local: string): string {
    return namespaced(this.#prefix, '', local)
  }

  /**
   * The backend's own name for a client-facing tool or prompt name, or undefined when the name
   * is not this backend's or is filtered out (callers answer "unknown tool" either way).
   */
  resolve(kind: ItemKind, exposed: string): string | undefined {
    const literal = localPart(this.#prefix, '', exposed)
    // An item listed under this very name is it, whatever another's rewritten name once was.
    const short =
      literal !== undefined && this.#seen[kind].has(literal) ? undefined : this.#short.get(exposed)
    const local = short ?? literal
    if (local === undefined) return undefined
    const original = short ?? this.#aliasOf(kind, local) ?? local
    const visible = kind === 'tool' ? this.#toolVisible : this.#promptVisible
    return visible(original) ? original : undefined
  }

  /** Whether a client-facing name has this backend's prefix (or is a known shortened name). */
  owns(exposed: string): boolean {
    return this.#short.has(exposed) || exposed.startsWith(this.#prefix)
  }

  /** Whether a client-facing URI is one of this backend's: a resource alias or namespaced. */
  ownsUri(uri: string): boolean {
    return this.#uriAliasTargets.has(uri) || unnamespaceUri(this.#prefix, '', uri) !== undefined
  }

  /** Whether any resource of this backend is renamed (`resourceNames` has work to do). */
  get aliasesResources(): boolean {
    return this.#uriAliasTargets.size > 0
  }

  /**
   * The backend's URI for a client-facing one, or undefined (not ours, or filtered). A resource
   * alias's URI reaches its source first (it takes the URI even from a resource of the backend
   * whose namespaced URI it is, as tool aliases do); the source's namespaced URI still reaches
   * it too, as mcp-proxy's reverse lookup touches alias names only.
   */
  resolveUri(exposed: string): string | undefined {
    const aliased = this.#uriAliasTargets.get(exposed)
    const uri = aliased ?? unnamespaceUri(this.#prefix, '', exposed)
    if (uri === undefined || !this.#resourceVisible(uri)) return undefined
    // Another spelling of a URI an alias took (`memo://sub__C`, `memo://sub__u@c` for the
    // alias `memo://sub__c`): the backend's own resource there is reached by nobody.
    if (aliased === undefined && this.#uriAliasTargets.size > 0) {
      for (const resolved of resolvedUris(uri)) {
        const taker = this.#uriAliasTargets.get(this.namespacedUri(resolved))
        if (taker !== undefined && taker !== resolved) return undefined
      }
    }
    return uri
  }

  /**
   * The URI clients see for one of the backend's resource URIs: its alias's, else namespaced.
   * Everything that hands a URI to a client goes through here (lists, `_meta` widget links,
   * result contents, `notifications/resources/updated`), so they all name it alike.
   */
  exposeUri(uri: string): string {
    return this.#uriAliases.get(uri)?.to ?? namespaceUri(this.#prefix, '', uri)
  }

  /** The namespaced URI of one of the backend's URIs, alias or not (still routed: see `resolveUri`). */
  namespacedUri(uri: string): string {
    return namespaceUri(this.#prefix, '', uri)
  }

  /** A tool definition as clients see it, or undefined when it is filtered out. */
  tool(tool: JsonObject): JsonObject | undefined {
    if (typeof tool.name !== 'string' || !this.#toolVisible(tool.name)) return undefined
    if (this.#shadowed('tool', tool.name)) return undefined
    if (this.#annotationFilter !== undefined) {
      const shown = this.#annotationFilter(tool.annotations)
      if (
        this.#annotationVerdicts.size < MAX_SHORT_NAMES ||
        this.#annotationVerdicts.has(tool.name)
      ) {
        this.#annotationVerdicts.set(tool.name, shown)
      }
      if (!shown) return undefined
    }
    const out: JsonObject = { ...tool, name: this.exposedName(tool.name, 'tool') }
    const description = this.#aliases.get(tool.name)?.description
    if (description !== undefined) out.description = description
    if (isObject(tool._meta)) out._meta = this.#uiMeta(tool._meta)
    // The gateway relays no tasks (a task-augmented call runs as a plain one): a client told
    // the tool takes them would ask for a task whose result it could never fetch.
    if (isObject(tool.execution) && tool.execution.taskSupport !== undefined) {
      const { taskSupport: _relayedNot, ...execution } = tool.execution
      if (Object.keys(execution).length > 0) out.execution = execution
      else delete out.execution
    }
    const parameters = this.#parameters.get(tool.name)
    if (parameters !== undefined && isObject(tool.inputSchema)) {
      out.inputSchema = parameters.schema(tool.inputSchema)
    }
    this.#learnHeaderParams(tool.name, out.inputSchema)
    return out
  }

  /** What clients are told to mirror is what their calls are judged by (see `headerParams`). */
  #learnHeaderParams(local: string, schema: unknown): void {
    if (this.#headerParams.size >= MAX_SHORT_NAMES && !this.#headerParams.has(local)) {
      this.#headerParamsWhole = false
      return
    }
    const params = headerParamsOf(schema)
    this.#headerParams.set(local, params.length === 0 ? NONE : params)
  }

  prompt(prompt: JsonObject): JsonObject | undefined {
    if (typeof prompt.name !== 'string' || !this.#promptVisible(prompt.name)) return undefined
    if (this.#shadowed('prompt', prompt.name)) return undefined
    const out: JsonObject = { ...prompt, name: this.exposedName(prompt.name, 'prompt') }
    const description = this.#aliases.get(prompt.name)?.description
    if (description !== undefined) out.description = description
    return out
  }

  /**
   * Notes the names a listing page holds, before its items are exposed: an alias renames a
   * tool or a prompt (the config does not say which), and only the listings tell which kind
   * its source name is.
   */
  sawNames(kind: ItemKind, items: readonly unknown[]): void {
    const seen = this.#seen[kind]
    for (const item of items) {
      if (seen.size >= MAX_SHORT_NAMES) return
      if (isObject(item) && typeof item.name === 'string') seen.add(item.name)
    }
  }

  /**
   * The alias source a client-facing local name stands for, of this kind: an alias whose
   * source the listings show is of the other kind only (a tool `slow` renamed `echo`) does not
   * apply to this kind's own `echo` (a prompt). Before any listing, aliases apply as written.
   */
  #aliasOf(kind: ItemKind, local: string): string | undefined {
    const aliased = this.#aliasTargets.get(local)
    if (aliased === undefined) return undefined
    const seen = this.#seen[kind]
    // The other kind's listing shows the source, this kind's does not: the alias is not ours
    // (a tool alias `t` → `p` leaves the prompt `p` reachable before any prompt listing).
    const other = this.#seen[kind === 'tool' ? 'prompt' : 'tool']
    if (other.has(aliased) && !seen.has(aliased)) return undefined
    return seen.size > 0 && !seen.has(aliased) && seen.has(local) ? undefined : aliased
  }

  /**
   * An alias that renames another tool to this one's name (`from = "slow"`, `to = "echo"` while
   * the backend has its own `echo`) takes the name: calls to it reach the aliased tool, so the
   * backend's own tool of that name is not listed (the list would name two tools alike). A
   * tool renamed by an alias of its own is listed under that (aliases that swap two names, or
   * chain them, list both tools).
   */
  #shadowed(kind: ItemKind, local: string): boolean {
    if (this.#aliases.get(local)?.to !== undefined) return false
    const aliased = this.#aliasOf(kind, local)
    return aliased !== undefined && aliased !== local
  }

  resource(resource: JsonObject): JsonObject | undefined {
    const uri = resource.uri
    if (typeof uri !== 'string' || !this.#resourceVisible(uri)) return undefined
    // A resource whose URI an alias took (see resolveUri) is reached by nobody: not listed.
    const taker = this.#uriAliasTargets.get(this.namespacedUri(uri))
    if (taker !== undefined && taker !== uri) return undefined
    const out: JsonObject = { ...resource, uri: this.exposeUri(uri) }
    const description = this.#uriAliases.get(uri)?.description
    if (description !== undefined) out.description = description
    return out
  }

  /** Templates are namespaced, never aliased (mcp-proxy's rule: an alias names one URI). */
  template(template: JsonObject): JsonObject | undefined {
    const uri = template.uriTemplate
    if (typeof uri !== 'string' || !this.#resourceVisible(uri)) return undefined
    return { ...template, uriTemplate: this.namespacedUri(uri) }
  }

  /** Namespaces the UI resource links of a tool's `_meta` (MCP Apps and OpenAI keys). */
  #uiMeta(meta: JsonObject): JsonObject {
    const out: JsonObject = { ...meta }
    if (isObject(meta.ui) && typeof meta.ui.resourceUri === 'string') {
      out.ui = { ...meta.ui, resourceUri: this.exposeUri(meta.ui.resourceUri) }
    }
    for (const key of UI_META_KEYS) {
      const value = meta[key]
      if (typeof value === 'string') out[key] = this.exposeUri(value)
    }
    return out
  }

  /**
   * Namespaces the URIs inside content (`resource_link` items, embedded resources,
   * `resources/read` contents), and the widget a result's `_meta` points at (`ui.resourceUri`,
   * `openai/outputTemplate`, as in a tool's definition), so clients can read them back through
   * the gateway and the CSP rules written for the URIs clients see apply to them.
   */
  content(result: JsonObject): JsonObject {
    const out: JsonObject = { ...result }
    for (const key of ['content', 'contents', 'messages'] as const) {
      const list = result[key]
      if (Array.isArray(list)) out[key] = list.map((item) => this.#contentItem(item))
    }
    if (isObject(result._meta)) out._meta = this.#uiMeta(result._meta)
    return out
  }

  #contentItem(item: unknown): unknown {
    if (!isObject(item)) return item
    if (typeof item.uri === 'string') return { ...item, uri: this.exposeUri(item.uri) }
    if (isObject(item.resource) && typeof item.resource.uri === 'string') {
      return { ...item, resource: { ...item.resource, uri: this.exposeUri(item.resource.uri) } }
    }
    if (isObject(item.content)) return { ...item, content: this.#contentItem(item.content) }
    return item
  }

  /**
   * Arguments for a call of local tool `tool`. Precedence, highest first:
   * 1. `inject_args` rules with `overwrite = true` (later rules win among themselves);
   * 2. what the client sent (its renamed parameters under their own names, hidden ones
   *    dropped: `param_overrides`);
   * 3. the tool's `param_overrides` defaults;
   * 4. `inject_args` rules without overwrite (later rules win);
   * 5. `default_args`.
   * Missing or non-object `arguments` count as `{}`, so injection always happens.
   */
  injectArgs(tool: string, args: unknown): JsonObject {
    const given = isObject(args) ? args : {}
    const client = this.#parameters.get(tool)?.arguments(given) ?? given
    if (this.#inject.length === 0 && Object.keys(this.#defaultArgs).length === 0) return client
    const filled: JsonObject = { ...this.#defaultArgs }
    const forced: JsonObject = {}
    this.#inject.forEach((rule, i) => {
      if (!this.#injectMatchers[i]?.(tool)) return
      Object.assign(rule.overwrite ? forced : filled, rule.args)
    })
    // The client's 64-bit integers go on with their digits (`keepLiterals`).
    return keepLiterals(client, { ...filled, ...withoutForced(client, forced), ...forced })
  }
}

/**
 * The client's arguments without those an `overwrite` rule sets, in any case: `Tenant` beside
 * the forced `tenant` reached the backend, and a Go backend (case-insensitive, the last one
 * winning) read the client's tenant.
 */
function withoutForced(client: JsonObject, forced: JsonObject): JsonObject {
  const names = Object.keys(forced)
  if (names.length === 0) return client
  const taken = new Set(names.map(folded))
  const out = new Map<string, unknown>()
  for (const [name, value] of Object.entries(client)) {
    if (!taken.has(folded(name))) out.set(name, value)
  }
  return Object.fromEntries(out) as JsonObject
}

/** The annotation filters of a backend's config, or undefined when it sets none. */
function annotationFilter(config: BackendConfig): ((annotations: unknown) => boolean) | undefined {
  if (!config.hide_destructive && !config.read_only_only) return undefined
  return (annotations) => {
    const hints = isObject(annotations) ? annotations : {}
    const readOnly = hints.readOnlyHint === true
    if (config.read_only_only && !readOnly) return false
    // The spec's defaults: destructiveHint true unless said otherwise, and meaningless for a
    // read-only tool. mcp-proxy keeps a tool without annotations; by the spec it may destroy.
    if (config.hide_destructive && !readOnly && hints.destructiveHint !== false) return false
    return true
  }
}
