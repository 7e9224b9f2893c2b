/** A relay in process on 127.0.0.1 for tests: `relay.test` as its domain, a silent logger. */
import { relaySchema } from '../../src/config/tunnel.ts'
import { Logger } from '../../src/observe/logger.ts'
import { RelayAuth } from '../../src/relay/auth.ts'
import { Relay } from '../../src/relay/server.ts'

export async function startTestRelay(
  settings: Record<string, unknown>,
  options: { auth?: RelayAuth; accessLog?: (line: string) => void } = {},
): Promise<{ relay: Relay; port: number }> {
  const relay = new Relay({
    config: { ...relaySchema.parse({ port: 0, ...settings }), domain: 'relay.test' },
    auth: options.auth ?? new RelayAuth({ mode: 'open' }),
    logger: new Logger({ level: 'silent' }),
    accessLog: options.accessLog ?? (() => {}),
  })
  return { relay, port: (await relay.listen()).port }
}
