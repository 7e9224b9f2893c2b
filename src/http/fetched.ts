/**
 * Answers of the servers Portico itself asks (an issuer's metadata and key set, a token
 * introspection endpoint, a relay's auth provider), read with a bound: `Response.text()` would
 * take whatever such a server sends into memory before any size check could refuse it.
 */

const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304])

export class AnswerTooLarge extends Error {
  constructor(maxBytes: number) {
    super(`answer over ${maxBytes} bytes`)
  }
}

/** The body as text, or `AnswerTooLarge` (the rest unread, the request cancelled) past `maxBytes`. */
export async function textWithin(response: Response, maxBytes: number): Promise<string> {
  const body = response.body
  if (body === null) return ''
  const declared = Number(response.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > maxBytes) {
    await body.cancel().catch(() => {})
    throw new AnswerTooLarge(maxBytes)
  }
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => {})
      throw new AnswerTooLarge(maxBytes)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks, size).toString('utf8')
}

/**
 * `fetch` whose answers are read whole within `maxBytes` before they are handed back: for a
 * library that reads the body itself (jose's key set).
 */
export function fetchWithin(maxBytes: number): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init)
    const text = await textWithin(response, maxBytes)
    // A 204 or 304 cannot be rebuilt with a body, even an empty one.
    return new Response(NULL_BODY_STATUSES.has(response.status) ? null : text, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    })
  }
}
