/**
 * Secrets out of what Portico shows (logs, admin tools, errors): credentials in URLs and the
 * values of query parameters whose names say they are secret.
 */
export const REDACTED = '[redacted]'

// `jwt=`, `bearer=`, `pwd=` and `sid=` carry credentials as plainly as `token=` does.
const SECRET_NAME =
  /token|key|secret|auth|pass|pwd|sig|session|^sid$|code|credential|jwt|bearer|hmac|private/i

/** The URL with its user-info and secret-looking query values replaced; unparsable: redacted. */
export function redactUrl(url: string): string {
  if (!URL.canParse(url)) return REDACTED
  const parsed = new URL(url)
  const secretKeys = [...parsed.searchParams.keys()].filter((key) => SECRET_NAME.test(key))
  // Nothing to hide: the URL as it was written, not as the parser normalizes it (`/` added).
  if (!parsed.username && !parsed.password && secretKeys.length === 0) return url
  if (parsed.username || parsed.password) {
    parsed.username = MARK
    parsed.password = ''
  }
  for (const key of secretKeys) parsed.searchParams.set(key, MARK)
  // The URL setters percent-encode brackets (`%5Bredacted%5D`); the mark needs no encoding.
  return parsed.toString().replaceAll(MARK, REDACTED)
}

const MARK = 'porticoredactedmark'
