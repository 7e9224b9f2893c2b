/**
 * Where a cluster listens when its config says port 0 (`port = 0`, `admin_bind = "…:0"`). Node's
 * primary holds one listening socket per address and port its workers ask for, and closes it once
 * the last worker holding it is gone: workers started again after all of them died at once asked
 * for port 0 again and were given another port, refusing every client of the URL printed at
 * start. So the primary picks the free ports once, before any worker starts, and every worker,
 * first or started again, listens on those. Their config still says 0, so a reload of the file
 * compares as it should. Another process taking a picked port in the instant between the pick
 * and the first worker's listen stops the start with "the port is taken", as any busy port does.
 */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { adminPlacement } from '../config/operate.ts'
import type { Config } from '../config/schema.ts'
import type { ListenAt } from '../portico.ts'

/** The ports to listen on instead of 0, or undefined when the config names its ports. */
export async function pickedPorts(config: Config): Promise<ListenAt | undefined> {
  const placement = adminPlacement(config)
  const admin = placement !== undefined && 'own' in placement ? placement.own : undefined
  if (config.port !== 0 && admin?.port !== 0) return undefined
  // Held open together, so the two picks cannot be the same port.
  const [port, adminPort] = await freePorts([
    config.port === 0 ? config.host : undefined,
    admin?.port === 0 ? admin.host : undefined,
  ])
  if (config.port === 0 && port === undefined) return undefined
  const main = port ?? config.port
  return adminPort === undefined ? { port: main } : { port: main, adminPort }
}

/**
 * A port free now on each host asked for (undefined where none is asked, or where the host
 * cannot be listened on: the workers' own listen then fails with the message that says why).
 */
async function freePorts(
  hosts: ReadonlyArray<string | undefined>,
): Promise<Array<number | undefined>> {
  const servers = hosts.map((host) => (host === undefined ? undefined : createServer()))
  try {
    return await Promise.all(
      servers.map(async (server, i) => {
        if (server === undefined) return undefined
        try {
          server.listen(0, hosts[i])
          await once(server, 'listening')
          return (server.address() as AddressInfo).port
        } catch {
          return undefined
        }
      }),
    )
  } finally {
    for (const server of servers) server?.close()
  }
}
