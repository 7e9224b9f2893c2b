/**
 * Tasks (2025-11-25) belong to the identity that created them, and answer what their tool
 * answers: `tasks/result` hands back a tool call's result, `tasks/list` names every task the
 * server keeps. A stateless server keeps one task store for every caller, so without this a
 * caller read another's results, and those of a tool its roles forbid (the roles judged the
 * `tools/call`, never the `tasks/*` after it). The owner and the tool are noted when a
 * task-augmented `tools/call` answers with its task; `tasks/get|result|cancel` of a task this
 * caller did not create through this Portico (or whose tool its roles no longer allow) is
 * refused, and `tasks/list` keeps only the caller's own. An unknown task (created before a
 * restart, or evicted from the bounded table) is refused: fail closed, as an unknown session is.
 */
import { PorticoError } from '../errors.ts'
import { isObject, type JsonRpcRequest } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import { mapAnswer } from '../pipeline/reply.ts'
import { BoundedMap } from '../util/bounded-map.ts'
import { filterList, type ListShape, profileOf } from './authorize.ts'
import type { Policy } from './policy.ts'

const MAX_TASKS = 10_000

/** The methods that act on one task, named by `params.taskId`. */
const ON_ONE_TASK = new Set(['tasks/get', 'tasks/result', 'tasks/cancel'])

const TASK_LIST: ListShape = { key: 'tasks', field: 'taskId', kind: 'tool' }

interface TaskOwner {
  /** `Identity.key` of the caller that created it. */
  owner: string
  /** The tool it runs (as the caller named it). */
  tool: string
}

export function taskOwnership(policy: Policy, mcpPath: string): Middleware {
  const tasks = new BoundedMap<string, TaskOwner>(MAX_TASKS)
  return async function taskOwners(call, next) {
    const identity = call.identity
    const method = call.method ?? ''
    if (call.kind === 'notification' && (ON_ONE_TASK.has(method) || method === 'tasks/list')) {
      // Without an id it skipped the checks below, and a server runs a notification all the
      // same (a `tasks/cancel` of another caller's task did).
      throw new PorticoError('invalid_request', {
        message: `Invalid Request: ${method} is a request and needs an id`,
      })
    }
    if (call.kind !== 'request' || identity === undefined) return next(call)
    if (method === 'tools/call' && isObject(paramsOf(call)?.task)) {
      const tool = call.target?.name ?? ''
      return mapAnswer(call, await next(call), (response) => {
        const task = isObject(response.result) ? response.result.task : undefined
        const taskId = isObject(task) ? task.taskId : undefined
        if (typeof taskId === 'string') tasks.set(taskId, { owner: identity.key, tool })
        return undefined
      })
    }
    if (ON_ONE_TASK.has(method)) {
      const taskId = paramsOf(call)?.taskId
      const task = typeof taskId === 'string' ? tasks.get(taskId) : undefined
      if (task === undefined || task.owner !== identity.key) {
        throw new PorticoError('invalid_params', {
          message: `Invalid params: no task ${JSON.stringify(String(taskId).slice(0, 128))} of this caller (a task is answered to the caller that created it through this Portico)`,
        })
      }
      const profile = profileOf(call.request.path, mcpPath)
      if (!policy.allows(identity, 'tool', task.tool, profile)) {
        throw new PorticoError('forbidden', {
          message: `Forbidden: ${identity.subject} may not use tool ${task.tool}`,
          data: { tool: task.tool },
        })
      }
      tasks.touch(taskId as string)
      return next(call)
    }
    if (method !== 'tasks/list') return next(call)
    return filterList(call, await next(call), TASK_LIST, (taskId) => {
      const task = tasks.get(taskId)
      return task !== undefined && task.owner === identity.key
    })
  }
}

function paramsOf(call: Call) {
  const params = (call.message as JsonRpcRequest).params
  return isObject(params) ? params : undefined
}
