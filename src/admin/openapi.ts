/**
 * The admin API's OpenAPI 3.1 document (`GET /admin/openapi.json`): every route with its
 * request and response shapes, so operators can generate clients and see what each route does.
 */
import type { JsonObject } from '../jsonrpc/message.ts'

const ok = { $ref: '#/components/schemas/OkMessage' }

function json(description: string, schema: JsonObject): JsonObject {
  return { description, content: { 'application/json': { schema } } }
}

function op(summary: string, responses: JsonObject, extra: JsonObject = {}): JsonObject {
  return {
    summary,
    // What every route may answer before its own work: a bad token, a foreign Origin (or a
    // request a proxy relayed without a token configured), a body over the admin limit; a
    // route with a name in its path or a JSON body, a 400 for either that cannot be read.
    responses: {
      ...(readsInput(extra) ? { '400': { $ref: '#/components/responses/BadRequest' } } : {}),
      ...responses,
      '401': { $ref: '#/components/responses/Unauthorized' },
      '403': { $ref: '#/components/responses/Forbidden' },
      '413': { $ref: '#/components/responses/TooLarge' },
    },
    ...extra,
  }
}

/** Whether a route reads a name from its path or a JSON body (either may be malformed). */
function readsInput(extra: JsonObject): boolean {
  const parameters = Array.isArray(extra.parameters) ? extra.parameters : []
  return extra.requestBody === backendBody || parameters.length > 0
}

const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } }
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } }
const backendBody = {
  required: true,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/BackendInput' } } },
}
const tomlBody = { required: true, content: { 'application/toml': { schema: { type: 'string' } } } }

export function openApiDocument(version: string): JsonObject {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Portico Admin API',
      version,
      description:
        "mcp-proxy's admin routes. Every route needs `Authorization: Bearer <[admin] token>` when a token is configured; requests from foreign Origins are refused.",
    },
    security: [{ adminToken: [] }],
    paths: {
      '/admin/health': {
        get: op('Health summary', {
          '200': json('healthy or degraded', { $ref: '#/components/schemas/Health' }),
        }),
      },
      '/admin/backends': {
        get: op('Backends with health and proxy info', {
          '200': json('backends', {
            type: 'object',
            properties: {
              proxy: { type: 'object' },
              backends: { type: 'array', items: { $ref: '#/components/schemas/BackendStatus' } },
            },
          }),
        }),
      },
      '/admin/backends/add': {
        post: op(
          'Add a backend (HTTP or stdio, with the same middleware as configured ones)',
          { '201': json('added', ok), '409': json('refused', ok) },
          { requestBody: backendBody },
        ),
      },
      '/admin/backends/{name}': {
        put: op(
          'Replace a backend',
          { '200': json('updated', ok), '404': json('not found', ok), '409': json('refused', ok) },
          { parameters: [nameParam], requestBody: backendBody },
        ),
        delete: op(
          'Remove a backend',
          {
            '200': json('removed', ok),
            '404': json('not found', ok),
            '409': json('refused: another backend names it (mirror_of, failover, canary_of)', ok),
          },
          { parameters: [nameParam] },
        ),
      },
      '/admin/backends/{name}/health': {
        get: op(
          'One backend',
          {
            '200': json('status', { $ref: '#/components/schemas/BackendStatus' }),
            '404': { description: 'not found' },
          },
          { parameters: [nameParam] },
        ),
      },
      '/admin/backends/{name}/health/history': {
        get: op(
          "Healthy/unhealthy transitions (this backend's last 100)",
          {
            '200': json('transitions', {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  namespace: { type: 'string' },
                  healthy: { type: 'boolean' },
                  timestamp: { type: 'string', format: 'date-time' },
                },
              },
            }),
          },
          { parameters: [nameParam] },
        ),
      },
      '/admin/sessions': {
        get: op('Active session count', {
          '200': json('count', {
            type: 'object',
            properties: {
              active_sessions: {
                type: ['integer', 'null'],
                description: 'null in transparent mode, which keeps no sessions of its own',
              },
            },
          }),
        }),
      },
      '/admin/sessions/detail': {
        get: op('Sessions', {
          '200': json('sessions', {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                id: { type: 'string' },
                uptime_seconds: { type: 'integer' },
                idle_seconds: { type: 'integer' },
              },
            },
          }),
        }),
      },
      '/admin/sessions/{id}': {
        delete: op(
          'End a session',
          { '200': json('ended', ok), '404': json('not found', ok) },
          { parameters: [idParam] },
        ),
      },
      '/admin/stats': {
        get: op('Totals', {
          '200': json('stats', {
            type: 'object',
            properties: {
              total_backends: { type: 'integer' },
              healthy_backends: { type: 'integer' },
              unhealthy_backends: { type: 'integer' },
              active_sessions: { type: ['integer', 'null'] },
            },
          }),
        }),
      },
      '/admin/circuit-breakers': {
        get: op('Circuit breakers', {
          '200': json('breakers', {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                backend: { type: 'string' },
                state: { enum: ['Closed', 'Open', 'HalfOpen'] },
                health: { enum: ['healthy', 'degraded', 'unhealthy'] },
              },
            },
          }),
        }),
      },
      '/admin/cache/stats': {
        get: op('Cache hit rates', {
          '200': json('caches', {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                namespace: { type: 'string' },
                hits: { type: 'integer' },
                misses: { type: 'integer' },
                hit_rate: { type: 'number' },
                entry_count: { type: 'integer' },
              },
            },
          }),
        }),
      },
      '/admin/cache/clear': {
        post: op('Clear every cache', {
          '200': {
            description: '`caches cleared` or `no caches configured`',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          '503': {
            description: 'a shared cache (Redis) could not be cleared now: try again',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
        }),
      },
      '/admin/config': {
        get: op('The running config, secrets redacted', {
          '200': json('config', { type: 'object' }),
        }),
        put: op(
          'Replace the config file (TOML, or YAML for a .yaml file): validated, written over the file, applied by hot reload or at the next start',
          {
            '200': json('written', ok),
            '400': json('invalid, with every problem', ok),
            '409': json('Portico runs without a config file', ok),
          },
          { requestBody: tomlBody },
        ),
      },
      '/admin/config/validate': {
        post: op(
          'Validate a TOML config',
          { '200': json('valid', ok), '400': json('invalid, with every problem', ok) },
          { requestBody: tomlBody },
        ),
      },
      '/admin/metrics': {
        get: op('Prometheus metrics (empty when metrics are off)', {
          '200': {
            description: 'text format 0.0.4',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
        }),
      },
      '/admin/openapi.json': {
        get: op('This document', { '200': json('OpenAPI 3.1', { type: 'object' }) }),
      },
    },
    components: {
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer' } },
      responses: {
        Unauthorized: { description: 'missing or wrong admin token' },
        Forbidden: {
          description:
            'a foreign Origin, or without a token configured a request a proxy relayed or the tunnel brought',
        },
        TooLarge: { description: 'a body over the admin API limit' },
        BadRequest: {
          description:
            'a name in the path that is not valid percent-encoding, a body that is not a JSON object, or one naming another backend than the URL',
          content: {
            'application/json': { schema: { $ref: '#/components/schemas/OkMessage' } },
          },
        },
      },
      schemas: {
        OkMessage: {
          type: 'object',
          properties: { ok: { type: 'boolean' }, message: { type: 'string' } },
          required: ['ok', 'message'],
        },
        Health: {
          type: 'object',
          properties: {
            status: { enum: ['healthy', 'degraded'] },
            unhealthy_backends: { type: 'array', items: { type: 'string' } },
          },
        },
        BackendStatus: {
          type: 'object',
          properties: {
            namespace: { type: 'string' },
            healthy: { type: 'boolean' },
            last_checked_at: { type: ['string', 'null'], format: 'date-time' },
            ejected: { type: 'boolean' },
            breaker: {
              type: ['string', 'null'],
              description:
                "Its circuit breaker's state (closed, open, half_open); null without one",
            },
            consecutive_failures: {
              type: ['integer', 'null'],
              description: "null for transparent mode's upstream, which does not count them",
            },
            error: { type: ['string', 'null'] },
            transport: { type: ['string', 'null'] },
            state: { enum: ['idle', 'starting', 'up', 'down', 'failed', 'closed'] },
            restarts: { type: ['integer', 'null'] },
            connections: { type: ['integer', 'null'] },
            protocol_version: {
              type: ['string', 'null'],
              description:
                'The MCP revision the backend is reached in (null until it first answered)',
            },
          },
        },
        BackendInput: {
          type: 'object',
          description:
            'A [[backends]] table as JSON: name, transport (http when only url is given), url or command/args, and any per-backend key.',
          properties: {
            name: { type: 'string' },
            transport: { enum: ['stdio', 'http', 'sse'] },
            url: { type: 'string' },
            bearer_token: { type: 'string' },
            command: { type: 'string' },
            args: { type: 'array', items: { type: 'string' } },
          },
          required: ['name'],
        },
      },
    },
  }
}
