/** Builds the CSP rewriter from config: active when `[csp]` or `public_url` is set. */
import type { Config } from '../config/schema.ts'
import type { ResponseRewriter } from '../pipeline/types.ts'
import { compileCspPolicy } from './policy.ts'
import { cspRewriter } from './rewriter.ts'

export function cspFromConfig(config: Config): ResponseRewriter[] {
  if (config.csp === undefined && config.public_url === undefined) return []
  const selfUrls = [config.upstream, config.widgets].filter(
    (url): url is string => url !== undefined && /^https?:\/\//i.test(url),
  )
  const policy = compileCspPolicy({
    selfUrls,
    ...(config.csp ? { csp: config.csp } : {}),
    ...(config.public_url ? { publicUrl: config.public_url } : {}),
  })
  return [cspRewriter(policy)]
}
