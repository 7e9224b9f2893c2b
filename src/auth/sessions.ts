/**
 * Sessions belong to the identity that created them. A session id is a bearer secret for the
 * session's state (its stream, its pending server requests), so one client's valid token plus
 * another client's session id must not reach that session. The owner is noted when the
 * `initialize` that created the session passes the chain (both modes set `notes.sessionId`),
 * and every later request presenting the id (`Mcp-Session-Id`: POST, GET, DELETE) is checked
 * against it. An id with no owner on record (never seen, or evicted from the bounded table) is
 * answered 404 so the client starts a new session. Legacy HTTP+SSE names its session only in
 * the URL announced on the stream, so its first POST binds it (only the stream's opener saw it).
 */
import type { IncomingMessage } from 'node:http'
import { PorticoError } from '../errors.ts'
import type { Middleware } from '../pipeline/compose.ts'
import type { Identity } from '../pipeline/identity.ts'
import { legacySessionOf } from '../protocol/legacy-session.ts'
import { BoundedMap } from '../util/bounded-map.ts'

const MAX_SESSIONS = 100_000

export class SessionOwners {
  readonly #owners: BoundedMap<string, string>

  constructor(max = MAX_SESSIONS) {
    this.#owners = new BoundedMap(max)
  }

  bind(sessionId: string, identity: Identity): void {
    this.#owners.set(sessionKeyOf(sessionId), identity.key)
  }

  /** Refuses a request presenting a session of another identity (or an unknown one). */
  check(req: IncomingMessage, identity: Identity): void {
    const header = req.headers['mcp-session-id']
    const sessionId = Array.isArray(header) ? header[0] : header
    if (sessionId !== undefined) {
      this.#checkOwner(sessionId, identity, false)
      // Its owner ends it: the id is nobody's from now on (a restarted upstream that numbers
      // its sessions again may hand it to another caller, who must not be refused for it).
      if (req.method === 'DELETE') this.#owners.delete(sessionKeyOf(sessionId))
    }
    // The query too, whatever the header says: the legacy transport routes by the query, and
    // servers read different spellings (`sessionId`, `session_id`) and repeats differently, so
    // a request naming more than one session is refused rather than guessed at.
    const legacy = legacySessionOf(req.url)
    if (legacy !== undefined) this.#checkOwner(legacy, identity, true)
  }

  #checkOwner(sessionId: string, identity: Identity, bindFirst: boolean): void {
    const key = sessionKeyOf(sessionId)
    const owner = this.#owners.get(key)
    if (owner === identity.key) {
      // In use: the bounded table forgets the sessions unused the longest, never a live one
      // because 100,000 newer sessions were created since it started.
      this.#owners.touch(key)
      return
    }
    if (owner === undefined) {
      if (bindFirst) {
        this.bind(sessionId, identity)
        return
      }
      throw new PorticoError('session_not_found', {
        message: 'Session not found: start a new session (initialize)',
      })
    }
    throw new PorticoError('forbidden', {
      message: 'Forbidden: the session belongs to another identity',
    })
  }

  /**
   * Notes the owner of a session an `initialize` created. An upstream that answers with the id
   * of a session another identity owns (it reuses ids, or hands out one id to all) is not
   * believed: passed on, the answer would give this caller the other's session, and binding it
   * would take the session from its creator.
   */
  middleware(): Middleware {
    return async (call, next) => {
      const reply = await next(call)
      const created = call.notes.sessionId
      if (call.method === 'initialize' && created !== undefined && call.identity !== undefined) {
        const owner = this.#owners.get(sessionKeyOf(created))
        if (owner !== undefined && owner !== call.identity.key) {
          throw new PorticoError('upstream_bad_response', {
            message:
              'Upstream answered initialize with the session id of another caller: not passed on',
          })
        }
        this.bind(created, call.identity)
      }
      return reply
    }
  }
}

/**
 * The key a session id is owned under: a UUID however an upstream would read it. The Python
 * SDK's legacy SSE server reads a session id with `UUID(hex=…)`, which takes upper case, dashes
 * anywhere, braces, `urn:`/`uuid:` and, at 32 characters, spaces and underscores: each spelling
 * names the one session, so another caller presenting alice's id in capitals got past the owner
 * check (never seen, so bound to him) and posted into her session. Any other id is its own key.
 */
export function sessionKeyOf(sessionId: string): string {
  if (sessionId.length < 32 || sessionId.length > 64) return sessionId
  let hex = sessionId.toLowerCase().replaceAll('urn:', '').replaceAll('uuid:', '')
  hex = hex.replace(/^[{}]+|[{}]+$/g, '').replaceAll('-', '')
  if (hex.length !== 32 || !UUID_DIGITS.test(hex)) return sessionId
  const value = BigInt(`0x${hex.trim().replaceAll('_', '')}`)
  return `uuid:${value.toString(16).padStart(32, '0')}`
}

/** What Python's `int(hex, 16)` reads: hex digits, single underscores between, spaces around. */
const UUID_DIGITS = /^\s*[0-9a-f](?:_?[0-9a-f])*\s*$/
