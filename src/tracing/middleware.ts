/**
 * Tracing as middleware. The exchange span (global chain, outermost): one SERVER span per
 * client request, its parent taken from the client (`traceparent` header, else
 * `_meta.traceparent`), ended when the answer is completely written (`call.lifetime`), with
 * the MCP semantic-convention attributes. The attempt span (each upstream's chain, innermost):
 * one CLIENT span per try at a backend or upstream, whose context the transport sends on
 * (`call.traceparent`: the HTTP header, and `_meta.traceparent` to gateway backends).
 */
import { isObject } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import type { Reply } from '../pipeline/reply.ts'
import { formatTraceparent, parseTraceparent, type SpanContext } from './context.ts'
import { type AttributeValue, contextOf, SPAN_KIND, type Span, type Tracer } from './tracer.ts'

/** The client's trace context: the header wins over `_meta` (SEP-414). */
function clientParent(call: Call): SpanContext | undefined {
  const header = call.headers.traceparent
  const fromHeader = parseTraceparent(Array.isArray(header) ? header[0] : header)
  if (fromHeader !== undefined) return fromHeader
  const message = call.message
  if (!('params' in message) || !isObject(message.params)) return undefined
  const meta = message.params._meta
  return isObject(meta) ? parseTraceparent(meta.traceparent) : undefined
}

function spanName(call: Call): string {
  const method = call.method ?? 'unknown'
  const target = call.target
  return target?.name !== undefined && target.kind !== 'resource'
    ? `${method} ${target.name}`
    : method
}

function requestAttributes(call: Call): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {
    'mcp.method.name': call.method ?? 'unknown',
    'jsonrpc.protocol.version': '2.0',
  }
  if (call.id !== undefined) attributes['jsonrpc.request.id'] = String(call.id)
  const target = call.target
  if (target?.name !== undefined) {
    if (target.kind === 'tool') {
      attributes['gen_ai.tool.name'] = target.name
      attributes['gen_ai.operation.name'] = 'execute_tool'
    } else if (target.kind === 'prompt') attributes['gen_ai.prompt.name'] = target.name
    else if (target.kind === 'resource') attributes['mcp.resource.uri'] = target.name
  }
  return attributes
}

/** The exchange span of every client request. */
export function exchangeSpans(tracer: Tracer): Middleware {
  return (call, next) => {
    if (call.kind !== 'request') return next(call)
    // A call made inside another (the search mode's call_tool) is a child of that call's span.
    const parent =
      call.traceparent !== undefined ? parseTraceparent(call.traceparent) : clientParent(call)
    if (parent !== undefined ? !parent.sampled : !tracer.sampleNew()) {
      // Not recorded: the client's context still travels on unchanged.
      return parent === undefined
        ? next(call)
        : next({ ...call, traceparent: formatTraceparent(parent) })
    }
    const attributes = requestAttributes(call)
    attributes['network.protocol.name'] = 'http'
    if (call.sessionId !== undefined) attributes['mcp.session.id'] = call.sessionId
    if (call.protocolVersion !== undefined)
      attributes['mcp.protocol.version'] = call.protocolVersion
    if (call.request.remoteAddress !== undefined)
      attributes['client.address'] = call.request.remoteAddress
    const span = tracer.start(spanName(call), SPAN_KIND.server, parent, attributes)
    call.lifetime.onEnd(() => endExchange(tracer, span, call))
    return next({ ...call, traceparent: formatTraceparent(contextOf(span)) })
  }
}

function endExchange(tracer: Tracer, span: Span, call: Call): void {
  const notes = call.notes
  const attributes = span.attributes
  if (notes.backend !== undefined) attributes['portico.backend'] = notes.backend
  if (notes.sessionId !== undefined) attributes['mcp.session.id'] ??= notes.sessionId
  if (notes.httpStatus !== undefined) attributes['http.response.status_code'] = notes.httpStatus
  const outcome = notes.outcome ?? 'ok'
  attributes['portico.outcome'] = outcome
  if (notes.errorCode !== undefined)
    attributes['rpc.response.status_code'] = String(notes.errorCode)
  if (outcome !== 'ok') {
    const type =
      notes.reason ??
      (outcome === 'error' && notes.errorCode !== undefined ? String(notes.errorCode) : outcome)
    attributes['error.type'] = type
    span.status = 2
    span.statusMessage = type
  }
  tracer.end(span)
}

/** A span per attempt at an upstream (each retry is its own). */
export function attemptSpans(tracer: Tracer): Middleware {
  return (call, next) => {
    const parent = call.traceparent === undefined ? undefined : parseTraceparent(call.traceparent)
    if (parent === undefined || !parent.sampled || call.kind !== 'request') return next(call)
    const attributes = requestAttributes(call)
    if (call.upstream !== undefined) attributes['portico.backend'] = call.upstream
    const span = tracer.start(spanName(call), SPAN_KIND.client, parent, attributes)
    const traced = { ...call, traceparent: formatTraceparent(contextOf(span)) }
    return next(traced).then(
      (reply) => {
        endAttempt(tracer, span, reply)
        return reply
      },
      (error: unknown) => {
        const reason = (error as { reason?: unknown })?.reason
        span.attributes['error.type'] = typeof reason === 'string' ? reason : 'internal_error'
        span.status = 2
        span.statusMessage = span.attributes['error.type'] as string
        tracer.end(span)
        throw error
      },
    )
  }
}

function endAttempt(tracer: Tracer, span: Span, reply: Reply): void {
  if (reply.kind === 'http' || reply.status >= 400) {
    span.attributes['error.type'] = String(reply.status)
    span.status = 2
  } else if (reply.kind === 'message') {
    // What is already in hand (gateway answers): an unread upstream body is not read for this.
    const summary = reply.summary(false)
    if (summary?.outcome === 'error') {
      span.attributes['rpc.response.status_code'] = String(summary.errorCode ?? '')
      span.attributes['error.type'] = String(summary.errorCode ?? 'error')
      span.status = 2
    } else if (summary?.outcome === 'tool_error') {
      span.attributes['error.type'] = 'tool_error'
      span.status = 2
    }
  }
  span.attributes['http.response.status_code'] = reply.status
  tracer.end(span)
}
