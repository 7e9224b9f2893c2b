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
import { type AttributeSink, contextOf, SPAN_KIND, type Span, type Tracer } from './tracer.ts'

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

function requestAttributes(call: Call, attributes: AttributeSink): void {
  attributes.add('mcp.method.name', call.method ?? 'unknown')
  attributes.add('jsonrpc.protocol.version', '2.0')
  if (call.id !== undefined) attributes.add('jsonrpc.request.id', String(call.id))
  const target = call.target
  if (target?.name !== undefined) {
    if (target.kind === 'tool') {
      attributes.add('gen_ai.tool.name', target.name)
      attributes.add('gen_ai.operation.name', 'execute_tool')
    } else if (target.kind === 'prompt') attributes.add('gen_ai.prompt.name', target.name)
    else if (target.kind === 'resource') attributes.add('mcp.resource.uri', target.name)
  }
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
    const span = tracer.startDescribed(SPAN_KIND.server, parent, call, describeExchange)
    call.lifetime.onEnd(() => endExchange(tracer, span, call))
    return next({ ...call, traceparent: formatTraceparent(contextOf(span)) })
  }
}

/** The exchange span's request attributes and name, made when it is encoded. */
function describeExchange(call: Call, attributes: AttributeSink): string {
  requestAttributes(call, attributes)
  attributes.add('network.protocol.name', 'http')
  if (call.sessionId !== undefined) attributes.add('mcp.session.id', call.sessionId)
  if (call.protocolVersion !== undefined)
    attributes.add('mcp.protocol.version', call.protocolVersion)
  if (call.request.clientAddress !== undefined)
    attributes.add('client.address', call.request.clientAddress)
  return spanName(call)
}

function endExchange(tracer: Tracer, span: Span, call: Call): void {
  const notes = call.notes
  if (notes.backend !== undefined) span.set('portico.backend', notes.backend)
  if (notes.sessionId !== undefined && call.sessionId === undefined)
    span.set('mcp.session.id', notes.sessionId)
  if (notes.httpStatus !== undefined) span.set('http.response.status_code', notes.httpStatus)
  const outcome = notes.outcome ?? 'ok'
  span.set('portico.outcome', outcome)
  if (notes.errorCode !== undefined) span.set('rpc.response.status_code', String(notes.errorCode))
  if (outcome !== 'ok') {
    const code = notes.errorCode
    span.fail(notes.reason ?? (outcome === 'error' && code !== undefined ? String(code) : outcome))
  }
  tracer.end(span)
}

/** A span per attempt at an upstream (each retry is its own). */
export function attemptSpans(tracer: Tracer): Middleware {
  return (call, next) => {
    const parent = call.traceparent === undefined ? undefined : parseTraceparent(call.traceparent)
    if (parent === undefined || !parent.sampled || call.kind !== 'request') return next(call)
    const span = tracer.startDescribed(SPAN_KIND.client, parent, call, describeAttempt)
    const traced = { ...call, traceparent: formatTraceparent(contextOf(span)) }
    return next(traced).then(
      (reply) => {
        endAttempt(tracer, span, reply)
        return reply
      },
      (error: unknown) => {
        const reason = (error as { reason?: unknown })?.reason
        span.fail(typeof reason === 'string' ? reason : 'internal_error')
        tracer.end(span)
        throw error
      },
    )
  }
}

/** The attempt span's request attributes and name, made when it is encoded. */
function describeAttempt(call: Call, attributes: AttributeSink): string {
  requestAttributes(call, attributes)
  if (call.upstream !== undefined) attributes.add('portico.backend', call.upstream)
  return spanName(call)
}

function endAttempt(tracer: Tracer, span: Span, reply: Reply): void {
  if (reply.kind === 'http' || reply.status >= 400) span.fail(String(reply.status))
  else if (reply.kind === 'message') {
    // What is already in hand (gateway answers): an unread upstream body is not read for this.
    const summary = reply.summary(false)
    if (summary?.outcome === 'error') {
      span.set('rpc.response.status_code', String(summary.errorCode ?? ''))
      span.fail(String(summary.errorCode ?? 'error'))
    } else if (summary?.outcome === 'tool_error') span.fail('tool_error')
  }
  span.set('http.response.status_code', reply.status)
  tracer.end(span)
}
