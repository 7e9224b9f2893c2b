/**
 * Tracing as middleware. The exchange span (global chain, outermost): one SERVER span per
 * client request, its parent taken from the client (`traceparent` header, else
 * `_meta.traceparent`), ended when the answer is completely written (`call.lifetime`), with
 * the MCP semantic-convention attributes. The attempt span (each upstream's chain, innermost):
 * one CLIENT span per try at a backend or upstream, whose context the transport sends on
 * (`call.trace`, formatted once: the HTTP header, and `_meta.traceparent` to gateway backends).
 * A span is the context of the call copy passed on; nothing else is made per span on the
 * request path (its name and attributes are written when it is encoded, from the call, its
 * notes and the few fields its end sets).
 */
import { bigIdLiteral, isObject } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import type { Reply } from '../pipeline/reply.ts'
import { parseTraceparent, type TraceContext } from '../pipeline/trace-context.ts'
import { clipText } from '../util/format.ts'
import { type AttributeSink, SPAN_KIND, type Span, type Tracer } from './tracer.ts'

/** The client's trace context: the header wins over `_meta` (SEP-414). */
function clientParent(call: Call): TraceContext | undefined {
  const header = call.headers.traceparent
  const fromHeader = parseTraceparent(Array.isArray(header) ? header[0] : header)
  if (fromHeader !== undefined) return fromHeader
  const message = call.message
  if (!('params' in message) || !isObject(message.params)) return undefined
  const meta = message.params._meta
  return isObject(meta) ? parseTraceparent(meta.traceparent) : undefined
}

/**
 * The span's name: the method and what it names, each as the client wrote it and so clipped
 * (clipText), as every value a client chose: a 1.3 MB tool name made 1.3 MB spans, and a
 * collector that refuses large requests dropped every span batched with one.
 */
function spanName(call: Call): string {
  const method = clipText(call.method ?? 'unknown')
  const target = call.target
  return target?.name !== undefined && target.kind !== 'resource'
    ? `${method} ${clipText(target.name)}`
    : method
}

function requestAttributes(call: Call, attributes: AttributeSink): void {
  attributes.add('mcp.method.name', clipText(call.method ?? 'unknown'))
  attributes.add('jsonrpc.protocol.version', '2.0')
  if (call.id !== undefined)
    attributes.add('jsonrpc.request.id', clipText(bigIdLiteral(call.id) ?? String(call.id), 64))
  const target = call.target
  if (target?.name !== undefined) {
    const name = clipText(target.name)
    if (target.kind === 'tool') {
      attributes.add('gen_ai.tool.name', name)
      attributes.add('gen_ai.operation.name', 'execute_tool')
    } else if (target.kind === 'prompt') attributes.add('gen_ai.prompt.name', name)
    else if (target.kind === 'resource') attributes.add('mcp.resource.uri', name)
  }
}

/** The exchange span of every client request. */
export function exchangeSpans(tracer: Tracer): Middleware {
  return (call, next) => {
    if (call.kind !== 'request') return next(call)
    // A call made inside another (the search mode's call_tool) is a child of that call's span.
    const parent = call.trace ?? clientParent(call)
    if (parent !== undefined ? !parent.sampled : !tracer.sampleNew()) {
      // Not recorded: the client's context still travels on unchanged.
      return parent === undefined || parent === call.trace
        ? next(call)
        : next({ ...call, trace: parent })
    }
    const span = tracer.startDescribed(SPAN_KIND.server, parent, call, describeExchange)
    call.lifetime.onEnd(span)
    return next({ ...call, trace: span })
  }
}

/**
 * The exchange span's name and attributes, made when it is encoded, after its call ended: the
 * request's, then what the chain noted about the call (final by then).
 */
function describeExchange(call: Call, attributes: AttributeSink, span: Span): string {
  requestAttributes(call, attributes)
  attributes.add('network.protocol.name', 'http')
  const notes = call.notes
  const sessionId = call.sessionId ?? notes.sessionId
  if (sessionId !== undefined) attributes.add('mcp.session.id', clipText(sessionId))
  if (call.protocolVersion !== undefined)
    attributes.add('mcp.protocol.version', clipText(call.protocolVersion, 64))
  if (call.request.clientAddress !== undefined)
    attributes.add('client.address', call.request.clientAddress)
  if (notes.backend !== undefined) attributes.add('portico.backend', notes.backend)
  if (notes.httpStatus !== undefined) attributes.add('http.response.status_code', notes.httpStatus)
  const outcome = notes.outcome ?? 'ok'
  attributes.add('portico.outcome', outcome)
  const code = notes.errorCode
  if (code !== undefined) attributes.add('rpc.response.status_code', String(code))
  if (outcome !== 'ok') {
    const type =
      notes.reason ?? (outcome === 'error' && code !== undefined ? String(code) : outcome)
    attributes.add('error.type', type)
    span.failedAs(type)
  }
  return spanName(call)
}

/** A span per attempt at an upstream (each retry is its own). */
export function attemptSpans(tracer: Tracer): Middleware {
  return (call, next) => {
    const parent = call.trace
    if (parent === undefined || !parent.sampled || call.kind !== 'request') return next(call)
    const span = tracer.startDescribed(SPAN_KIND.client, parent, call, describeAttempt)
    return next({ ...call, trace: span }).then(
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
  span.httpStatus = reply.status
  tracer.end(span)
}
