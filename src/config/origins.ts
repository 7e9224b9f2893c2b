/**
 * The only origins Portico ever contacts: the upstream, the widgets dev server and the gateway
 * backends of the config. The HTTP client refuses any other (and keeps no pool for it), so
 * neither a crafted request nor an upstream's `endpoint` event can make Portico an open proxy.
 */
import type { Config } from './schema.ts'

export function upstreamOrigins(config: Config): string[] {
  const urls = [config.upstream, config.widgets, ...(config.backends ?? []).map((b) => b.url)]
  return originsOf(urls)
}

/** The HTTP(S) origins of `urls` (others, and what is not a URL, left out). */
export function originsOf(urls: Iterable<string | undefined>): string[] {
  const origins = new Set<string>()
  for (const url of urls) {
    if (url === undefined || !/^https?:\/\//i.test(url) || !URL.canParse(url)) continue
    origins.add(new URL(url).origin)
  }
  return [...origins]
}
