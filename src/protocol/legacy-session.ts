/**
 * The session a legacy HTTP+SSE POST names in its query. Servers read it differently
 * (`sessionId` or `session_id`, the first or the last of repeats, or an array: Express's
 * default query parser reads `sessionId[]=X` and `sessionId[0]=X` as `["X"]`, which the SDK
 * example's plain-object lookup of sessions finds as `X`), so every spelling counts, and a
 * query naming more than one distinct session is refused rather than guessed at: Portico and
 * the upstream must agree on which session a message is for.
 */
import { PorticoError } from '../errors.ts'

const SESSION_KEYS = ['sessionId', 'session_id'] as const

/** Every distinct session a query names (`sessionId`, `session_id`, repeats and brackets too). */
export function legacySessionsOf(search: URLSearchParams): string[] {
  const sessions = new Set<string>()
  for (const [key, value] of search) {
    if (SESSION_KEYS.some((name) => key === name || key.startsWith(`${name}[`))) {
      sessions.add(value)
    }
  }
  return [...sessions]
}

/**
 * The one session a request target (`/message?sessionId=…`) names, if any;
 * `invalid_request` when it names several.
 */
export function legacySessionOf(target: string | undefined): string | undefined {
  const query = target?.indexOf('?') ?? -1
  if (query === -1) return undefined
  const sessions = legacySessionsOf(new URLSearchParams(target?.slice(query + 1)))
  if (sessions.length > 1) {
    throw new PorticoError('invalid_request', {
      message: 'Bad Request: the query names more than one session',
    })
  }
  return sessions[0]
}
