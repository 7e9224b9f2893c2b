/**
 * The one way tests get a port: listen on port 0 and read the port back. Nothing binds a port,
 * closes it and hopes it is still free when something else binds it (that races with every
 * other process on the machine). Child servers that take their port from `PORT` get 0 too
 * and report the port they were given (see `spawnOnZero` in processes.ts).
 */
import { once } from 'node:events'
import type { AddressInfo, Server } from 'node:net'

/** Listens on `host:0` and resolves with the port the system chose (rejects on a listen error). */
export async function listenOnZero(server: Server, host = '127.0.0.1'): Promise<number> {
  server.listen(0, host)
  await once(server, 'listening')
  return (server.address() as AddressInfo).port
}

/**
 * An origin where nothing listens, for "the upstream refuses the connection": port 1 (tcpmux)
 * is privileged and unused on any machine that runs the tests, so no other process can take it
 * between the test's choice and its use.
 */
export const REFUSED_ORIGIN = 'http://127.0.0.1:1'
