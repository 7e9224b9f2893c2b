/**
 * MCP's log levels (RFC 5424's names) and the per-receiver filter of `notifications/message`:
 * a session's `logging/setLevel`, a stateless request's `_meta` logLevel. One shared process
 * serves several sessions at whatever level the most talkative of them asked for, so what one
 * session asked for is applied here, on its way out, not only by the backend.
 */
import { isObject, type JsonObject } from '../jsonrpc/message.ts'

/** Least severe first. */
export const MCP_LOG_LEVELS: readonly string[] = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
]

/** The level's rank (0 = debug), or -1 for a name that is not a level. */
export function logLevelRank(level: unknown): number {
  return typeof level === 'string' ? MCP_LOG_LEVELS.indexOf(level) : -1
}

/**
 * Whether `message` may go to a receiver whose floor is `floor` (a rank; -1: none set, every
 * line goes): messages other than log lines always do.
 */
export function passesLogFloor(message: JsonObject, floor: number): boolean {
  if (floor < 0 || message.method !== 'notifications/message') return true
  const params = message.params
  return logLevelRank(isObject(params) ? params.level : undefined) >= floor
}
