/**
 * mcpr's tunnel and relay tables. `[tunnel]` (enabled, relay_url, token, subdomain) makes
 * `portico run` publish itself through a relay; `[relay]` (domain, auth_provider,
 * auth_provider_secret, `[[relay.tokens]]`) configures `portico relay`, plus Portico's own
 * listener and per-tunnel limits. See src/tunnel/ and src/relay/.
 */
import { z } from 'zod'
import { relaySocketUrl } from '../tunnel/relay-url.ts'
import { durationSchema } from './duration-schema.ts'
import { listenHostSchema } from './listen-host.ts'

/** A relay deadline: 0 would end every call, stream or registration at once. */
const positiveDuration = durationSchema.refine((ms) => ms > 0, {
  message: 'expected a duration above 0',
})

/** One DNS label: what a subdomain may be. */
export const SUBDOMAIN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
/**
 * A token's allowed subdomain: a label (`SUBDOMAIN`), or one with one `*` standing for a run,
 * where what is written could begin or end a label (not `-alice`, `*-`), 63 characters at most.
 */
const SUBDOMAIN_PATTERN =
  /^(?=.{1,63}$)(?:\*|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?|[a-z0-9][a-z0-9-]*\*(?:[a-z0-9-]*[a-z0-9])?|\*[a-z0-9-]*[a-z0-9])$/

const httpUrl = z
  .string()
  .refine((value) => /^https?:\/\/[^/]+/i.test(value) && URL.canParse(value), {
    message: 'expected an absolute http:// or https:// URL',
  })

/**
 * What a tunnel token may be: it travels in the registration's `Authorization` header, where
 * the relay reads it with the spaces at either end trimmed and Node refuses characters past
 * Latin-1, so a token with either never matched (`"trail "` was refused as another token, `"€"`
 * stopped the client with a header error). Said when the config is read instead.
 */
export function tunnelTokenProblem(token: string): string | undefined {
  if (token.length === 0) return 'a token cannot be empty'
  if (/^[\t ]|[\t ]$/.test(token)) return 'a token cannot start or end with a space'
  if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(token))
    return 'a token travels in an HTTP header: printable ASCII (or Latin-1) characters only'
  return undefined
}

const relayUrlSchema = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    try {
      relaySocketUrl(value)
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message })
    }
  })

const tunnelTokenSchema = z.string().superRefine((token, ctx) => {
  const problem = tunnelTokenProblem(token)
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
})

export const tunnelSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** The relay: `https://tunnel.example.com` (WebSocket over TLS) or `http://…`. */
    relay_url: relayUrlSchema.optional(),
    /**
     * Sent in the registration's upgrade request (`Authorization: Bearer`) and in the first
     * WebSocket message, never in a URL.
     */
    token: tunnelTokenSchema.optional(),
    subdomain: z
      .string()
      .regex(SUBDOMAIN, 'expected one DNS label: lowercase letters, digits and "-"')
      .optional(),
  })
  .superRefine((tunnel, ctx) => {
    if (!tunnel.enabled) return
    if (tunnel.relay_url === undefined)
      ctx.addIssue({ code: 'custom', path: ['relay_url'], message: 'required when enabled' })
    if (tunnel.token === undefined)
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'required when enabled' })
  })

export const relayTokenSchema = z.strictObject({
  token: tunnelTokenSchema,
  /** Allowed subdomains; one `*` is a wildcard (`demo-*`, `*`). */
  subdomains: z
    .array(
      z
        .string()
        .min(1)
        // A pattern no subdomain can match (`Alice`, `x.y`, `a*b*`) was taken silently: its
        // owner learnt it only when every registration was refused.
        .regex(
          SUBDOMAIN_PATTERN,
          'expected a subdomain (one DNS label: lowercase letters, digits and "-") with at most one "*"',
        ),
    )
    .min(1),
})

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?'
const DOMAIN_PATTERN = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`, 'i')

/**
 * One token in two entries: only the first entry's subdomains counted, so the second's were
 * refused with nothing said at start. Refused at the repeat, naming the first.
 */
function refuseRepeatedTokens(
  entries: ReadonlyArray<{ token: string }>,
  ctx: z.RefinementCtx,
): void {
  const first = new Map<string, number>()
  for (const [index, entry] of entries.entries()) {
    const seen = first.get(entry.token)
    if (seen === undefined) {
      first.set(entry.token, index)
      continue
    }
    ctx.addIssue({
      code: 'custom',
      path: [index, 'token'],
      message: `the same token as tokens[${seen}]: list all its subdomains in one entry`,
    })
  }
}

export const relaySchema = z.strictObject({
  /** Public tunnels are `<subdomain>.<domain>`. Required to run a relay. */
  domain: z
    .string()
    // Whole labels only: a trailing dot (`relay.test.`) made the bare domain read as tunnel
    // "relay", and `..` or a leading dot named no host at all.
    .regex(
      DOMAIN_PATTERN,
      'expected a host name like tunnel.example.com (no leading or trailing dot)',
    )
    .optional(),
  /** The relay listens here; TLS is terminated in front of it (Caddy, nginx). */
  host: listenHostSchema.default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
  /** Scheme of the public URLs handed to clients (`https` behind a TLS terminator). */
  public_scheme: z.enum(['https', 'http']).default('https'),
  /** mcpr's token verification service: `POST <auth_provider>/api/verify`. */
  auth_provider: httpUrl.optional(),
  auth_provider_secret: z.string().min(1).optional(),
  tokens: z.array(relayTokenSchema).superRefine(refuseRepeatedTokens).optional(),
  max_request_body_size: z
    .number()
    .int()
    .positive()
    .default(5 * 1024 * 1024),
  max_response_body_size: z
    .number()
    .int()
    .positive()
    .default(10 * 1024 * 1024),
  /**
   * Requests in flight through one tunnel at most (open GET streams included: each MCP session
   * may hold one); more get 503.
   */
  max_streams: z.number().int().positive().default(256),
  /** Requests per second per tunnel (a token bucket, burst twice that); more get 429. */
  requests_per_second: z.number().positive().default(100),
  /** Time a tunnel has to start answering a request before the relay answers 504. */
  response_timeout: positiveDuration.default(30_000),
  /**
   * Time a client may take nothing of an answer the relay is sending before it is disconnected
   * (and the tunnel's stream reset); nginx's send_timeout.
   */
  send_timeout: positiveDuration.default(60_000),
  /** At least 1 s: a relay pinging every millisecond spent a core on it. */
  heartbeat_interval: durationSchema
    .refine((ms) => ms >= 1000, { message: 'expected at least 1 s' })
    .default(15_000),
  /** Longer than `heartbeat_interval` (checked with it: relay/settings.ts). */
  heartbeat_timeout: positiveDuration.default(45_000),
  /**
   * Time a WebSocket at the registration path has to send its registration; then it is closed
   * (4004). Sockets waiting to register are bounded (64, 8 per address): short, so strangers
   * that connect and stay silent cannot hold the places of tunnels that register.
   */
  registration_timeout: positiveDuration.default(5_000),
  /**
   * On SIGTERM or SIGINT, time the answers in flight have to finish (new requests get 503)
   * before the tunnels are closed.
   */
  drain_timeout: durationSchema.default(10_000),
  max_tunnels: z.number().int().positive().default(1000),
  /**
   * Tunnels one token may hold at once: a token allowed a pattern (`alice-*`), or any name on
   * an open relay, cannot take every place of `max_tunnels`. A reconnection to a subdomain the
   * token holds replaces its tunnel and is not counted twice.
   */
  max_tunnels_per_token: z.number().int().positive().default(100),
})

export type TunnelConfig = z.output<typeof tunnelSchema>
export type RelayConfig = z.output<typeof relaySchema>
