/**
 * `portico dashboard`'s own listener: the dashboard pages over a store file, on loopback only,
 * with the admin API's guard against other origins and non-loopback Host names (a
 * DNS-rebinding page cannot read the store).
 */
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { adminCredential, adminFilter } from '../edge/admin-token.ts'
import { PorticoError } from '../errors.ts'
import { refuseConnect } from '../http/connect-method.ts'
import { TCP_KEEPALIVE } from '../http/tcp-keepalive.ts'
import type { Db } from '../store/open.ts'
import { dashboardHandler, sendJson } from './server.ts'

export interface StandaloneOptions {
  /** The store's connection now (a `FollowedStore` follows the file when it is replaced). */
  store: () => Db
  host: string
  port: number
  mcpUrl?: string
  assetsDir?: string
}

export interface RunningDashboard {
  url: string
  server: Server
  close(): Promise<void>
}

export async function startDashboard(options: StandaloneOptions): Promise<RunningDashboard> {
  const guard = adminFilter(adminCredential(undefined))
  const handle = dashboardHandler({
    basePath: '/',
    store: options.store,
    ...(options.mcpUrl === undefined ? {} : { mcpUrl: options.mcpUrl }),
    ...(options.assetsDir === undefined ? {} : { assetsDir: options.assetsDir }),
  })
  const server = createServer(
    { keepAliveTimeout: 5000, requestTimeout: 60_000, ...TCP_KEEPALIVE },
    (req, res) => {
      try {
        guard(req)
      } catch (error) {
        const status = error instanceof PorticoError ? error.status : 403
        sendJson(res, status, { error: error instanceof Error ? error.message : String(error) })
        return
      }
      // The handler answers its own errors; one that escapes it must not end the process.
      handle(req, res).catch(() => res.destroy())
    },
  )
  refuseConnect(server)
  server.listen(options.port, options.host)
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => {
      throw error
    }),
  ])
  const address = server.address() as AddressInfo
  const host = address.address.includes(':') ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}/`,
    server,
    async close() {
      const closed = once(server, 'close')
      server.close()
      server.closeAllConnections()
      await closed
    },
  }
}
