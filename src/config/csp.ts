/**
 * The `[csp]` config table (mcpr-compatible): one sub-table per directive with `domains` and
 * `mode`, `[[csp.widget]]` overrides matched by a glob on the resource URI, mcpr's `domain`
 * alias and legacy flat `mode`/`domains`, and `widgetDomain` for ChatGPT.
 */
import { z } from 'zod'
/**
 * What a CSP source may contain: printable ASCII (the grammar of a source; a control character
 * made a policy no header can carry, and hosts refuse it) without `;`, `,` or quotes (they would
 * split the policy). An internationalized domain is written in its `xn--` form.
 */
export const SAFE_SOURCE = /^[\x21\x23-\x26\x28-\x2b\x2d-\x3a\x3c-\x7e]+$/

/** `extend` or `replace`, case-insensitive; mcpr's legacy `override` means `replace`. */
export const modeSchema = z
  .preprocess(
    (value) => (typeof value === 'string' ? value.trim().toLowerCase() : value),
    z.enum(['extend', 'replace', 'override'], {
      error: 'expected "extend" or "replace"',
    }),
  )
  .transform((mode) => (mode === 'override' ? 'replace' : mode))

/**
 * A CSP source as hosts accept it: an origin (`https://api.example.com`, `wss://…:8443`), a
 * wildcard subdomain (`https://*.example.com`) or a bare host. Whitespace, `;`, `,` and quotes
 * would split or break the policy a host builds, so they are refused.
 */
export const domainSchema = z
  .string()
  .trim()
  .min(1, 'expected a domain such as "https://api.example.com"')
  .regex(
    SAFE_SOURCE,
    'a domain is printable ASCII without spaces, ";", "," or quotes (an internationalized one in its xn-- form)',
  )

const domains = z.array(domainSchema)

const directiveTable = z.strictObject({
  domains: domains.default([]),
  /** Absent: the directive's default (`replace` for frames, `extend` for the others). */
  mode: modeSchema.optional(),
})

/** A directive given here (domains or mode) layers on the global one; mode defaults to `extend`. */
const widgetSchema = z.strictObject({
  /** Glob on the resource URI (`uriTemplate` for templates): `*` any run, `?` one character. */
  match: z
    .string({ error: 'expected a glob such as "ui://widget/*"' })
    .trim()
    .min(1, 'expected a glob such as "ui://widget/*"'),
  connectDomains: domains.optional(),
  connectDomainsMode: modeSchema.optional(),
  resourceDomains: domains.optional(),
  resourceDomainsMode: modeSchema.optional(),
  frameDomains: domains.optional(),
  frameDomainsMode: modeSchema.optional(),
  baseUriDomains: domains.optional(),
  baseUriDomainsMode: modeSchema.optional(),
  redirectDomains: domains.optional(),
  redirectDomainsMode: modeSchema.optional(),
})

/**
 * Whether an absolute URL's host is a name or an address, with its port: what a CSP source can
 * carry. The URL parser takes `;`, `,`, quotes and `*` in a host, and the public origin goes
 * into every widget's policy, where they would split or widen it (`https://a.com;script-src`).
 */
export function hasPlainHost(value: string): boolean {
  return !URL.canParse(value) || PLAIN_HOST.test(new URL(value).host)
}

const PLAIN_HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(:\d+)?$/i
export const PLAIN_HOST_MESSAGE =
  'its host must be a name or an address (letters, digits, ".", "-"): it goes into every widget\'s CSP'

/** mcpr's `csp.domain`: a bare host (`mcp.example.com`) or an origin; means `https://<host>`. */
const publicHost = z
  .string()
  .trim()
  .refine(
    (value) =>
      value === '' || URL.canParse(/^https?:\/\//i.test(value) ? value : `https://${value}`),
    {
      message: 'expected a host such as "mcp.example.com"',
    },
  )
  // It stands for `public_url`'s origin: a path, a query or credentials would be dropped
  // without a word (a path from the OAuth resource, as `public_url`'s is refused there).
  .refine((value) => value === '' || !URL.canParse(asUrl(value)) || isBareOrigin(asUrl(value)), {
    message:
      'a domain names a host or an origin ("mcp.example.com", "https://mcp.example.com:8443"), without a path, query or credentials; behind a proxy on a sub-path set public_url and auth.resource',
  })
  .refine((value) => value === '' || hasPlainHost(asUrl(value)), { message: PLAIN_HOST_MESSAGE })

const asUrl = (value: string) => (/^https?:\/\//i.test(value) ? value : `https://${value}`)

/** Whether an absolute URL is an origin and nothing else (a trailing `/` allowed). */
export function isBareOrigin(value: string): boolean {
  const url = new URL(value)
  return (
    url.pathname === '/' &&
    url.search === '' &&
    url.hash === '' &&
    url.username === '' &&
    url.password === '' &&
    !/[?#]/.test(value)
  )
}

/**
 * The origin and host mcpr's `[csp] domain` names (`mcp.example.com` is
 * `https://mcp.example.com`), or undefined for an empty or unreadable one.
 */
export function cspDomainAlias(
  domain: string | undefined,
): { origin: string; host: string } | undefined {
  const value = domain?.trim()
  if (!value) return undefined
  const url = /^https?:\/\//i.test(value) ? value : `https://${value}`
  if (!URL.canParse(url)) return undefined
  const parsed = new URL(url)
  return { origin: parsed.origin, host: parsed.host }
}

export const cspSchema = z.strictObject({
  domain: publicHost.optional(),
  /** Written to `_meta["openai/widgetDomain"]` on every widget. */
  widgetDomain: domainSchema.optional(),
  /** Legacy flat shape: applies to connect and resource unless their own table is present. */
  mode: modeSchema.optional(),
  domains: domains.optional(),
  connectDomains: directiveTable.optional(),
  resourceDomains: directiveTable.optional(),
  frameDomains: directiveTable.optional(),
  baseUriDomains: directiveTable.optional(),
  redirectDomains: directiveTable.optional(),
  widget: z.array(widgetSchema).default([]),
})

export type CspConfig = z.output<typeof cspSchema>
export type CspWidgetConfig = z.output<typeof widgetSchema>
