/**
 * Text a client chose, kept to a bounded length that still tells distinct values apart: its
 * prefix, `…` and a short hash of the whole. Used where such text is kept (the store's fields,
 * the client names sessions are remembered by), so that one client naming itself with
 * megabytes cannot make every record of it, or every table keyed by it, that large.
 */
import { createHash } from 'node:crypto'

/** What one text field keeps at most, in UTF-16 code units. */
export const MAX_TEXT = 256

const HASH_CHARS = 12

/** `value` when short enough, else its prefix, `…` and 12 hex characters of its SHA-1. */
export function boundText(value: string, max = MAX_TEXT): string {
  if (value.length <= max) return value
  const digest = createHash('sha1').update(value).digest('hex').slice(0, HASH_CHARS)
  return `${value.slice(0, max - HASH_CHARS - 1)}…${digest}`
}

/**
 * The part of a prefix of some text that can be compared with the text as `boundText` kept
 * it: all of it, or the characters a long value keeps before its `…` and hash.
 */
export function boundPrefix(prefix: string, max = MAX_TEXT): string {
  const kept = max - HASH_CHARS - 1
  return prefix.length > kept ? prefix.slice(0, kept) : prefix
}
