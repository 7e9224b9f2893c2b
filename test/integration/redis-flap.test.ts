/**
 * A Redis that flaps (its connections cut again and again, as behind a failing link) is not
 * logged once per flap: the first outages are, and the rest are summed up in one line.
 */
import assert from 'node:assert/strict'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { sharedSchema } from '../../src/config/protect.ts'
import { Logger } from '../../src/observe/logger.ts'
import { RedisStore } from '../../src/protect/redis-store.ts'
import { listenOnZero } from '../helpers/ports.ts'
import {
  findRedisServer,
  type RunningRedis,
  skipWithoutRedis,
  startRedis,
} from '../helpers/redis.ts'
import { until } from '../helpers/wait.ts'

const REDIS_SERVER = findRedisServer()

/** A TCP relay to Redis whose connections the test can cut. */
async function startCuttableRelay(
  port: number,
): Promise<{ url: string; cut(): void; server: Server }> {
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const redis = createConnection(port, '127.0.0.1')
    for (const socket of [client, redis]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
    }
    client.pipe(redis).pipe(client)
  })
  const relayPort = await listenOnZero(server)
  return {
    url: `redis://127.0.0.1:${relayPort}`,
    server,
    cut: () => {
      for (const socket of sockets) socket.destroy()
    },
  }
}

describe('a flapping Redis', {
  skip: skipWithoutRedis(),
}, () => {
  let redis: RunningRedis
  let relay: Awaited<ReturnType<typeof startCuttableRelay>>

  before(async () => {
    if (REDIS_SERVER === undefined) throw new Error('redis-server is not on the PATH')
    redis = await startRedis(REDIS_SERVER)
    relay = await startCuttableRelay(redis.port)
  })

  after(async () => {
    relay?.server.close()
    await redis?.stop()
  })

  it('logs the first outages and sums up the rest', async () => {
    const logged: string[] = []
    const logger = new Logger({ level: 'info', write: (line) => logged.push(line) })
    const config = sharedSchema.parse({ redis: relay.url, timeout: '200ms' })
    assert.ok(config)
    const store = new RedisStore(config, logger)
    try {
      await store.connected()
      // A token taken is an answer from Redis (undefined: it could not say).
      const bucket = { key: 'flap', capacity: 1_000_000, ratePerMs: 1 }
      const answers = async () => (await store.takeTokens([bucket])) !== undefined
      for (let flap = 0; flap < 12; flap++) {
        relay.cut()
        assert.equal(await answers(), false, 'the connection is gone')
        await until(async () => (await answers()) || undefined, 10_000, `Redis back (flap ${flap})`)
      }
      const outages = logged.filter((line) => /is unreachable/.test(line))
      assert.ok(outages.length >= 1, logged.join('\n'))
      assert.ok(outages.length <= 3, `${outages.length} outage lines:\n${logged.join('\n')}`)
      assert.doesNotMatch(logged.join('\n'), /%5B|\[redacted\]/, 'no credentials to redact here')
    } finally {
      await store.close()
    }
  })
})
