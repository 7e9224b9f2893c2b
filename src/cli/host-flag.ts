/** A `--host` flag checked as the config checks `host`: a bad one is a usage error (exit 2). */
import { isListenHost } from '../config/listen-host.ts'
import { UserError } from './errors.ts'

export function checkHostFlag(value: string): string {
  if (isListenHost(value)) return value
  throw new UserError(
    `--host: expected an IP address or a host name of this machine (e.g. 127.0.0.1, 0.0.0.0), got "${value}"`,
    2,
  )
}
