/**
 * The runtime CSP policy, compiled once from config: the public origin, the global rule of each
 * directive, the compiled widget globs, and the test for development-local sources. `cspFor`
 * applies it to what one widget declared.
 */
import { type CspConfig, type CspWidgetConfig, cspDomainAlias } from '../config/csp.ts'
import { type GlobTest, globTest } from '../util/glob.ts'
import { DIRECTIVE_SPECS, DIRECTIVES, type Directive } from './directives.ts'
import { type DomainRule, hostPortOf, localSourceTest, mergeDirective } from './merge.ts'

export type DirectiveLists = Record<Directive, string[]>

export interface WidgetRule {
  /**
   * The widget glob (`*` any run of characters, slashes and line breaks included, `?` one UTF-16
   * code unit, the rest literal; the whole URI), tested against URIs the upstream chose.
   */
  match: GlobTest
  rules: Partial<Record<Directive, DomainRule>>
}

export interface CspPolicy {
  publicOrigin?: string
  /** Value written to `_meta["openai/widgetDomain"]`, when configured. */
  widgetDomain?: string
  global: Readonly<Record<Directive, DomainRule>>
  widgets: readonly WidgetRule[]
  isLocal(source: string): boolean
}

export interface CspPolicyOptions {
  csp?: CspConfig
  /** Portico's `public_url`; wins over mcpr's `csp.domain`. */
  publicUrl?: string
  /** URLs of the app's own servers (upstream, widget dev server): their sources count as local. */
  selfUrls?: readonly string[]
  /** More of them, read when a widget is rewritten (gateway backends added at run time). */
  addedSelfUrls?: () => readonly string[]
}

export function compileCspPolicy(options: CspPolicyOptions): CspPolicy {
  const csp = options.csp
  const domainAlias = cspDomainAlias(csp?.domain)
  const publicOrigin = options.publicUrl ? new URL(options.publicUrl).origin : domainAlias?.origin
  const widgetDomain = csp?.widgetDomain ?? domainAlias?.host
  const global = Object.fromEntries(
    DIRECTIVES.map((directive) => [directive, globalRule(csp, directive)]),
  ) as Record<Directive, DomainRule>
  const policy: CspPolicy = {
    global,
    widgets: (csp?.widget ?? []).map(widgetRule),
    isLocal: withAddedSelves(
      localSourceTest((options.selfUrls ?? []).map(hostPortOf)),
      options.addedSelfUrls,
    ),
  }
  if (publicOrigin !== undefined) policy.publicOrigin = publicOrigin
  if (widgetDomain !== undefined) policy.widgetDomain = widgetDomain
  return policy
}

/**
 * `isLocal` that also counts the sources of servers added after the policy was built (a backend
 * added over the admin API: its private address reached every client). Its test is built again
 * only when that list changes.
 */
function withAddedSelves(
  isLocal: (source: string) => boolean,
  added: (() => readonly string[]) | undefined,
): (source: string) => boolean {
  if (added === undefined) return isLocal
  let seen = ''
  let isAdded: (source: string) => boolean = () => false
  return (source) => {
    if (isLocal(source)) return true
    const urls = added()
    if (urls.length === 0) return false
    const key = urls.join('\n')
    if (key !== seen) {
      seen = key
      isAdded = localSourceTest(urls.map(hostPortOf))
    }
    return isAdded(source)
  }
}

function globalRule(csp: CspConfig | undefined, directive: Directive): DomainRule {
  const spec = DIRECTIVE_SPECS[directive]
  const table = csp?.[`${directive}Domains`]
  if (table) return { mode: table.mode ?? spec.defaultMode, domains: table.domains }
  const flat = directive === 'connect' || directive === 'resource'
  if (flat && (csp?.mode !== undefined || csp?.domains !== undefined)) {
    return { mode: csp.mode ?? spec.defaultMode, domains: csp.domains ?? [] }
  }
  return { mode: spec.defaultMode, domains: [] }
}

function widgetRule(widget: CspWidgetConfig): WidgetRule {
  const rules: Partial<Record<Directive, DomainRule>> = {}
  for (const directive of DIRECTIVES) {
    const domains = widget[`${directive}Domains`]
    const mode = widget[`${directive}DomainsMode`]
    if (domains === undefined && mode === undefined) continue
    rules[directive] = { mode: mode ?? 'extend', domains: domains ?? [] }
  }
  return { match: globTest(widget.match), rules }
}

/** The final lists of every directive for one widget (`uri` selects the widget rules). */
export function cspFor(
  policy: CspPolicy,
  uri: string | undefined,
  declared: DirectiveLists,
): DirectiveLists {
  const matching = uri === undefined ? [] : policy.widgets.filter((w) => w.match(uri))
  const out = {} as DirectiveLists
  for (const directive of DIRECTIVES) {
    const widgets: DomainRule[] = []
    for (const widget of matching) {
      const rule = widget.rules[directive]
      if (rule) widgets.push(rule)
    }
    out[directive] = mergeDirective({
      declared: declared[directive],
      global: policy.global[directive],
      widgets,
      ...(policy.publicOrigin === undefined ? {} : { publicOrigin: policy.publicOrigin }),
      leadWithPublicOrigin: DIRECTIVE_SPECS[directive].includesPublicOrigin,
      isLocal: policy.isLocal,
    })
  }
  return out
}
