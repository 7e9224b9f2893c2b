/**
 * The relay's settings: `[relay]` from the config file, then mcpr's `MCPR_RELAY_*` variables
 * (and the same names with `PORTICO_RELAY_*`, which win), then flags. The auth mode follows
 * mcpr's priority (static tokens > auth provider > open) unless `*_AUTH_MODE` names one.
 */
import { type RelayConfig, relaySchema } from '../config/tunnel.ts'
import type { AuthMode, RelayAuthOptions } from './auth.ts'

export interface RelayFlags {
  domain?: string
  host?: string
  port?: number
}

export interface RelaySettings {
  config: RelayConfig & { domain: string }
  auth: RelayAuthOptions
}

/** The value of `MCPR_RELAY_<suffix>`, overridden by `PORTICO_RELAY_<suffix>`. */
function variable(env: NodeJS.ProcessEnv, suffix: string): string | undefined {
  const value = env[`PORTICO_RELAY_${suffix}`] || env[`MCPR_RELAY_${suffix}`]
  return value === '' ? undefined : value
}

/**
 * A credential's variable: as `variable`, but one set to the empty string is a problem, not
 * "unset". A compose file's `MCPR_RELAY_TOKENS=${TOKENS}` whose secret was not injected would
 * otherwise start the relay open.
 */
function credentialVariable(
  env: NodeJS.ProcessEnv,
  suffix: string,
  problems: string[],
): string | undefined {
  const value = variable(env, suffix)
  if (value !== undefined) return value
  for (const prefix of ['PORTICO_RELAY_', 'MCPR_RELAY_']) {
    if (env[`${prefix}${suffix}`] === '') {
      problems.push(
        `${prefix}${suffix} is set but empty, and the relay would run without it; it does not start (unset it, or give it a value)`,
      )
      return undefined
    }
  }
  return undefined
}

/** The `[relay]` keys that are durations (milliseconds once the file is parsed). */
const DURATION_KEYS = [
  'response_timeout',
  'send_timeout',
  'heartbeat_interval',
  'heartbeat_timeout',
  'registration_timeout',
  'drain_timeout',
] as const

/** Throws an Error listing every problem (the CLI prints it as a usage error). */
export function relaySettings(
  fromFile: RelayConfig | undefined,
  env: NodeJS.ProcessEnv,
  flags: RelayFlags = {},
): RelaySettings {
  const problems: string[] = []
  // A table from the file is parsed already (its durations are milliseconds): never again.
  const raw: Record<string, unknown> = { ...(fromFile ?? relaySchema.parse({})) }
  const number = (suffix: string, key: string) => {
    const value = variable(env, suffix)
    if (value === undefined) return
    if (!/^\d+$/.test(value)) problems.push(`MCPR_RELAY_${suffix}: expected a number`)
    else raw[key] = Number(value)
  }
  const domain = variable(env, 'DOMAIN')
  if (domain !== undefined) raw.domain = domain
  number('PORT', 'port')
  number('MAX_REQUEST_BODY', 'max_request_body_size')
  number('MAX_RESPONSE_BODY', 'max_response_body_size')
  const authUrl = credentialVariable(env, 'AUTH_URL', problems)
  if (authUrl !== undefined) raw.auth_provider = authUrl
  const authSecret = credentialVariable(env, 'AUTH_SECRET', problems)
  if (authSecret !== undefined) raw.auth_provider_secret = authSecret
  const tokens = credentialVariable(env, 'TOKENS', problems)
  if (tokens !== undefined) {
    let parsed: unknown
    try {
      parsed = JSON.parse(tokens)
    } catch {
      parsed = undefined
    }
    // `null` (or any other JSON that is no array) read as no tokens: a TypeError, not this.
    if (Array.isArray(parsed)) raw.tokens = parsed
    else problems.push('MCPR_RELAY_TOKENS: expected a JSON array of {token, subdomains}')
  }
  if (flags.domain !== undefined) raw.domain = flags.domain
  if (flags.host !== undefined) raw.host = flags.host
  if (flags.port !== undefined) raw.port = flags.port
  // Durations are already milliseconds here (the file's table was parsed): parsed again as
  // seconds, an hour's drain_timeout read as 41 days and was refused. Only the rest is checked.
  const omitted = Object.fromEntries(DURATION_KEYS.map((key) => [key, true] as const))
  const checked = relaySchema
    .omit(omitted as { [K in (typeof DURATION_KEYS)[number]]: true })
    .safeParse(
      Object.fromEntries(
        Object.entries(raw).filter(
          ([key, value]) =>
            value !== undefined && !(DURATION_KEYS as readonly string[]).includes(key),
        ),
      ),
    )
  if (!checked.success) {
    for (const issue of checked.error.issues) {
      problems.push(`relay.${issue.path.join('.')}: ${issue.message}`)
    }
  }
  if (raw.domain === undefined) {
    problems.push('relay.domain is required: [relay] domain, --domain or MCPR_RELAY_DOMAIN')
  }
  const config = raw as RelayConfig & { domain: string }
  // The relay cuts a tunnel it heard nothing from for heartbeat_timeout: one no longer than the
  // interval between its pings cut healthy tunnels.
  if (config.heartbeat_timeout <= config.heartbeat_interval) {
    problems.push(
      `relay.heartbeat_timeout (${config.heartbeat_timeout / 1000} s) must be longer than heartbeat_interval (${config.heartbeat_interval / 1000} s): healthy tunnels would be cut`,
    )
  }
  const auth = authOf(config, variable(env, 'AUTH_MODE'), problems)
  if (problems.length > 0) throw new Error(problems.join('\n'))
  return { config, auth }
}

/**
 * Fail closed: a relay that would run open while its settings name credentials (an empty
 * token list, a provider secret without a provider, tokens beside `*_AUTH_MODE=open`) does not
 * start: it would protect less than its file asks for.
 */
function credentialsLeftUnused(config: RelayConfig, mode: AuthMode, problems: string[]): void {
  if (mode !== 'open') return
  const why = (key: string, detail: string) =>
    problems.push(`relay.${key}: ${detail}, and the relay would run open; it does not start`)
  if (config.tokens !== undefined)
    why('tokens', config.tokens.length === 0 ? 'the token list is empty' : 'auth mode is open')
  if (config.auth_provider !== undefined) why('auth_provider', 'auth mode is open')
  if (config.auth_provider_secret !== undefined)
    why('auth_provider_secret', 'no auth_provider is set')
}

function authOf(
  config: RelayConfig,
  named: string | undefined,
  problems: string[],
): RelayAuthOptions {
  let mode: AuthMode
  if (named !== undefined) {
    if (named !== 'open' && named !== 'static' && named !== 'provider') {
      problems.push('MCPR_RELAY_AUTH_MODE: expected open, static or provider')
      return { mode: 'open' }
    }
    mode = named
  } else if (config.tokens?.length) mode = 'static'
  else if (config.auth_provider !== undefined) mode = 'provider'
  else mode = 'open'
  if (mode === 'static' && !config.tokens?.length) {
    problems.push('relay: static auth needs [[relay.tokens]] or MCPR_RELAY_TOKENS')
  }
  if (mode === 'provider' && config.auth_provider === undefined) {
    problems.push('relay: provider auth needs auth_provider or MCPR_RELAY_AUTH_URL')
  }
  credentialsLeftUnused(config, mode, problems)
  return {
    mode,
    ...(config.tokens ? { tokens: config.tokens } : {}),
    ...(config.auth_provider === undefined
      ? {}
      : {
          provider: {
            url: config.auth_provider,
            ...(config.auth_provider_secret === undefined
              ? {}
              : { secret: config.auth_provider_secret }),
          },
        }),
  }
}
