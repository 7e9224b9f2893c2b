/**
 * Secrets out of what Portico shows (logs, admin tools, errors): credentials in URLs and the
 * values of query parameters whose names say they are secret.
 */
export const REDACTED = '[redacted]'

const SECRET_NAME = /token|key|secret|auth|pass|sig|session|code|credential/i

/** The URL with its user-info and secret-looking query values replaced; unparsable: redacted. */
export function redactUrl(url: string): string {
  if (!URL.canParse(url)) return REDACTED
  const parsed = new URL(url)
  if (parsed.username || parsed.password) {
    parsed.username = MARK
    parsed.password = ''
  }
  for (const key of [...parsed.searchParams.keys()]) {
    if (SECRET_NAME.test(key)) parsed.searchParams.set(key, MARK)
  }
  // The URL setters percent-encode brackets (`%5Bredacted%5D`); the mark needs no encoding.
  return parsed.toString().replaceAll(MARK, REDACTED)
}

const MARK = 'porticoredactedmark'
