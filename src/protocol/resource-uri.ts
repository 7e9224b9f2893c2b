/**
 * The spellings of a resource URI a server that resolves it may read, besides the URI as
 * written, for the rules that judge URIs (roles' `allow_resources`/`deny_resources`, a
 * backend's `expose_resources`/`hide_resources`): a rule written for `file:///etc/*` must hold
 * for `file:///tmp/../etc/passwd` too. Each spelling has:
 *
 * - the scheme and the host in lower case, the host without a trailing dot (`MEM://Vault./x`
 *   is `mem://vault/x`: RFC 3986 §3.1, §6.2.2.1);
 * - percent-escapes decoded in the path (`file:///%65tc/passwd` is read as /etc/passwd by
 *   `fileURLToPath`), in the host of a scheme the URL parser does not decode (`mem://%73ecret`
 *   is `mem://secret`: RFC 3986 §6.2.2.2) and in an opaque path (`mem:%73ecret`);
 * - dot segments resolved and runs of slashes made one, in both orders servers use: the URL
 *   parser's (`/tmp//../etc` is `/tmp/etc` to Node's `fileURLToPath`) and a file system's
 *   (the same path is `/etc` to Python's `urlparse` and `open`);
 * - for `file:` URIs, no host for `localhost` (`localhost.` too), and another host both kept
 *   and dropped: some file servers read the path and ignore the host;
 * - no user, password, query or fragment: `fileURLToPath` ignores the last two, a server
 *   reaches the same host whoever the first two name (`https://u@internal/x`), and for any
 *   other server judging without them only adds refusals, never an admission.
 *
 * A URI that is not a URL has none. The spellings are for matching only: they need not be URLs
 * a parser accepts again.
 */
export function resolvedUris(uri: string): string[] {
  const spellings = new Set<string>()
  let url: URL | undefined
  try {
    url = new URL(uri)
  } catch {
    // `file://localhost:80/etc/passwd`, `file://u@host/x`: the URL parser refuses them, a
    // server reading the path (Python's urlparse) does not. Judged as written (below).
  }
  if (url !== undefined) addParsedSpellings(url, spellings)
  addWrittenSpellings(uri, spellings)
  spellings.delete(uri)
  return [...spellings]
}

/** The spelling the URL parser gives: its host, its path with dot segments resolved its way. */
function addParsedSpellings(url: URL, spellings: Set<string>): void {
  if (!url.href.startsWith(`${url.protocol}//`)) {
    // An opaque path (`mem:secret`, `urn:x:y`): nothing to resolve, only escapes to decode.
    spellings.add(`${url.protocol}${decodePercent(url.pathname)}`)
    return
  }
  const host = normalHost(url.hostname)
  const port = url.port === '' || url.protocol === 'file:' ? '' : `:${url.port}`
  const path = parsedPath(url)
  for (const at of hostsOf(url.protocol, host))
    spellings.add(`${url.protocol}//${at}${port}${path}`)
}

/**
 * The spelling a server that splits the text itself gives (`scheme://authority/path`): the
 * host without user, password or (for `file:`) port, the path resolved as a file system does.
 */
function addWrittenSpellings(uri: string, spellings: Set<string>): void {
  // What the URL parser and Python's urlparse both drop before reading: tabs and line breaks
  // anywhere, control characters and spaces at either end (`fil\te://…`, ` file://…`).
  const text = trimControls(uri.replace(/[\t\n\r]/g, ''))
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/.exec(text)
  if (match === null) return
  const protocol = `${(match[1] as string).toLowerCase()}:`
  const authority = match[2] as string
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1)
  const portAt = hostPort.startsWith('[') ? hostPort.indexOf(']') + 1 : hostPort.lastIndexOf(':')
  const hasPort = portAt > 0 && hostPort[portAt] === ':'
  const host = normalHost(hasPort ? hostPort.slice(0, portAt) : hostPort)
  const port = hasPort && protocol !== 'file:' ? hostPort.slice(portAt) : ''
  const path = fileSystemPath(match[3] as string)
  for (const at of hostsOf(protocol, host)) spellings.add(`${protocol}//${at}${port}${path}`)
}

/** `text` without the control characters and spaces (U+0000 to U+0020) at either end. */
function trimControls(text: string): string {
  let start = 0
  let end = text.length
  while (start < end && text.charCodeAt(start) <= 0x20) start++
  while (end > start && text.charCodeAt(end - 1) <= 0x20) end--
  return text.slice(start, end)
}

/** A host in lower case, its escapes decoded, without a trailing dot (RFC 3986 §6.2.2). */
function normalHost(host: string): string {
  return decodePercent(host).toLowerCase().replace(/\.$/, '')
}

/** `file://localhost/x` is `file:///x`; another `file:` host is judged with and without it. */
function hostsOf(protocol: string, host: string): string[] {
  if (protocol !== 'file:') return [host]
  return host === '' || host === 'localhost' ? [''] : [host, '']
}

/** The path as the URL parser resolves it: dot segments at parse time, then slashes merged. */
function parsedPath(url: URL): string {
  const copy = new URL(url.href)
  // Setting the path parses it again: decoded dot segments are resolved there.
  copy.pathname = decodePercent(copy.pathname)
  return copy.pathname.replace(/\/{2,}/g, '/')
}

/**
 * The path as a file system resolves it: escapes decoded, empty and `.` segments dropped, each
 * `..` taking the segment before it (none above the root), a trailing slash kept.
 */
function fileSystemPath(raw: string): string {
  const decoded = decodePercent(raw)
  // `mem://vault` has no path, as the URL parser reads it too.
  if (decoded === '') return ''
  const segments: string[] = []
  for (const segment of decoded.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') segments.pop()
    else segments.push(segment)
  }
  const trailing = segments.length > 0 && /(^|\/)(\.{0,2})$/.test(decoded)
  const path = `/${segments.join('/')}${trailing ? '/' : ''}`
  // Written as the URL parser would write it (spaces and the like escaped), as `parsedPath` is.
  const copy = new URL('file:///')
  copy.pathname = path
  return copy.pathname
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
 * A URI rule's verdict on every spelling: `visible` must hold for the URI as written and as
 * resolved (see `resolvedUris`), so no spelling is a way around a rule written for another.
 */
export function uriVisible(visible: (uri: string) => boolean, uri: string): boolean {
  return visible(uri) && resolvedUris(uri).every(visible)
}
