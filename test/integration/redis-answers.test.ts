/**
 * What the shared store does with answers of a shape its commands never get from Redis (a
 * server at that address that is not Redis, keys under the prefix written by another program):
 * each is used as no answer (a miss, the process's own buckets) and said in the log, never a
 * call failed with an internal error or a client answered with text that is not JSON.
 * The "Redis" here is a socket speaking RESP that answers every command as the test says
 * (a real ioredis client talks to it).
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { sharedSchema } from '../../src/config/protect.ts'
import { Logger } from '../../src/observe/logger.ts'
import { RedisStore, type SharedBucket } from '../../src/protect/redis-store.ts'
import { listenOnZero } from '../helpers/ports.ts'

const bulk = (text: string) => `$${Buffer.byteLength(text)}\r\n${text}\r\n`
const BUCKET: SharedBucket = { key: 'answers', capacity: 10, ratePerMs: 1 }

/** A RESP server: the handshake's commands get their usual answers, every other one `next`. */
async function startScriptedRedis(): Promise<{ url: string; server: Server; next: string }> {
  const scripted = { url: '', server: createServer(), next: '+OK\r\n' }
  scripted.server.on('connection', (socket) => {
    socket.on('error', () => {})
    socket.on('data', (data) => {
      // One command per packet is enough here: the client sends one at a time.
      const name = /^\*\d+\r\n\$\d+\r\n([A-Za-z]+)/.exec(String(data))?.[1]?.toUpperCase()
      if (name === 'INFO') socket.write(bulk('# Server\r\nredis_version:7.2.0\r\nloading:0\r\n'))
      else if (name !== undefined) socket.write(scripted.next)
    })
  })
  scripted.url = `redis://127.0.0.1:${await listenOnZero(scripted.server)}`
  return scripted
}

describe('answers of an odd shape from Redis', () => {
  let redis: Awaited<ReturnType<typeof startScriptedRedis>>
  let store: RedisStore
  const logged: string[] = []

  before(async () => {
    redis = await startScriptedRedis()
    const config = sharedSchema.parse({ redis: redis.url, timeout: '500ms' })
    assert.ok(config)
    const logger = new Logger({ level: 'info', write: (line) => logged.push(line) })
    store = new RedisStore(config, logger)
    await store.connected()
  })

  after(async () => {
    await store?.close()
    redis?.server.close()
  })

  it('a rate-limit verdict of another shape is no verdict (the process counts alone)', async () => {
    const odd = [':1\r\n', '*1\r\n:0\r\n', '*2\r\n:2\r\n:10\r\n', '*2\r\n:1\r\n:-5\r\n']
    for (const answer of [...odd, bulk('granted'), '*-1\r\n', '*2\r\n$1\r\n0\r\n$1\r\n0\r\n']) {
      redis.next = answer
      assert.equal(await store.takeTokens([BUCKET]), undefined, JSON.stringify(answer))
    }
    redis.next = '*2\r\n:0\r\n:0\r\n'
    assert.deepEqual(await store.takeTokens([BUCKET]), { granted: true })
    redis.next = '*2\r\n:1\r\n:250\r\n'
    assert.deepEqual(await store.takeTokens([BUCKET]), { granted: false, index: 0, waitMs: 250 })
  })

  it('a cache entry that is not an object’s JSON is a miss', async () => {
    const hit = '{"content":[{"type":"text","text":"kept"}]}'
    for (const answer of [':3\r\n', bulk('{"a":1}'), `*2\r\n${bulk('hello')}$-1\r\n`]) {
      redis.next = answer
      // Not an array of values (MGET's shape), or a value that is not an object's text.
      assert.equal(await store.cacheLookup('up', 'private', 'public'), undefined, answer)
    }
    redis.next = `*2\r\n${bulk('{"cut off":')}$-1\r\n`
    assert.equal(await store.cacheLookup('up', 'private', 'public'), undefined)
    // Starts and ends as an object does: spliced into the answer, it wrote JSON no client reads,
    // or another id into it.
    for (const odd of ['{not json}', '{"content":[]},"id":"spoofed","x":{}']) {
      redis.next = `*2\r\n${bulk(odd)}$-1\r\n`
      assert.equal(await store.cacheLookup('up', 'private', 'public'), undefined, odd)
    }
    redis.next = `*2\r\n$-1\r\n${bulk(hit)}`
    assert.equal(await store.cacheLookup('up', 'private', 'public'), hit, 'the public entry')
    redis.next = '*2\r\n$-1\r\n$-1\r\n'
    assert.equal(await store.cacheLookup('up', 'private', 'public'), undefined)
  })

  it('the cache scripts’ counts are numbers or nothing', async () => {
    redis.next = bulk('4')
    assert.equal(await store.cacheSave('up', 'key', '{}', 1000, 10), undefined)
    redis.next = ':4\r\n'
    assert.equal(await store.cacheSave('up', 'key', '{}', 1000, 10), 4)
    // Not a count: the clear is not known to be done (an admin clear answers 503).
    redis.next = '+OK\r\n'
    assert.equal(await store.cacheClear('up'), undefined)
    redis.next = ':7\r\n'
    assert.equal(await store.cacheClear('up'), 7)
  })

  it('says so in the log, at most every 10 s, as an answer and not an outage', () => {
    const odd = logged.filter((line) => /not what Portico stores or asks for/.test(line))
    assert.equal(odd.length, 1, logged.join('\n'))
    assert.match(odd[0] ?? '', /the rate-limit script answered 1,/)
    assert.doesNotMatch(logged.join('\n'), /unreachable/)
  })
})
