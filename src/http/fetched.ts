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

/**
 * The body as text, or `AnswerTooLarge` (the rest unread, the request cancelled) past
 * `maxBytes`; when `signal` aborts first, its reason. Each read is raced against the signal
 * rather than left to the fetch it was given to: that alone did not always end a body read (an
 * introspection endpoint that sent its headers and then trickled held the second check of a
 * token without end; nodejs/node#56917 reports reads an abort left pending).
 */
export async function textWithin(
  response: Response,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<string> {
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
    const { done, value } = await readBefore(reader, signal)
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

type Reader = ReadableStreamDefaultReader<Uint8Array>

/** One read of `reader`, or the signal's reason (the reader cancelled) once it aborts. */
function readBefore(reader: Reader, signal: AbortSignal | undefined): ReturnType<Reader['read']> {
  if (signal === undefined) return reader.read()
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reader.cancel(signal.reason).catch(() => {})
      reject(signal.reason)
    }
    if (signal.aborted) {
      onAbort()
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
    reader
      .read()
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/**
 * An answer of a server Portico asks, fetched and read whole as text within `maxBytes` and
 * `timeoutMs` all told (headers and body): a plain timer owned here, given to fetch and raced
 * against every read of the body (see textWithin), cleared once the answer is read. A redirect
 * is never followed (it fails the fetch): only the configured server is contacted, and the
 * request's secrets (a relay's provider secret, an introspection client's credentials, the
 * token asked about) never go to a host the answer names.
 */
export async function fetchText(
  url: string | URL,
  init: Omit<RequestInit, 'redirect' | 'signal'>,
  limits: { maxBytes: number; timeoutMs: number },
): Promise<{ response: Response; text: string }> {
  const controller = new AbortController()
  const timer = setTimeout(
    () =>
      controller.abort(new DOMException(`no answer within ${limits.timeoutMs} ms`, 'TimeoutError')),
    limits.timeoutMs,
  )
  try {
    const response = await fetch(url, { ...init, redirect: 'error', signal: controller.signal })
    const text = await textWithin(response, limits.maxBytes, controller.signal)
    return { response, text }
  } finally {
    clearTimeout(timer)
  }
}

/**
 * `fetch` whose answers are read whole within `maxBytes` before they are handed back: for a
 * library that reads the body itself (jose's key set, which gives its own deadline as the
 * signal: it bounds the body too).
 */
export function fetchWithin(maxBytes: number): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init)
    const text = await textWithin(response, maxBytes, init?.signal ?? undefined)
    // A 204 or 304 cannot be rebuilt with a body, even an empty one.
    return new Response(NULL_BODY_STATUSES.has(response.status) ? null : text, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    })
  }
}
