/** A relay in process on 127.0.0.1 for tests: `relay.test` as its domain, a silent logger. */
import { once } from 'node:events'
import { WebSocket } from 'ws'
import { relaySchema } from '../../src/config/tunnel.ts'
import { Logger } from '../../src/observe/logger.ts'
import { RelayAuth } from '../../src/relay/auth.ts'
import { Relay } from '../../src/relay/server.ts'
import { encodeJson, FrameType, PROTOCOL_VERSION } from '../../src/tunnel/frames.ts'
import { DEFAULT_MUX, Mux, type TunnelStream } from '../../src/tunnel/mux.ts'

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

/** A tunnel the test speaks the protocol for: registers `subdomain`, answers with `onOpen`. */
export async function registerTunnel(
  port: number,
  subdomain: string,
  onOpen: (stream: TunnelStream, head: Record<string, unknown>) => void,
): Promise<{ ws: WebSocket; mux: Mux }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/_tunnel/register`)
  await once(ws, 'open')
  ws.send(encodeJson(FrameType.Register, 0, { version: PROTOCOL_VERSION, subdomain }))
  await once(ws, 'message')
  return { ws, mux: new Mux(ws, { ...DEFAULT_MUX, onOpen }) }
}
