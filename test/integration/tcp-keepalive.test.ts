/**
 * Every listener Portico accepts connections on turns TCP keepalive on (http/tcp-keepalive.ts):
 * a client gone without a FIN (asleep, behind a NAT that forgot it) is found by the kernel's
 * probes instead of holding its idle event stream, connection slot and upstream connection for
 * ever. Read from the kernel itself: /proc/net/tcp shows the accepted socket's keepalive timer
 * (`tr` 02) once it is set, and no timer (00) without it.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { startDashboard } from '../../src/dashboard/standalone.ts'
import { openStore } from '../../src/store/open.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { startTestRelay } from '../helpers/relay.ts'
import { scratchDir } from '../helpers/scratch.ts'

/** Opens a connection, has one request answered on it, and leaves it open and idle. */
async function idleConnection(port: number, path: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
  await once(socket, 'data')
  return socket
}

/** The timer the kernel runs on the server's side of `client` (`tr` in /proc/net/tcp). */
function serverSideTimer(client: Socket): string {
  const hex = (n: number | undefined) => (n ?? 0).toString(16).toUpperCase().padStart(4, '0')
  const local = `0100007F:${hex(client.remotePort)}`
  const remote = `0100007F:${hex(client.localPort)}`
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/)
    if (fields[1] === local && fields[2] === remote) return (fields[5] ?? '').split(':')[0] ?? ''
  }
  throw new Error(`no server-side socket ${local} → ${remote} in /proc/net/tcp`)
}

describe('TCP keepalive on accepted connections', () => {
  const dir = scratchDir('portico-keepalive-')
  let demo: DemoServer
  let portico: RunningPortico
  const sockets: Socket[] = []

  before(async () => {
    demo = await startDemoServer()
    portico = await startPortico({
      upstream: demo.url,
      admin_bind: '127.0.0.1:0',
      store: { enabled: false },
    })
  })

  after(async () => {
    for (const socket of sockets) socket.destroy()
    await portico?.close()
    await demo?.close()
  })

  async function timerOf(port: number, path: string): Promise<string> {
    const socket = await idleConnection(port, path)
    sockets.push(socket)
    return serverSideTimer(socket)
  }

  it('the MCP port and the admin listener', async () => {
    assert.equal(await timerOf(Number(new URL(portico.url).port), '/healthz'), '02')
    const admin = portico.portico.adminUrl
    assert.ok(admin !== undefined)
    assert.equal(await timerOf(Number(new URL(admin).port), '/admin/health'), '02')
  })

  it('the relay', async () => {
    const { relay, port } = await startTestRelay({})
    try {
      assert.equal(await timerOf(port, '/healthz'), '02')
    } finally {
      await relay.close()
    }
  })

  it('the standalone dashboard', async () => {
    const db = `${dir}/store.db`
    openStore(db, { create: true }).close()
    const dashboard = await startDashboard({
      store: () => openStore(db),
      host: '127.0.0.1',
      port: 0,
    })
    try {
      assert.equal(await timerOf(Number(new URL(dashboard.url).port), '/'), '02')
    } finally {
      await dashboard.close()
    }
  })

  it('a plain Node server has none (what the check above tells apart)', async () => {
    const { createServer } = await import('node:http')
    const server = createServer((_req, res) => res.end('ok'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const port = (server.address() as { port: number }).port
      assert.equal(await timerOf(port, '/'), '00')
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })
})
