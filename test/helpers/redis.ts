/**
 * A real Redis for the shared-cache tests: `redis-server` from the PATH (Debian's
 * `redis-server` package, which `.ci/run` installs), on a free loopback port, with nothing
 * persisted. Tests that need it skip locally when it is missing and fail under CI=true.
 */
import { createServer } from 'node:net'
import { type Spawned, spawnReady } from './processes.ts'
import { findOnPath } from './which.ts'

export function findRedisServer(): string | undefined {
  return findOnPath('redis-server')
}

/** A port nothing listens on now (redis-server cannot be told to pick one itself). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

export interface RunningRedis extends Spawned {
  port: number
  url: string
}

/** Starts redis-server on `port` (a free one by default), in memory only. */
export async function startRedis(binary: string, port?: number): Promise<RunningRedis> {
  const chosen = port ?? (await freePort())
  const args = ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  const spawned = await spawnReady(binary, args, { ready: /Ready to accept connections/ })
  return { ...spawned, port: chosen, url: `redis://127.0.0.1:${chosen}` }
}

/**
 * The `skip` of a suite that needs redis-server: skipped locally when it is missing, never
 * under CI=true (.ci/run installs it), where a missing server must fail, not pass silently.
 */
export function skipWithoutRedis(): string | false {
  return (
    findRedisServer() === undefined &&
    process.env.CI !== 'true' &&
    'redis-server is not on the PATH (apt-get install redis-server)'
  )
}
