/**
 * The five CSP directives Portico manages, and how each is spelled in the two metadata shapes
 * hosts read: MCP Apps `_meta.ui.csp` (camelCase) and OpenAI Apps SDK `_meta["openai/widgetCSP"]`
 * (snake_case). A directive a shape does not have is absent from that shape.
 */

export const DIRECTIVES = ['connect', 'resource', 'frame', 'baseUri', 'redirect'] as const
export type Directive = (typeof DIRECTIVES)[number]

export type Mode = 'extend' | 'replace'

export interface DirectiveSpec {
  /** Key in `_meta.ui.csp` (MCP Apps), when that shape has the directive. */
  ui?: string
  /** Key in `_meta["openai/widgetCSP"]` (ChatGPT), when that shape has the directive. */
  openai?: string
  /** Mode when the config does not name one. */
  defaultMode: Mode
  /**
   * Whether Portico's public origin is always listed first: widgets load their assets and call
   * their API through Portico. Never for frames (hosts review iframe-embedding widgets harder).
   */
  includesPublicOrigin: boolean
}

export const DIRECTIVE_SPECS: Readonly<Record<Directive, DirectiveSpec>> = {
  connect: {
    ui: 'connectDomains',
    openai: 'connect_domains',
    defaultMode: 'extend',
    includesPublicOrigin: true,
  },
  resource: {
    ui: 'resourceDomains',
    openai: 'resource_domains',
    defaultMode: 'extend',
    includesPublicOrigin: true,
  },
  // Fail closed: an upstream's own frame list is dropped unless the operator extends it.
  frame: {
    ui: 'frameDomains',
    openai: 'frame_domains',
    defaultMode: 'replace',
    includesPublicOrigin: false,
  },
  baseUri: { ui: 'baseUriDomains', defaultMode: 'extend', includesPublicOrigin: false },
  redirect: { openai: 'redirect_domains', defaultMode: 'extend', includesPublicOrigin: false },
}

/** Config table names: `[csp.connectDomains]`, `connectDomainsMode` in `[[csp.widget]]`, … */
export function configKeyOf(directive: Directive): `${Directive}Domains` {
  return `${directive}Domains`
}
