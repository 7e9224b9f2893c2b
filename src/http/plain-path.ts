/**
 * A `.` or `..` segment, plain or percent-encoded, or a backslash. The router compares paths as
 * they came; a handler that parses `req.url` with `new URL` resolves these, so a path routed
 * outside a guarded mount (`/_portico/x/%2e%2e/api/…`) could resolve inside it. Such paths
 * are refused before any mount or forwarding sees them (nginx answers 400 to a path that
 * climbs above the root; no MCP endpoint, widget or asset needs one), so a configured path
 * holding one could never be reached: the config refuses it too.
 */
const NOT_PLAIN = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)|\\/i

export function isPlainPath(pathname: string): boolean {
  return !NOT_PLAIN.test(pathname)
}
