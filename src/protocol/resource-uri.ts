/**
 * A resource URI as a server that resolves it would read it, for the rules that judge URIs
 * (roles' `allow_resources`/`deny_resources`, a backend's `expose_resources`/`hide_resources`):
 * a rule written for `file:///etc/*` must hold for `file:///tmp/../etc/passwd` too.
 *
 * - the scheme and the host in lower case, the host without a trailing dot (`MEM://Vault./x`
 *   is `mem://vault/x`: RFC 3986 §3.1, §6.2.2.1);
 * - percent-escapes decoded in the path (`file:///%65tc/passwd` is read as /etc/passwd by
 *   `fileURLToPath`), in the host of a scheme the URL parser does not decode (`mem://%73ecret`
 *   is `mem://secret`: RFC 3986 §6.2.2.2) and in an opaque path (`mem:%73ecret`);
 * - dot segments resolved, runs of slashes made one, `localhost` dropped from `file:` URIs;
 * - no user, password, query or fragment: `fileURLToPath` ignores the last two, a server
 *   reaches the same host whoever the first two name (`https://u@internal/x`), and for any
 *   other server judging without them only adds refusals, never an admission.
 *
 * A URI that is not a URL stays as it is. The result is for matching only: it need not be a
 * URL a parser accepts again.
 */
export function resolvedUri(uri: string): string {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return uri
  }
  if (!url.href.startsWith(`${url.protocol}//`)) {
    // An opaque path (`mem:secret`, `urn:x:y`): nothing to resolve, only escapes to decode.
    return `${url.protocol}${decodePercent(url.pathname)}`
  }
  if (url.protocol === 'file:' && url.hostname === 'localhost') url.hostname = ''
  // Setting the path parses it again: decoded dot segments are resolved there.
  url.pathname = decodePercent(url.pathname)
  url.pathname = url.pathname.replace(/\/{2,}/g, '/')
  const host = decodePercent(url.hostname).toLowerCase().replace(/\.$/, '')
  const port = url.port === '' ? '' : `:${url.port}`
  return `${url.protocol}//${host}${port}${url.pathname}`
}

/** Every percent-escape decoded (as UTF-8 where it is; a malformed sequence byte by byte). */
function decodePercent(text: string): string {
  if (!text.includes('%')) return text
  try {
    return decodeURIComponent(text)
  } catch {
    return text.replace(/%([0-9a-f]{2})/gi, (_, hex: string) =>
      String.fromCharCode(parseInt(hex, 16)),
    )
  }
}

/**
 * A URI rule's verdict on both spellings: `visible` must hold for the URI as written and as
 * resolved (see `resolvedUri`), so neither spelling is a way around a rule written for the other.
 */
export function uriVisible(visible: (uri: string) => boolean, uri: string): boolean {
  if (!visible(uri)) return false
  const resolved = resolvedUri(uri)
  return resolved === uri || visible(resolved)
}
