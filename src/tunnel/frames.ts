/**
 * The tunnel's wire format: every WebSocket message is one binary frame,
 * `[type: u8][stream id: u32 BE][payload]`. Bodies travel as raw bytes in DATA frames (no
 * base64, no JSON around them); only the small control payloads (handshake, request and
 * response heads) are JSON. Stream 0 is the connection itself (handshake, heartbeats).
 */
import { isHopByHop } from '../http/headers.ts'

/** Bumped on any incompatible change; the relay refuses other versions (close 4003). */
export const PROTOCOL_VERSION = 1

/** Where tunnel clients register (the relay's WebSocket path). */
export const REGISTER_PATH = '/_tunnel/register'

/**
 * The registration's upgrade request carries the token (`Authorization: Bearer <token>`) and
 * the subdomain asked for in this header, so the relay can check them before it accepts the
 * WebSocket; the Register frame repeats both (a relay that reads only the frame still works).
 */
export const SUBDOMAIN_HEADER = 'x-portico-tunnel-subdomain'

export const FrameType = {
  /** client → relay, stream 0: `{version, token, subdomain?}`: always the first frame. */
  Register: 1,
  /** relay → client, stream 0: `{version, subdomain, url, window, maxFrame}`. */
  Registered: 2,
  /** relay → client: a new request `{method, path, headers (raw pairs), remote?}`. */
  Open: 3,
  /** client → relay: the response head `{status, headers (raw pairs)}`. */
  Head: 4,
  /** Body bytes, either way; counted against the receiver's window. */
  Data: 5,
  /** The sender's body is complete. */
  End: 6,
  /** Abandons the stream, either way; payload: a short reason in UTF-8. */
  Reset: 7,
  /** Flow control: the receiver lets the sender send u32 more bytes on this stream. */
  Window: 8,
  /** Heartbeat, stream 0, 8 opaque bytes echoed in the Pong. */
  Ping: 9,
  Pong: 10,
} as const

export type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType]

/** Close codes of the tunnel's WebSocket (4001 and 4002 as in mcpr). */
export const CloseCode = {
  /** Registration refused: invalid token, subdomain not allowed, auth provider down. */
  Refused: 4001,
  /** Another client registered the same subdomain: this one must not reconnect. */
  Evicted: 4002,
  /** The client speaks another protocol version. */
  Version: 4003,
  /** A frame the protocol does not allow (bad type, window overrun, malformed head). */
  Protocol: 4004,
  /** No frame within the heartbeat timeout. */
  Timeout: 4005,
  /** The relay or the client is shutting down. */
  GoingAway: 1001,
  /** The relay holds `max_tunnels` tunnels: the client tries again later (as after a 503). */
  TryAgainLater: 1013,
} as const

export const HEADER_BYTES = 5

export interface Frame {
  type: number
  stream: number
  payload: Buffer
}

export function encodeFrame(type: FrameTypeCode, stream: number, payload?: Uint8Array): Buffer {
  const length = payload?.byteLength ?? 0
  const frame = Buffer.allocUnsafe(HEADER_BYTES + length)
  frame[0] = type
  frame.writeUInt32BE(stream, 1)
  if (payload && length > 0) frame.set(payload, HEADER_BYTES)
  return frame
}

export function encodeJson(type: FrameTypeCode, stream: number, value: unknown): Buffer {
  return encodeFrame(type, stream, Buffer.from(JSON.stringify(value)))
}

export function encodeWindow(stream: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4)
  payload.writeUInt32BE(increment, 0)
  return encodeFrame(FrameType.Window, stream, payload)
}

/** Parses one WebSocket message; undefined when it is too short or of an unknown type. */
export function decodeFrame(data: Buffer): Frame | undefined {
  if (data.length < HEADER_BYTES) return undefined
  const type = data[0] as number
  if (type < FrameType.Register || type > FrameType.Pong) return undefined
  return { type, stream: data.readUInt32BE(1), payload: data.subarray(HEADER_BYTES) }
}

/** A frame's JSON payload as an object, or undefined when it is not one. */
export function payloadObject(frame: Frame): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(frame.payload.toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** The u32 of a Window frame, or undefined when malformed. */
export function windowIncrement(frame: Frame): number | undefined {
  return frame.payload.length === 4 ? frame.payload.readUInt32BE(0) : undefined
}

/** Raw header pairs `[name, value, name, value…]` as sent in Open and Head frames. */
/** Header fields one head frame carries at most (a request with more is refused at the relay). */
export const MAX_HEADER_FIELDS = 256

export function isHeaderPairs(value: unknown): value is string[] {
  return (
    Array.isArray(value) &&
    value.length % 2 === 0 &&
    value.length <= 2 * MAX_HEADER_FIELDS &&
    value.every((item) => typeof item === 'string')
  )
}

/** The value of the first header `name` (lower case) among raw pairs, or undefined. */
export function pairValue(pairs: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    if ((pairs[i] as string).toLowerCase() === name) return pairs[i + 1] as string
  }
  return undefined
}

/** `rawHeaders` without the hop-by-hop ones (and those the `connection` header names). */
export function endToEnd(raw: readonly string[]): string[] {
  const named = new Set<string>()
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'connection') {
      for (const name of (raw[i + 1] as string).split(',')) named.add(name.trim().toLowerCase())
    }
  }
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase()
    if (isHopByHop(name) || named.has(name)) continue
    out.push(raw[i] as string, raw[i + 1] as string)
  }
  return out
}
