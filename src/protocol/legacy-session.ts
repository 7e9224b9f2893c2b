/**
 * The session a legacy HTTP+SSE POST names in its query. Servers read it differently
 * (`sessionId` or `session_id`, the first or the last of repeats, or an array that matches
 * nothing), so a query naming more than one distinct session is refused rather than guessed
 * at: Portico and the upstream must agree on which session a message is for.
 */
import { PorticoError } from '../errors.ts'

/** Every distinct session a query names (`sessionId` and `session_id`, repeats too). */
export function legacySessionsOf(search: URLSearchParams): string[] {
  return [...new Set([...search.getAll('sessionId'), ...search.getAll('session_id')])]
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
