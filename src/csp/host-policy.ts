/**
 * Builds the Content-Security-Policy a host puts on a widget's sandbox from the widget's
 * metadata, following the MCP Apps spec (declared domains extend a deny-by-default policy;
 * omitted frames ⇒ `frame-src 'none'`, omitted base URIs ⇒ `base-uri 'self'`). Plays the host's
 * part from either metadata shape: in the studio's widget preview (web/) and the browser tests.
 * Pure (no Node API): it is bundled into the page.
 */

export interface HostCspInput {
  connect: readonly string[]
  resource: readonly string[]
  frame: readonly string[]
  baseUri: readonly string[]
}

/**
 * The server's domains that can be CSP sources: one token each. A value with a `;`, a `,`,
 * whitespace, a control character or a quote would end the directive and start others (`x; sandbox allow-same-origin`)
 * in a policy that a server's metadata must only widen by sources: dropped.
 */
function strings(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((v): v is string => typeof v === 'string' && SOURCE.test(v))
    : []
}

/** config/csp.ts's SAFE_SOURCE (printable ASCII, no `;`, `,` or quotes): the page bundles no zod. */
const SOURCE = /^[\x21\x23-\x26\x28-\x2b\x2d-\x3a\x3c-\x7e]+$/

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {}
}

/** Reads `_meta.ui.csp` (MCP Apps hosts). */
export function fromUiMeta(meta: unknown): HostCspInput {
  const csp = record(record(record(meta).ui).csp)
  return {
    connect: strings(csp.connectDomains),
    resource: strings(csp.resourceDomains),
    frame: strings(csp.frameDomains),
    baseUri: strings(csp.baseUriDomains),
  }
}

/** Reads `_meta["openai/widgetCSP"]` (ChatGPT). */
export function fromOpenAiMeta(meta: unknown): HostCspInput {
  const csp = record(record(meta)['openai/widgetCSP'])
  return {
    connect: strings(csp.connect_domains),
    resource: strings(csp.resource_domains),
    frame: strings(csp.frame_domains),
    baseUri: [],
  }
}

function sources(base: string[], extra: readonly string[], none = "'none'"): string {
  const all = [...base, ...extra]
  return all.length === 0 ? none : all.join(' ')
}

export function buildHostCsp(input: HostCspInput): string {
  const { resource } = input
  return [
    "default-src 'none'",
    `script-src ${sources(["'self'", "'unsafe-inline'"], resource)}`,
    `style-src ${sources(["'self'", "'unsafe-inline'"], resource)}`,
    `img-src ${sources(["'self'", 'data:'], resource)}`,
    `font-src ${sources(["'self'"], resource)}`,
    `media-src ${sources(["'self'", 'data:'], resource)}`,
    `connect-src ${sources([], input.connect)}`,
    `frame-src ${sources([], input.frame)}`,
    `base-uri ${sources([], input.baseUri, "'self'")}`,
    "object-src 'none'",
  ].join('; ')
}
