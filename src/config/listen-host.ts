/**
 * The address a listener binds: an IP address or a host name, checked by its shape so that
 * `portico check` refuses `host = "0.0.0.0:3000"` or a stray space at its line instead of
 * `run` failing to resolve it. Whether a well-formed name resolves to this machine is left to
 * the listen itself (`run` says so in one line).
 */
import { isIP } from 'node:net'
import { z } from 'zod'

/** A DNS label; `_` is allowed because Docker and Compose service names use it. */
const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?'
const HOST_NAME = new RegExp(`^(?=.{1,253}\\.?$)${LABEL}(?:\\.${LABEL})*\\.?$`, 'i')

export function isListenHost(value: string): boolean {
  return isIP(value) !== 0 || HOST_NAME.test(value)
}

export const listenHostSchema = z.string().refine(isListenHost, {
  message:
    'expected an IP address or a host name of this machine (e.g. 127.0.0.1, 0.0.0.0, ::, localhost), without a port',
})
