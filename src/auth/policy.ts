/**
 * Authorization decisions: may this identity use this tool, resource or prompt? Roles allow
 * and deny by glob on client-facing names (namespaced in gateway mode; resources by URI, or
 * URI template in listings; an aliased one is judged under its alias too, and a resource's
 * deny holds under its alias and its namespaced URI alike). An identity with admin rights may
 * use everything; Portico's own admin tools (`portico{separator}*`, gateway mode) need admin
 * rights whenever auth is on. An identity with no role is unrestricted (mcp-proxy's rule)
 * unless `default_deny` refused it at the filter. With several roles, one allowing is enough.
 * A URL-path profile (`/mcp/{name}`) narrows what any caller reaching it may use.
 */
import type { AuthConfig, RoleConfig } from '../config/auth.ts'
import type { Identity } from '../pipeline/identity.ts'
import { resolvedUris } from '../protocol/resource-uri.ts'
import { globsTest } from '../util/glob.ts'
import { scopedRoleName } from './api-keys.ts'

export type TargetKind = 'tool' | 'resource' | 'prompt'

type Test = (name: string) => boolean

interface Rule {
  allow: Test | undefined
  deny: Test | undefined
}

interface CompiledRole {
  tool: Rule
  resource: Rule
  prompt: Rule
}

/**
 * The test of role globs (`*` any run, `?` one UTF-16 code unit, else literal; util/glob.ts,
 * linear in the name a client chose), or undefined for none.
 */
function globsOf(patterns: readonly string[] | undefined): Test | undefined {
  return patterns === undefined || patterns.length === 0 ? undefined : globsTest(patterns)
}

/**
 * Whether a rule admits something named `names` (each must be allowed and none denied) that
 * also goes by `others` (none of them denied: a deny under any name of it holds).
 */
function admits(rule: Rule, names: readonly string[], others: readonly string[]): boolean {
  const { allow, deny } = rule
  if (allow !== undefined && !names.every(allow)) return false
  if (deny === undefined) return true
  return !names.some(deny) && !others.some(deny)
}

function rule(allow: readonly string[] | undefined, deny: readonly string[]): Rule {
  return { allow: globsOf(allow), deny: globsOf(deny) }
}

function compile(
  role: Pick<RoleConfig, `${'allow' | 'deny'}_${'tools' | 'resources' | 'prompts'}`>,
): CompiledRole {
  return {
    tool: rule(role.allow_tools, role.deny_tools),
    resource: rule(role.allow_resources, role.deny_resources),
    prompt: rule(role.allow_prompts, role.deny_prompts),
  }
}

/**
 * The names of the tool or prompt callable as `name` (gateway mode): `exposed`, the name
 * clients see (its alias, if it has one), and `original`, its namespaced own name, which still
 * reaches it; undefined when nothing routes `name`.
 */
export type ItemNames = (
  kind: 'tool' | 'prompt',
  name: string,
) => { exposed: string; original: string } | undefined

/**
 * The names of an aliased resource a URI reaches (gateway mode): `exposed`, the alias clients
 * see, and `original`, its namespaced URI, which still reaches it; undefined when no alias
 * renames what the URI reaches.
 */
export type ResourceNames = (uri: string) => { exposed: string; original: string } | undefined

/**
 * The client-facing names of what `uri` reaches, resolved on the backend's side (gateway mode):
 * the backend URI as a server would read it, named as clients see it (`exposed`: its alias,
 * else namespaced) and namespaced (`original`), judged as `ResourceNames` are. `https://c__u@internal/x`
 * routes to backend `c` as `https://u@internal/x`, read as `https://internal/x`: judged as
 * `https://c__internal/x`, the URI roles are written for. Undefined when nothing routes it.
 */
export type CanonicalUri = (
  uri: string,
) => ReadonlyArray<{ exposed: string; original: string }> | undefined

/** How the gateway names what it routes, for judging a call under every name it goes by. */
export interface GatewayNames {
  itemNames: ItemNames
  resourceNames: ResourceNames
  canonicalUri: CanonicalUri
}

export class Policy {
  /** In gateway mode: the names of an aliased tool or prompt (see ItemNames). */
  itemNames: ItemNames | undefined
  /** In gateway mode: the names of an aliased resource (see ResourceNames). */
  resourceNames: ResourceNames | undefined
  /** In gateway mode: a URI as its backend would read it, namespaced (see CanonicalUri). */
  canonicalUri: CanonicalUri | undefined
  readonly #roles = new Map<string, CompiledRole>()
  readonly #profiles = new Map<string, CompiledRole>()
  readonly #adminPrefix: string | undefined
  readonly #openTools: ReadonlySet<string>

  /**
   * `adminPrefix`: the admin tools' prefix in gateway mode (`portico__`), else undefined;
   * `openTools`: names under it that need no admin rights (tool discovery).
   */
  constructor(
    auth: AuthConfig,
    adminPrefix: string | undefined,
    openTools: readonly string[] = [],
  ) {
    this.#adminPrefix = adminPrefix
    this.#openTools = new Set(
      adminPrefix === undefined ? [] : openTools.map((t) => adminPrefix + t),
    )
    for (const role of auth.roles) this.#roles.set(role.name, compile(role))
    for (const profile of auth.profiles) this.#profiles.set(profile.name, compile(profile))
    auth.scoped_tokens.forEach((scoped, i) => {
      this.#roles.set(
        scopedRoleName(i),
        compile({
          allow_tools: scoped.allow_tools,
          deny_tools: scoped.deny_tools,
          allow_resources: undefined,
          deny_resources: [],
          allow_prompts: undefined,
          deny_prompts: [],
        }),
      )
    })
  }

  isAdminTool(kind: TargetKind, name: string): boolean {
    return (
      kind === 'tool' &&
      this.#adminPrefix !== undefined &&
      name.startsWith(this.#adminPrefix) &&
      !this.#openTools.has(name)
    )
  }

  /** Portico's tools every caller may use (tool discovery): they answer on its behalf. */
  isOpenTool(name: string): boolean {
    return this.#openTools.has(name)
  }

  /** Whether a URL-path profile of this name is configured. */
  hasProfile(profile: string): boolean {
    return this.#profiles.has(profile)
  }

  /**
   * Whether `identity` may use `name`, reached through `profile` (a URL-path profile): both
   * its roles and the profile must allow it. Admin rights do not widen a profile.
   */
  allows(identity: Identity, kind: TargetKind, name: string, profile?: string): boolean {
    if (kind === 'resource') {
      // `file:///tmp/../etc/passwd`, `file:////etc/passwd`, `file://localhost/etc/passwd`: a
      // server that resolves the URI reads /etc/passwd, which `deny_resources = ["file:///etc/*"]`
      // must catch. The URI is allowed only if its resolved spelling is allowed too.
      for (const resolved of resolvedUris(name)) {
        if (!this.#allowsName(identity, kind, resolved, profile)) return false
      }
      for (const { exposed, original } of this.canonicalUri?.(name) ?? []) {
        const others = original === exposed ? [] : [original]
        if (!this.#allowsNames(identity, kind, [exposed], others, profile)) return false
      }
      // An aliased resource: allowed under the name used and its alias (the name roles are
      // written for, as for tools), and denied if a role denies any of its names, so a rule
      // on the alias or on the namespaced URI holds whichever one the client reads by.
      const names = this.resourceNames?.(name)
      if (names !== undefined) {
        const judged = names.exposed === name ? [name] : [name, names.exposed]
        return this.#allowsNames(identity, kind, judged, [names.original], profile)
      }
    } else if (this.itemNames !== undefined) {
      // An aliased tool or prompt: judged under the name called and its alias (the name roles
      // are written for), and denied if a role denies its original name too, so that neither
      // name is a way around a rule written for the other.
      const names = this.itemNames(kind, name)
      if (names !== undefined && (names.exposed !== name || names.original !== name)) {
        const judged = names.exposed === name ? [name] : [name, names.exposed]
        const others = judged.includes(names.original) ? [] : [names.original]
        return this.#allowsNames(identity, kind, judged, others, profile)
      }
    }
    return this.#allowsName(identity, kind, name, profile)
  }

  #allowsName(identity: Identity, kind: TargetKind, name: string, profile?: string): boolean {
    return this.#allowsNames(identity, kind, [name], [], profile)
  }

  /** `names[0]` is the name called; `names` and `others` as in `admits`. */
  #allowsNames(
    identity: Identity,
    kind: TargetKind,
    names: readonly string[],
    others: readonly string[],
    profile?: string,
  ): boolean {
    const name = names[0] ?? ''
    // The discovery tools are open on a profile's path too: what they answer and call is
    // narrowed to the profile (and the roles) by the caller's `visible` and the inner call's
    // own judgement. Judged by the profile, a profile's clients in search mode had nothing.
    if (kind === 'tool' && this.#openTools.has(name) && !this.isAdminTool(kind, name)) return true
    if (profile !== undefined) {
      const scoped = this.#profiles.get(profile)
      if (scoped === undefined || !admits(scoped[kind], names, others)) return false
    }
    if (this.isAdminTool(kind, name)) return identity.admin
    if (this.#openTools.has(name)) return true
    if (identity.admin || identity.roles.length === 0) return true
    for (const roleName of identity.roles) {
      const role = this.#roles.get(roleName)
      if (role !== undefined && admits(role[kind], names, others)) return true
    }
    return false
  }

  /** True when this identity sees every name (lists need no filtering). */
  unrestricted(identity: Identity, profile?: string): boolean {
    if (profile !== undefined) return false
    return identity.admin || (identity.roles.length === 0 && this.#adminPrefix === undefined)
  }
}
