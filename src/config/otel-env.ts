/**
 * OpenTelemetry's standard exporter variables, the ones every OpenTelemetry SDK reads, as
 * defaults for the `[observability.tracing]` keys a file leaves unset: where operators already
 * set them for their other services, Portico's spans go to the same collector with nothing
 * more to write. The file's keys win over them (they only fill what it leaves out); they never
 * turn tracing on by themselves. Read:
 * - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the traces URL as it is), else
 *   `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL: `/v1/traces` is added to its path);
 * - `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`
 *   or `http/json` (`grpc` is refused by name: Portico exports OTLP over HTTP);
 * - `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`: `key=value` pairs
 *   separated by commas, values percent-decoded;
 * - `OTEL_SERVICE_NAME`.
 * A bad value is a configuration problem naming the variable, never its value (endpoints and
 * headers may carry credentials).
 */
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import { isHeaderName, isHeaderValue, isHttpUrl } from './operate.ts'

interface Problem {
  path: string
  message: string
}

const PROTOCOLS = ['http/protobuf', 'http/json']

/** `config` with the variables' values under `observability.tracing` where it sets none. */
export function withOtelDefaults(
  config: JsonObject,
  env: NodeJS.ProcessEnv,
  problems: Problem[],
): JsonObject {
  const observability = isObject(config.observability) ? config.observability : {}
  const tracing: JsonObject = isObject(observability.tracing) ? { ...observability.tracing } : {}
  const before = Object.keys(tracing).length
  const path = (key: string) => `observability.tracing.${key}`
  if (tracing.endpoint === undefined) {
    const endpoint = endpointOf(env)
    if (endpoint !== undefined) {
      if (isHttpUrl(endpoint.url)) tracing.endpoint = endpoint.url
      else
        problems.push({
          path: path('endpoint'),
          message: `${endpoint.variable} is not an absolute http:// or https:// URL`,
        })
    }
  }
  if (tracing.protocol === undefined) {
    const variable = firstSet(
      env,
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
      'OTEL_EXPORTER_OTLP_PROTOCOL',
    )
    const value = variable === undefined ? undefined : (env[variable] as string).trim()
    if (value !== undefined && PROTOCOLS.includes(value)) tracing.protocol = value
    else if (value !== undefined)
      problems.push({
        path: path('protocol'),
        // The variable, never its value (the README's rule for OTEL_* problems: a value in
        // the wrong variable may be a secret).
        message: `${variable}: Portico exports OTLP over HTTP, "http/protobuf" or "http/json"${value === 'grpc' ? ' (not gRPC)' : ''}`,
      })
  }
  if (tracing.headers === undefined) {
    const variable = firstSet(
      env,
      'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
      'OTEL_EXPORTER_OTLP_HEADERS',
    )
    if (variable !== undefined) {
      const headers = parseHeaders(env[variable] as string)
      if (headers !== undefined) tracing.headers = headers
      else
        problems.push({
          path: path('headers'),
          message: `${variable} is not a list of key=value pairs separated by commas`,
        })
    }
  }
  const service = env.OTEL_SERVICE_NAME?.trim()
  if (tracing.service_name === undefined && service) tracing.service_name = service
  if (Object.keys(tracing).length === before) return config
  return { ...config, observability: { ...observability, tracing } }
}

function firstSet(env: NodeJS.ProcessEnv, ...variables: string[]): string | undefined {
  return variables.find((variable) => (env[variable]?.trim() ?? '') !== '')
}

function endpointOf(env: NodeJS.ProcessEnv): { variable: string; url: string } | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()
  if (traces) return { variable: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', url: traces }
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()
  if (!base) return undefined
  if (!URL.canParse(base)) return { variable: 'OTEL_EXPORTER_OTLP_ENDPOINT', url: base }
  const url = new URL(base)
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/traces`
  return { variable: 'OTEL_EXPORTER_OTLP_ENDPOINT', url: url.toString() }
}

/** `k1=v1,k2=v2` (W3C baggage-like, values percent-encoded), or undefined when malformed. */
function parseHeaders(text: string): Record<string, string> | undefined {
  const headers: Record<string, string> = {}
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue
    const equals = pair.indexOf('=')
    if (equals <= 0) return undefined
    const key = pair.slice(0, equals).trim()
    if (!isHeaderName(key)) return undefined
    try {
      const value = decodeURIComponent(pair.slice(equals + 1).trim())
      // Decoded, a value may hold what no header can carry (%0A): refused here, not at the
      // first export (which then dropped every span).
      if (!isHeaderValue(value)) return undefined
      headers[key] = value
    } catch {
      return undefined
    }
  }
  return headers
}
