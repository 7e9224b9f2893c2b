/**
 * Fetch as if every host name resolved to 127.0.0.1 (a wildcard DNS record): requests to
 * `http://demo.relay.test:<port>/` reach a local relay with that Host header, which plain
 * fetch does not let a caller set.
 */
import { Agent, fetch as undiciFetch } from 'undici'

export function wildcardAgent(): Agent {
  return new Agent({
    connect: {
      lookup: (_host, options, callback) =>
        (options as { all?: boolean }).all
          ? (callback as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [
              { address: '127.0.0.1', family: 4 },
            ])
          : callback(null, '127.0.0.1', 4),
    },
  })
}

export function fetchVia(agent: Agent): typeof fetch {
  return ((url: string | URL, init?: RequestInit) =>
    undiciFetch(url, { ...(init as object), dispatcher: agent })) as unknown as typeof fetch
}
