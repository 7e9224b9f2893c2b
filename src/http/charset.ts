/**
 * The `charset` a request's `Content-Type` declares. Portico reads every JSON body as UTF-8
 * (or as UTF-16/32 by its bytes, json-text.ts), while some servers decode by the declared
 * charset: body-parser hands any `utf-…` name to iconv-lite, which reads `utf--7` as UTF-7,
 * where ASCII can be written in base64 runs (`+ACI-` is a quote). What Portico judged and what
 * the server read were then two messages.
 */

/**
 * The values of every `charset` parameter (`charset*` too), unquoted, trimmed and lower-cased;
 * a parameter with no value is ''. Split naively at `;`: a quoted `;` only adds a parameter,
 * which errs towards finding a charset.
 */
export function charsetsOf(type: string): string[] {
  const out: string[] = []
  const parameters = type.split(';')
  for (let i = 1; i < parameters.length; i++) {
    const parameter = parameters[i] as string
    const equals = parameter.indexOf('=')
    const name = (equals === -1 ? parameter : parameter.slice(0, equals)).trim().toLowerCase()
    if (name !== 'charset' && name !== 'charset*') continue
    out.push(
      equals === -1
        ? ''
        : parameter
            .slice(equals + 1)
            .trim()
            .replace(/^"|"$/g, '')
            .toLowerCase(),
    )
  }
  return out
}

/** A charset name as iconv-lite reads it: lower case, letters and digits only (`utf--7` → `utf7`). */
export function canonicalCharset(name: string): string {
  return name.toLowerCase().replace(/[^0-9a-z]/g, '')
}

/**
 * Charsets in which ASCII is written as itself, so the text Portico reads holds every ASCII
 * character a server decoding by the charset would see (a message's quotes, keys, methods).
 */
const ASCII_AS_ITSELF = new Set([
  'utf8',
  'usascii',
  'ascii',
  'iso88591',
  'latin1',
  'l1',
  'iso885915',
  'windows1252',
  'cp1252',
])

/** Whether every charset `type` declares writes ASCII as itself (none declared: yes). */
export function declaresAsciiCharset(type: string): boolean {
  return charsetsOf(type).every((charset) => ASCII_AS_ITSELF.has(canonicalCharset(charset)))
}
