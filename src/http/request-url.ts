/**
 * A request's target as a URL, for its path and query. `new URL(req.url, base)` reads a target
 * starting with `//` as a host (`//[` then throws "Invalid URL"; `//evil.example/x` names
 * another host and loses the path): an origin-form target is a path, so it is appended to the
 * base instead, and one that still does not parse is undefined (the caller answers 400).
 */
export function requestUrl(target: string | undefined, base: string): URL | undefined {
  const path = target === undefined || target === '' ? '/' : target
  const text = path.startsWith('/') ? `${base}${path}` : path
  return URL.canParse(text) ? new URL(text) : undefined
}
