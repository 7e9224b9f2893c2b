/** A failure the user can fix (bad config, missing store, bad flag value): printed without a stack. */
export class UserError extends Error {
  readonly exitCode: number

  constructor(message: string, exitCode = 1) {
    super(message)
    this.name = 'UserError'
    this.exitCode = exitCode
  }
}

/** Parses an integer flag value, naming the flag when it is not one. */
export function intOption(flag: string) {
  return (value: string): number => {
    // Past 2^53 a number is no longer exact, and SQLite refuses it as a LIMIT.
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
      throw new UserError(`${flag}: expected a non-negative integer, got "${value}"`, 2)
    return Number(value)
  }
}

/** `intOption` for a TCP port: 0 (any free one) to 65535. */
export function portOption(flag: string) {
  const integer = intOption(flag)
  return (value: string): number => {
    const port = integer(value)
    if (port > 65535) throw new UserError(`${flag}: expected a port (0-65535), got "${value}"`, 2)
    return port
  }
}

/** An absolute http:// or https:// URL. */
export function httpUrlOption(flag: string) {
  return (value: string): string => {
    if (!/^https?:\/\/[^/]/i.test(value) || !URL.canParse(value))
      throw new UserError(
        `${flag}: expected an absolute http:// or https:// URL, got "${value}"`,
        2,
      )
    return value
  }
}

/**
 * A listener that could not start, said for the address that failed (Node's error carries it:
 * with `admin_bind` it may not be the main port), or undefined for another kind of failure.
 */
export function listenFailure(error: unknown, what = 'port'): UserError | undefined {
  const { code, address, port, hostname } = error as NodeJS.ErrnoException & {
    address?: string
    port?: number
    hostname?: string
  }
  // Node names the port only when it is not 0 (any free port).
  const where = [address ?? 'that address', port].filter((part) => part !== undefined).join(':')
  switch (code) {
    case 'EADDRINUSE':
      return new UserError(
        `${what} ${where} is already in use (stop what listens there, or pick another port; 0 picks a free one)`,
      )
    case 'EADDRNOTAVAIL':
      return new UserError(
        `${what} ${where}: ${address ?? 'the host'} is not an address of this machine`,
      )
    // A host name is looked up before listening (getaddrinfo): the error names the host only.
    case 'ENOTFOUND':
      return new UserError(
        `${what} ${hostname ?? address}: no such host (the name does not resolve; listen on an address of this machine, such as 127.0.0.1 or 0.0.0.0)`,
      )
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return new UserError(
        `${what} ${hostname ?? address}: the name could not be resolved (${code}: the DNS server did not answer; try again, or listen on an IP address)`,
      )
    case 'EACCES':
      return new UserError(
        `${what} ${where}: not allowed to listen there (ports below 1024 need privileges)`,
      )
    default:
      return undefined
  }
}
