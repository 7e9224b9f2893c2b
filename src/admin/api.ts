/**
 * The admin REST API, mcp-proxy's routes (reference §3.1) served under `/admin`: health,
 * backends and their health history, runtime backend changes (HTTP and stdio, with the same
 * middleware as the file's backends), sessions, stats, circuit breakers and caches (from the
 * status board), the config (redacted, unlike mcp-proxy), config validation, Prometheus
 * metrics and an OpenAPI document. The HTTP filters of its mount (admin token, Origin, Host)
 * run before any of this; changes are logged with the caller's address, never a secret.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ConfigError, type ConfigOverrides, loadConfigText } from '../config/load.ts'
import type { Config } from '../config/schema.ts'
import { decodeText, NotUtf8Error } from '../config/text-file.ts'
import type { RouteHandler } from '../edge/router.ts'
import { sendJson, sendRefusal } from '../edge/send.ts'
import { PorticoError } from '../errors.ts'
import { readBody } from '../http/body.ts'
import { requestUrl } from '../http/request-url.ts'
import { isObject, parseJson } from '../jsonrpc/message.ts'
import type { Logger } from '../observe/logger.ts'
import type { StatusBoard } from '../observe/status.ts'
import { replaceFile } from '../util/replace-file.ts'
import type { Fleet } from './fleet.ts'
import { openApiDocument } from './openapi.ts'

/** The largest body the admin API reads by default (config text, backend JSON). */
export const ADMIN_BODY_BYTES = 1024 * 1024

export interface AdminApiOptions {
  fleet: Fleet
  status: StatusBoard
  logger: Logger
  proxyName: string
  /** Portico's version (the OpenAPI document's). */
  version: string
  /** The version `GET /admin/backends` reports: `[proxy] version` as it runs, as mcp-proxy. */
  proxyVersion?: () => string
  /** Prometheus text, when metrics are on (else `/admin/metrics` answers an empty body). */
  metrics?: { render(): Promise<string>; contentType: string }
  /** Largest body accepted (config text, backend JSON). */
  maxBodyBytes?: number
  /**
   * The config file (`PUT /admin/config` replaces it), and whether a change to it is applied
   * while running (hot reload) or at the next start, and why hot reload would refuse a config.
   */
  configFile?: {
    path: string
    /** The command line's settings the running config was loaded with (`--db`, `--port`). */
    overrides: ConfigOverrides
    applied: boolean
    refusal(next: Config): string | undefined
  }
  /**
   * What building Portico from a config would refuse beyond its schema (operate/preflight.ts):
   * `PUT /admin/config` writes nothing and `POST /admin/config/validate` says invalid when it
   * finds a problem.
   */
  preflight?: (config: Config) => string[]
  /**
   * What a config that builds may still do that its author should know (operate/preflight.ts's
   * `preflightWarnings`, which `portico check` prints and `portico run` logs): the answers of
   * `PUT /admin/config` and `POST /admin/config/validate` carry them with the file's own.
   */
  warnings?: (config: Config) => string[]
}

type Params = string[]
type Action = (req: IncomingMessage, res: ServerResponse, params: Params) => Promise<void> | void

interface Route {
  method: string
  pattern: RegExp
  action: Action
}

const SEGMENT = '([^/]+)'

export function adminApi(options: AdminApiOptions): RouteHandler {
  const routes = routesOf(options)
  return async (req, res) => {
    const pathname = (requestUrl(req.url, 'http://admin')?.pathname ?? '').replace(/\/+$/, '')
    let allowed = false
    for (const route of routes) {
      const match = route.pattern.exec(pathname)
      if (match === null) continue
      allowed = true
      if (route.method !== req.method) continue
      try {
        await route.action(req, res, match.slice(1).map(decodeSegment))
      } catch (error) {
        failure(res, error)
      }
      return
    }
    if (allowed) return sendJson(res, 405, { ok: false, message: 'Method Not Allowed' })
    sendJson(res, 404, { ok: false, message: 'Not Found' })
  }
}

function routesOf(options: AdminApiOptions): Route[] {
  const { fleet, status } = options
  const maxBody = options.maxBodyBytes ?? ADMIN_BODY_BYTES
  const writes = new FileWrites()
  const route = (method: string, path: string, action: Action): Route => ({
    method,
    pattern: new RegExp(`^/admin${path}$`),
    action,
  })
  const changes = () => {
    if (fleet.changes === undefined)
      throw new PorticoError('method_not_allowed', {
        message: 'Backends can be changed in gateway mode only',
      })
    return fleet.changes
  }
  const note = (req: IncomingMessage, what: string, fields: Record<string, unknown>) =>
    options.logger.info(`admin: ${what}`, { ...fields, by: req.socket.remoteAddress })
  return [
    route('GET', '/health', async (_req, res) => {
      const backends = await fleet.backends()
      const unhealthy = backends.filter((b) => !b.healthy).map((b) => b.namespace)
      sendJson(res, 200, {
        status: unhealthy.length === 0 ? 'healthy' : 'degraded',
        unhealthy_backends: unhealthy,
      })
    }),
    route('GET', '/backends', async (_req, res) => {
      const backends = await fleet.backends()
      sendJson(res, 200, {
        proxy: {
          name: options.proxyName,
          version: options.proxyVersion?.() ?? options.version,
          mode: fleet.mode,
          backend_count: backends.length,
          active_sessions: fleet.sessions()?.length ?? null,
        },
        backends,
      })
    }),
    route('POST', '/backends/add', async (req, res) => {
      const input = withTransport(await jsonBody(req, maxBody))
      const name = await changes().add(input)
      note(req, 'backend added', { backend: name })
      sendJson(res, 201, { ok: true, message: `Backend '${name}' added` })
    }),
    route('GET', `/backends/${SEGMENT}/health`, async (_req, res, [name]) => {
      const found = (await fleet.backends()).find((b) => b.namespace === trimSeparator(name))
      if (found === undefined)
        return sendJson(res, 404, { ok: false, message: 'Backend not found' })
      sendJson(res, 200, found)
    }),
    route('GET', `/backends/${SEGMENT}/health/history`, (_req, res, [name]) => {
      const history = fleet.history(trimSeparator(name))
      sendJson(
        res,
        200,
        history.map((h) => ({ namespace: h.backend, healthy: h.healthy, timestamp: h.at })),
      )
    }),
    route('PUT', `/backends/${SEGMENT}`, async (req, res, [name]) => {
      const body = await jsonBody(req, maxBody)
      // A body naming another backend is no rename: it was replaced under the URL's name.
      if (body.name !== undefined && body.name !== name) {
        throw new PorticoError('invalid_request', {
          message: `The body names backend ${JSON.stringify(body.name)} and the URL '${name}': a backend is renamed by removing it and adding the new one`,
        })
      }
      const replaced = await changes().replace(withTransport({ ...body, name }))
      note(req, 'backend replaced', { backend: replaced })
      sendJson(res, 200, { ok: true, message: `Backend '${replaced}' updated` })
    }),
    route('DELETE', `/backends/${SEGMENT}`, async (req, res, [name = '']) => {
      if (!(await changes().remove(name)))
        return sendJson(res, 404, { ok: false, message: `Backend '${name}' not found` })
      note(req, 'backend removed', { backend: name })
      sendJson(res, 200, { ok: true, message: `Backend '${name}' removed` })
    }),
    route('GET', '/sessions', (_req, res) => {
      sendJson(res, 200, { active_sessions: fleet.sessions()?.length ?? null })
    }),
    route('GET', '/sessions/detail', (_req, res) => {
      sendJson(res, 200, fleet.sessions() ?? [])
    }),
    route('DELETE', `/sessions/${SEGMENT}`, (req, res, [id = '']) => {
      if (!fleet.endSession(id))
        return sendJson(res, 404, { ok: false, message: 'Session not found' })
      note(req, 'session ended', { session: id.slice(0, 8) })
      sendJson(res, 200, { ok: true, message: 'Session terminated' })
    }),
    route('GET', '/stats', async (_req, res) => {
      const backends = await fleet.backends()
      const healthy = backends.filter((b) => b.healthy).length
      sendJson(res, 200, {
        total_backends: backends.length,
        healthy_backends: healthy,
        unhealthy_backends: backends.length - healthy,
        active_sessions: fleet.sessions()?.length ?? null,
      })
    }),
    route('GET', '/circuit-breakers', async (_req, res) => {
      const backends = new Map((await fleet.backends()).map((b) => [b.namespace, b]))
      const breakers = status
        .breakers()
        .map((b) => ({
          backend: b.backend,
          state: BREAKER_NAMES[b.state],
          health:
            b.state === 'open' || backends.get(b.backend)?.ejected === true
              ? 'unhealthy'
              : backends.get(b.backend)?.healthy === false
                ? 'degraded'
                : 'healthy',
        }))
        .sort((a, b) => a.backend.localeCompare(b.backend))
      sendJson(res, 200, breakers)
    }),
    route('GET', '/cache/stats', (_req, res) => {
      sendJson(
        res,
        200,
        status.caches().map((c) => ({
          namespace: c.backend,
          hits: c.hits,
          misses: c.misses,
          hit_rate: c.hits + c.misses === 0 ? 0 : c.hits / (c.hits + c.misses),
          entry_count: c.entries,
        })),
      )
    }),
    route('POST', '/cache/clear', async (req, res) => {
      const plain = { 'content-type': 'text/plain; charset=utf-8' }
      if (!status.hasCaches) {
        res.writeHead(200, plain).end('no caches configured')
        return
      }
      try {
        await status.clearCaches()
      } catch (error) {
        // Said, not hidden: the entries are still served until a clear succeeds.
        const why = error instanceof Error ? error.message : String(error)
        res.writeHead(503, plain).end(`caches not all cleared (${why}); try again`)
        return
      }
      note(req, 'caches cleared', {})
      res.writeHead(200, plain).end('caches cleared')
    }),
    route('GET', '/config', (_req, res) => sendJson(res, 200, fleet.config())),
    route('PUT', '/config', async (req, res) => {
      const file = options.configFile
      if (file === undefined) {
        return sendJson(res, 409, {
          ok: false,
          message: 'Portico runs without a config file: there is none to replace',
        })
      }
      const text = textOf(await readBody(req, maxBody))
      if (typeof text !== 'string') return sendJson(res, 400, { ok: false, message: text.problem })
      // Validated as that file (TOML or YAML by its name), with this process's environment.
      const checked = checkConfig(text, file.path, options, file)
      if ('problem' in checked) return sendJson(res, 400, { ok: false, message: checked.problem })
      const next = checked.config
      await writes.replace(file.path, text)
      note(req, 'config replaced', { file: file.path })
      const count = next.backends?.length ?? 0
      const what = count > 0 ? `${count} backends` : 'transparent mode'
      const refusal = file.applied ? file.refusal(next) : undefined
      sendJson(res, 200, {
        ok: true,
        message: !file.applied
          ? `Config updated (${what}). It applies at the next start (hot_reload is off).`
          : refusal !== undefined
            ? `Config updated (${what}). Hot reload will not apply it (${refusal}): restart Portico.`
            : `Config updated (${what}). Hot reload applies it.`,
        ...withWarnings(checked.warnings),
      })
    }),
    route('POST', '/config/validate', async (req, res) => {
      const text = textOf(await readBody(req, maxBody))
      if (typeof text !== 'string') return sendJson(res, 400, { ok: false, message: text.problem })
      // As PUT checks it: as the file would load (TOML or YAML by its name, an import_backends
      // path from its folder), with the command line's settings (named `config` in its
      // problems: the text is not the file yet).
      const checked = checkConfig(text, 'config', options, options.configFile)
      if ('problem' in checked) return sendJson(res, 400, { ok: false, message: checked.problem })
      const count = checked.config.backends?.length ?? 0
      sendJson(res, 200, {
        ok: true,
        message:
          count > 0 ? `Valid config with ${count} backends` : 'Valid config (transparent mode)',
        ...withWarnings(checked.warnings),
      })
    }),
    route('GET', '/metrics', async (_req, res) => {
      const metrics = options.metrics
      const body = metrics === undefined ? '' : await metrics.render()
      res
        .writeHead(200, {
          'content-type': metrics?.contentType ?? 'text/plain; version=0.0.4; charset=utf-8',
        })
        .end(body)
    }),
    route('GET', '/openapi.json', (_req, res) =>
      sendJson(res, 200, openApiDocument(options.version)),
    ),
  ]
}

const BREAKER_NAMES = { closed: 'Closed', open: 'Open', half_open: 'HalfOpen' } as const

/**
 * A path segment's name (a backend, a session id). A malformed escape (`%E0%A4%A`, `%ZZ`) is
 * the client's mistake: 400, where `decodeURIComponent`'s URIError would have been a 500.
 */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new PorticoError('invalid_request', {
      message: 'Bad Request: the path has invalid percent-encoding',
    })
  }
}

/** mcp-proxy accepts `name/` (its separator) for a backend's name. */
function trimSeparator(name: string | undefined): string {
  return (name ?? '').replace(/\/+$/, '')
}

/** A body with a `url` and no `transport` is an HTTP backend (mcp-proxy's add takes only that). */
function withTransport(body: Record<string, unknown>): Record<string, unknown> {
  if (body.transport === undefined && typeof body.url === 'string')
    return { ...body, transport: 'http' }
  return body
}

async function jsonBody(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const value = parseJson(await readBody(req, limit))
  if (!isObject(value)) {
    throw new PorticoError('invalid_request', { message: 'Expected a JSON object body' })
  }
  return value
}

/**
 * A refusal of the admin API's filters (no token, a foreign Host or Origin, a relayed request)
 * in its own `{ok, message}` shape, with its status and headers (`WWW-Authenticate`): the
 * bytes written.
 */
export function sendAdminRefusal(res: ServerResponse, error: PorticoError): number {
  return sendRefusal(res, error, JSON.stringify({ ok: false, message: error.message }))
}

/** Errors in mcp-proxy's `{ok, message}` shape, with the status of their reason. */
function failure(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  if (error instanceof PorticoError) {
    const status = error.reason === 'invalid_params' ? 409 : error.status
    sendJson(res, status, { ok: false, message: error.message })
    return
  }
  sendJson(res, 500, { ok: false, message: 'Internal error' })
}

/**
 * A config text as `label` (TOML, or YAML by the name), validated by the schema and then by
 * `preflight`; the problem as the answer's message when it is refused.
 */
function checkConfig(
  text: string,
  label: string,
  checks: Pick<AdminApiOptions, 'preflight' | 'warnings'>,
  file?: { path: string; overrides: ConfigOverrides },
): { config: Config; warnings: string[] } | { problem: string } {
  let loaded: { config: Config; warnings: string[] }
  try {
    // As the file it replaces would load: its stem names the proxy when the text sets no name
    // (else a file not called portico.toml differed in `name` from every text put over it),
    // and with the command line's settings (else `--db` read as a change to the store).
    loaded = loadConfigText(text, {
      label,
      env: process.env,
      ...(file ? { file: file.path, overrides: file.overrides, readAs: file.path } : {}),
    })
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    return { problem: `Invalid config: ${error.message}` }
  }
  const config = loaded.config
  const problems = checks.preflight?.(config) ?? []
  if (problems.length > 0) return { problem: `Invalid config: ${problems.join('; ')}` }
  return { config, warnings: [...loaded.warnings, ...(checks.warnings?.(config) ?? [])] }
}

/** A body as the text of a config file: UTF-8, else a problem naming the line. */
function textOf(body: Buffer): string | { problem: string } {
  try {
    return decodeText(body)
  } catch (error) {
    if (!(error instanceof NotUtf8Error)) throw error
    const where = error.line === undefined ? '' : `line ${error.line}: `
    return { problem: `Invalid config: ${where}${error.message}` }
  }
}

/** The answer's `warnings` member, when there are any (the same texts `portico check` prints). */
function withWarnings(warnings: string[]): { warnings?: string[] } {
  return warnings.length > 0 ? { warnings } : {}
}

/**
 * Replaces files one at a time, each in one step (util/replace-file.ts): two PUTs at once
 * cannot mix their texts, the later one wins whole.
 */
class FileWrites {
  #last: Promise<void> = Promise.resolve()

  replace(path: string, text: string): Promise<void> {
    const write = this.#last.then(() => replaceFile(path, text))
    // The next write waits for this one, whether it succeeds or fails.
    this.#last = write.catch(() => undefined)
    return write
  }
}
