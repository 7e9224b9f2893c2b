/** Builds the CSP rewriter from config: active when `[csp]` or `public_url` is set. */
import type { Config } from '../config/schema.ts'
import type { ResponseRewriter } from '../pipeline/rewriter.ts'
import { type CspPolicy, compileCspPolicy } from './policy.ts'
import { cspRewriter } from './rewriter.ts'

export function cspFromConfig(config: Config): ResponseRewriter[] {
  return isOn(config) ? [cspRewriter(policyOf(config))] : []
}

/** What a hot reload may change of the widget CSP (edge/reload.ts `ReloadPart`). */
export interface CspReload {
  readonly keys: readonly string[]
  fixed(running: Config, next: Config): string[]
  prepare(next: Config): () => void
}

/**
 * The CSP rewriter, with the `[csp]` policy a hot reload may replace while CSP stays on: the
 * rewrite step is in the global chain only when CSP is on at start (off, no answer is parsed
 * for it), so turning it on or off takes a restart. The backends come from the reloaded file
 * too (a gateway reload adds and removes them, and a widget naming a new backend's private
 * address is served as Portico's origin like the others'); `public_url` and the upstream are
 * those of the start (a reload cannot change them).
 */
export function reloadableCsp(
  config: Config,
  /** URLs of servers added at run time (gateway backends over the admin API), read when used. */
  addedSelfUrls?: () => readonly string[],
): {
  rewriters: ResponseRewriter[]
  reload: CspReload
} {
  const on = isOn(config)
  const withTable = (next: Config): Config => ({
    ...config,
    csp: next.csp,
    ...(next.backends ? { backends: next.backends } : {}),
  })
  let policy = on ? policyOf(config, addedSelfUrls) : undefined
  return {
    rewriters: policy === undefined ? [] : [cspRewriter(() => policy as CspPolicy)],
    reload: {
      keys: ['csp'],
      fixed: (_running, next) => (isOn(withTable(next)) === on ? [] : ['csp']),
      // Compiled before anything is applied (a policy that does not compile rejects the
      // reload whole), put in force only once the mode applied its part.
      prepare(next) {
        const compiled = on ? policyOf(withTable(next), addedSelfUrls) : undefined
        return () => {
          if (compiled !== undefined) policy = compiled
        }
      },
    },
  }
}

function isOn(config: Config): boolean {
  return config.csp !== undefined || config.public_url !== undefined
}

function policyOf(config: Config, addedSelfUrls?: () => readonly string[]): CspPolicy {
  return compileCspPolicy({
    selfUrls: selfUrlsOf(config),
    ...(addedSelfUrls ? { addedSelfUrls } : {}),
    ...(config.csp ? { csp: config.csp } : {}),
    ...(config.public_url ? { publicUrl: config.public_url } : {}),
  })
}

/**
 * The origins Portico stands in front of: the upstream, the widget server and, in gateway
 * mode, every HTTP/SSE backend. Widget CSP naming one of them (a private address the browser
 * could not reach) is served as Portico's public origin instead, like localhost.
 */
export function selfUrlsOf(config: Config): string[] {
  const backends = (config.backends ?? []).map((backend) => backend.url)
  return [config.upstream, config.widgets, ...backends].filter(
    (url): url is string => url !== undefined && /^https?:\/\//i.test(url),
  )
}
