/**
 * The fields MCP requires of a listed tool, prompt, resource or template. A client SDK
 * validates a list result as a whole: one backend's malformed item (a tool without an object
 * `inputSchema`, a resource without a `name`) would make the whole merged list unreadable, every
 * other backend's items with it, and a client refuses a list that names a tool twice. So a
 * backend's page is checked when it arrives, and an item that breaks the shape, or repeats an
 * earlier item's name, is left out (and reported), not passed on.
 */
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import { nestedDeeperThan } from '../util/json-depth.ts'
import { LIST_METHODS, type ListMethod } from './merge.ts'

/**
 * Deepest nesting of a listed item (its schemas, mostly). Real schemas nest a few tens of
 * levels; one nested thousands deep cannot be written back to a client (JSON.stringify
 * recurses), and would fail the whole merged list.
 */
export const MAX_ITEM_DEPTH = 256

/** Reports one item left out: what it is called (as far as it says) and why. */
export type DroppedItem = (label: string, problem: string) => void

/** `result` with only its well-formed items (the same object when all are). */
export function keepWellFormed(
  method: ListMethod,
  result: JsonObject,
  dropped: DroppedItem,
): JsonObject {
  const key = LIST_METHODS[method]
  const items = result[key]
  if (!Array.isArray(items)) return result
  const check = CHECKS[method]
  const identity = IDENTITIES[method]
  // A server that lists an item twice (registered again): clients refuse duplicate names.
  const seen = new Set<unknown>()
  let kept: unknown[] | undefined
  for (const [index, item] of items.entries()) {
    let problem = isObject(item) ? check(item) : 'is not an object'
    if (problem === undefined && nestedDeeperThan(item, MAX_ITEM_DEPTH)) {
      problem = `is nested deeper than ${MAX_ITEM_DEPTH} levels`
    }
    if (problem === undefined) {
      const id = (item as JsonObject)[identity]
      if (seen.has(id)) problem = `repeats an earlier ${JSON.stringify(String(id).slice(0, 80))}`
      else seen.add(id)
    }
    if (problem === undefined) {
      kept?.push(item)
      continue
    }
    kept ??= items.slice(0, index)
    dropped(labelOf(item, index), problem)
  }
  return kept === undefined ? result : { ...result, [key]: kept }
}

type Check = (item: JsonObject) => string | undefined

/** The field that names an item: two items of one list never share it. */
const IDENTITIES: Readonly<Record<ListMethod, string>> = {
  'tools/list': 'name',
  'prompts/list': 'name',
  'resources/list': 'uri',
  'resources/templates/list': 'uriTemplate',
}

const CHECKS: Readonly<Record<ListMethod, Check>> = {
  'tools/list': (tool) =>
    nonEmpty(tool, 'name') ??
    objectSchema(tool, 'inputSchema', true) ??
    objectSchema(tool, 'outputSchema', false) ??
    optional(tool, 'annotations', 'object') ??
    common(tool),
  'prompts/list': (prompt) =>
    nonEmpty(prompt, 'name') ?? promptArguments(prompt.arguments) ?? common(prompt),
  'resources/list': (resource) =>
    nonEmpty(resource, 'uri') ??
    required(resource, 'name') ??
    optional(resource, 'mimeType', 'string') ??
    optional(resource, 'size', 'number') ??
    common(resource),
  'resources/templates/list': (template) =>
    nonEmpty(template, 'uriTemplate') ??
    required(template, 'name') ??
    optional(template, 'mimeType', 'string') ??
    common(template),
}

/** The fields every listed item may have. */
function common(item: JsonObject): string | undefined {
  return (
    optional(item, 'title', 'string') ??
    optional(item, 'description', 'string') ??
    optional(item, '_meta', 'object') ??
    (item.icons === undefined || Array.isArray(item.icons) ? undefined : '"icons" is not a list')
  )
}

function nonEmpty(item: JsonObject, key: string): string | undefined {
  const value = item[key]
  return typeof value === 'string' && value !== ''
    ? undefined
    : `"${key}" is not a non-empty string`
}

function required(item: JsonObject, key: string): string | undefined {
  return typeof item[key] === 'string' ? undefined : `"${key}" is not a string`
}

function optional(item: JsonObject, key: string, type: 'string' | 'number' | 'object') {
  const value = item[key]
  if (value === undefined) return undefined
  const fits = type === 'object' ? isObject(value) : typeof value === type
  return fits ? undefined : `"${key}" is not ${type === 'object' ? 'an object' : `a ${type}`}`
}

/** A JSON Schema for an object, as MCP requires of a tool's input (and output) schema. */
function objectSchema(tool: JsonObject, key: string, needed: boolean): string | undefined {
  const schema = tool[key]
  if (schema === undefined && !needed) return undefined
  return isObject(schema) && schema.type === 'object'
    ? undefined
    : `"${key}" is not a JSON Schema of type "object"`
}

function promptArguments(value: unknown): string | undefined {
  if (value === undefined) return undefined
  const fine = Array.isArray(value) && value.every((a) => isObject(a) && typeof a.name === 'string')
  return fine ? undefined : '"arguments" is not a list of named arguments'
}

function labelOf(item: unknown, index: number): string {
  if (isObject(item)) {
    for (const key of ['name', 'uri', 'uriTemplate']) {
      const value = item[key]
      if (typeof value === 'string' && value !== '') return JSON.stringify(value.slice(0, 80))
    }
  }
  return `#${index + 1}`
}
