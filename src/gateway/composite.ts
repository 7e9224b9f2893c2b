/**
 * mcp-proxy's `[[composite_tools]]`: one tool that calls several backend tools with the same
 * arguments, all at once, and answers with their contents together. Each member call is a new
 * message through the whole global chain, on the caller's session and identity, so
 * authorization, filters, limits and every policy judge each member as a direct call (mcp-proxy
 * checks only the composite's own name). Contents come in the configured order (mcp-proxy: in
 * completion order, which changes from call to call); a member's failure is a text item naming
 * it, and makes the whole result `isError`.
 */
import type { CompositeTool } from '../config/gateway.ts'
import { isObject, type JsonObject, type JsonRpcResponse } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Gateway } from './gateway.ts'
import { callThroughChain } from './reenter.ts'

/** The definition clients see in `tools/list`: mcp-proxy lists a bare object schema. */
export function compositeDefinition(composite: CompositeTool): JsonObject {
  return {
    name: composite.name,
    description: composite.description,
    inputSchema: { type: 'object' },
  }
}

export function findComposite(gateway: Gateway, name: string): CompositeTool | undefined {
  const composites = gateway.config.composite_tools
  return composites.length === 0 ? undefined : composites.find((c) => c.name === name)
}

/** Calls every member at once; resolves with the combined `tools/call` result. */
export async function callComposite(
  gateway: Gateway,
  composite: CompositeTool,
  params: JsonObject,
  call: Call,
): Promise<JsonObject> {
  const answers = await Promise.all(
    composite.tools.map(async (tool, index) => {
      // Its own id and notes: members run side by side (reenter.ts).
      const answer = await callThroughChain(gateway, call, {
        name: tool,
        arguments: params.arguments,
        meta: withoutProgress(params._meta),
        own: { id: `${MEMBER_ID}${String(call.id ?? 0)}:${index}` },
      })
      const result = answer?.response.result
      // A member that asked for input: the composite cannot relay it, and no retry will come.
      if (result?.resultType === 'input_required') gateway.inputs.giveUp(result.requestState)
      return memberContent(tool, answer?.response)
    }),
  )
  const content = answers.flatMap((answer) => answer.content)
  const failed = answers.some((answer) => answer.failed)
  return failed ? { content, isError: true } : { content }
}

/**
 * Members' ids begin with a control character no client types: a client's own id (`7:0`) never
 * names a member in its session's table of calls (`notifications/cancelled` goes by id).
 */
const MEMBER_ID = '\u0001composite:'

/**
 * The outer request's `_meta` without its progress token: members run side by side, and their
 * progress under one token would interleave and go backwards, which MCP forbids (a token's
 * progress only increases). The trace context and the rest are carried on.
 */
function withoutProgress(meta: unknown): unknown {
  if (!isObject(meta) || meta.progressToken === undefined) return meta
  const { progressToken: _dropped, ...rest } = meta
  return rest
}

function memberContent(
  tool: string,
  response: JsonRpcResponse | undefined,
): { content: unknown[]; failed: boolean } {
  const failure = (message: string) => ({
    content: [{ type: 'text', text: `Error from ${tool}: ${message}` }],
    failed: true,
  })
  if (response === undefined) return failure('no answer')
  if (response.error !== undefined) return failure(response.error.message)
  const result = response.result ?? {}
  if (result.resultType !== undefined && result.resultType !== 'complete') {
    return failure('the tool asked for input, which a composite tool cannot relay')
  }
  const content = Array.isArray(result.content) ? result.content : []
  return { content, failed: result.isError === true }
}
