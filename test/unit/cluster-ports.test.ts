/**
 * cluster/ports: the ports a cluster asked for port 0 listens on, picked once by the primary
 * (workers started again after all died at once are tested end to end in workers.test.ts).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { describe, it } from 'node:test'
import { pickedPorts } from '../../src/cluster/ports.ts'
import { parseConfig } from '../../src/config/schema.ts'

const UPSTREAM = 'http://127.0.0.1:9/mcp'

/** Whether `port` can be listened on now on 127.0.0.1 (it is free). */
async function free(port: number): Promise<boolean> {
  const server = createServer()
  server.listen(port, '127.0.0.1')
  try {
    await once(server, 'listening')
    return true
  } catch {
    return false
  } finally {
    server.close()
  }
}

describe('pickedPorts', () => {
  it('names nothing when the config names its ports', async () => {
    const config = parseConfig({ upstream: UPSTREAM, port: 3000, admin_bind: '127.0.0.1:9901' })
    assert.equal(await pickedPorts(config), undefined)
  })

  it('picks a free port for port = 0, and one for an admin_bind on port 0', async () => {
    const main = await pickedPorts(parseConfig({ upstream: UPSTREAM, port: 0 }))
    assert.ok(main !== undefined && main.port > 0 && main.adminPort === undefined, String(main))
    assert.ok(await free(main.port), `port ${main.port} is free for the workers`)
    const both = await pickedPorts(
      parseConfig({ upstream: UPSTREAM, port: 0, admin_bind: '127.0.0.1:0' }),
    )
    assert.ok(both?.adminPort !== undefined && both.adminPort > 0, JSON.stringify(both))
    assert.notEqual(both.adminPort, both.port)
    const adminOnly = await pickedPorts(
      parseConfig({ upstream: UPSTREAM, port: 3000, admin_bind: '127.0.0.1:0' }),
    )
    assert.equal(adminOnly?.port, 3000)
    assert.ok(adminOnly?.adminPort !== undefined && adminOnly.adminPort > 0)
  })

  it('leaves port 0 to the workers when the host cannot be listened on (their error says why)', async () => {
    const config = parseConfig({ upstream: UPSTREAM, port: 0, host: '192.0.2.1' })
    assert.equal(await pickedPorts(config), undefined)
  })
})
