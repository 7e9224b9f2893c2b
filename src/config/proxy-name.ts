/**
 * The name a proxy records with every exchange and keys its pin file by. Its own module, with
 * no other import: `portico pins` needs it without building (or importing) a proxy.
 */
import type { Config } from './schema.ts'

/** Proxy name: explicit, else derived from the upstream (`127.0.0.1-9000`). */
export function proxyName(config: Config): string {
  if (config.name) return config.name
  if (!config.upstream) return 'portico'
  const url = new URL(config.upstream)
  return `${url.hostname}-${url.port || (url.protocol === 'https:' ? '443' : '80')}`.replace(
    /[^A-Za-z0-9.-]/g,
    '-',
  )
}
