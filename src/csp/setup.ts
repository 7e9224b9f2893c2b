/** Builds the CSP rewriter from config: active when `[csp]` or `public_url` is set. */
import type { Config } from '../config/schema.ts'
import type { ResponseRewriter } from '../pipeline/rewriter.ts'
import { compileCspPolicy } from './policy.ts'
import { cspRewriter } from './rewriter.ts'

export function cspFromConfig(config: Config): ResponseRewriter[] {
  if (config.csp === undefined && config.public_url === undefined) return []
  const policy = compileCspPolicy({
    selfUrls: selfUrlsOf(config),
    ...(config.csp ? { csp: config.csp } : {}),
    ...(config.public_url ? { publicUrl: config.public_url } : {}),
  })
  return [cspRewriter(policy)]
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
