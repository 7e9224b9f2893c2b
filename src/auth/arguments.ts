/**
 * Argument checks before a tool call reaches an upstream: `[security] max_argument_size` (the
 * JSON of `arguments`, in bytes, as mcp-proxy measures it) and, with `validate_arguments`,
 * the tool's `inputSchema` (ajv). Schemas are learned from the `tools/list` answers passing
 * through (by client-facing name, bounded) and each distinct schema is compiled once. A tool
 * whose schema Portico has not seen yet, or whose schema ajv cannot compile, is passed to the
 * upstream, which validates it too. Refusals are in-band `invalid_params` (-32602) with the id.
 */
import { createRequire } from 'node:module'
import type { Ajv, ValidateFunction } from 'ajv'
import type { Ajv2020 } from 'ajv/dist/2020.js'
import { PorticoError } from '../errors.ts'
import { encodeValues, isObject, type JsonObject, type JsonRpcRequest } from '../jsonrpc/message.ts'
import type { Logger } from '../observe/logger.ts'
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import { mapAnswer } from '../pipeline/reply.ts'
import { folded } from '../protocol/classify.ts'
import { BoundedMap } from '../util/bounded-map.ts'
import { printable } from '../util/format.ts'

const MAX_TOOLS = 10_000
const AJV_OPTIONS = { strict: false, allErrors: false, validateFormats: false }
// ajv is loaded on first use (below): most configurations never validate arguments.
const require = createRequire(import.meta.url)
const MAX_COMPILED = 1000
/**
 * Compiles one Ajv instance serves before it is replaced: each compile leaves values in the
 * instance's code-generation scope (the schema, its validate function) that nothing removes,
 * so an upstream whose schemas keep changing grew one instance without bound (about 4 KB a
 * compile). A replaced instance is freed once the validators it made are evicted.
 */
const COMPILES_PER_INSTANCE = MAX_COMPILED / 2

export interface ArgumentOptions {
  maxArgumentSize: number | undefined
  validate: boolean
  logger: Logger
}

/** Every tools/call's arguments, as JSON text (what size limits measure). */
function argumentsOf(call: Call): unknown {
  const params = (call.message as JsonRpcRequest).params
  return isObject(params) ? params.arguments : undefined
}

export class ArgumentGuard {
  readonly #options: ArgumentOptions
  /** Tool name → its schema's JSON text (the key of the compiled validator). */
  readonly #schemas = new BoundedMap<string, string>(MAX_TOOLS)
  readonly #compiled = new BoundedMap<string, ValidateFunction | null>(MAX_COMPILED)
  /** Schema text → the schema, parsed once for the case checks. */
  readonly #parsed = new BoundedMap<string, JsonObject>(MAX_COMPILED)
  /** Made on the first schema compiled: a guard that only bounds sizes never loads ajv. */
  #ajv: Ajv | undefined
  #ajv2020: Ajv2020 | undefined
  /** Compiles since the instances were made. */
  #compiles = 0

  constructor(options: ArgumentOptions) {
    this.#options = options
  }

  middleware(): Middleware {
    return async (call, next) => {
      if (call.kind !== 'request') return next(call)
      if (call.method === 'tools/call') this.check(call)
      if (call.method !== 'tools/list' || !this.#options.validate) return next(call)
      return mapAnswer(call, await next(call), (response) => {
        this.learn(response.result)
        return undefined
      })
    }
  }

  /** Throws invalid_params for arguments over the size limit or failing the tool's schema. */
  check(call: Call): void {
    const args = argumentsOf(call)
    const limit = this.#options.maxArgumentSize
    if (limit !== undefined && args !== undefined) {
      // encodeValues: arguments too deep to write are refused as invalid params, not a crash.
      const size = Buffer.byteLength(encodeValues(args))
      if (size > limit) {
        throw new PorticoError('invalid_params', {
          message: `Invalid params: tool arguments exceed maximum size: ${size} bytes (limit: ${limit} bytes)`,
        })
      }
    }
    const name = call.target?.name
    if (!this.#options.validate || name === undefined) return
    const validate = this.#validator(name)
    if (validate === undefined) return
    this.#refuseCaseVariants(name, args)
    if (!validate(args ?? {})) {
      const first = validate.errors?.[0]
      const where = first?.instancePath || '(arguments)'
      throw new PorticoError('invalid_params', {
        message: `Invalid params: arguments of ${name} do not match its inputSchema: ${where} ${first?.message ?? 'is invalid'}`,
        data: { tool: name },
      })
    }
  }

  /**
   * Refuses an argument named like one of the schema's properties but in another case
   * (`"Path"` beside `"path"`), at any depth the schema describes (an object's `properties`,
   * an array's `items`): the schema checks `path` and lets `Path` through as another property,
   * and a server that matches names case-insensitively (Go's encoding/json, the last one
   * winning) reads `Path` as the path. Cases folded as Go folds them.
   */
  #refuseCaseVariants(name: string, args: unknown): void {
    const text = this.#schemas.get(name)
    if (text === undefined || !isObject(args)) return
    let schema = this.#parsed.get(text)
    if (schema === undefined) {
      schema = JSON.parse(text) as JsonObject
      this.#parsed.set(text, schema)
    }
    const variant = caseVariantIn(args, [schema], schema, '', 0)
    if (variant === undefined) return
    throw new PorticoError('invalid_params', {
      message: `Invalid params: argument "${printable(variant.path.slice(0, 128))}" of ${name} differs from its parameter "${printable(variant.declared.slice(0, 64))}" only by case`,
      data: { tool: name },
    })
  }

  /** Notes the input schemas of a tools/list result. */
  learn(result: unknown): void {
    if (!isObject(result) || !Array.isArray(result.tools)) return
    for (const tool of result.tools) {
      if (!isObject(tool) || typeof tool.name !== 'string' || !isObject(tool.inputSchema)) continue
      this.#schemas.set(tool.name, JSON.stringify(tool.inputSchema))
    }
  }

  #validator(name: string): ValidateFunction | undefined {
    const text = this.#schemas.get(name)
    if (text === undefined) return undefined
    let validate = this.#compiled.get(text)
    if (validate === undefined) {
      validate = this.#compile(name, JSON.parse(text) as JsonObject)
      this.#compiled.set(text, validate)
    }
    return validate ?? undefined
  }

  #compile(name: string, schema: JsonObject): ValidateFunction | null {
    const declared = typeof schema.$schema === 'string' ? schema.$schema : ''
    const modern = declared.includes('2020-12') || declared.includes('2019-09')
    const { $schema: _ignored, ...rest } = schema
    if (++this.#compiles > COMPILES_PER_INSTANCE) {
      this.#compiles = 1
      this.#ajv = undefined
      this.#ajv2020 = undefined
    }
    const ajv: Ajv | Ajv2020 = modern ? this.#draft2020() : this.#draft07()
    const compiled = modern ? schema : rest
    try {
      return ajv.compile(compiled)
    } catch (error) {
      this.#options.logger.warn('tool inputSchema not compiled; arguments not validated', {
        tool: name,
        error: error instanceof Error ? error.message : String(error),
      })
      return null
    } finally {
      // The validate function is kept in `#compiled` (bounded); Ajv's own cache of schemas
      // (keyed by the object, a new one per compile) and registry of `$id`s would grow with
      // every compile, and a schema with an `$id` could not be compiled again ("already
      // exists") when the tool's schema changes: neither keeps it. (What a compile leaves in
      // the instance's scope, and `$id`s nested in the schema, go with the instance: see
      // COMPILES_PER_INSTANCE.)
      ajv.removeSchema(compiled)
    }
  }

  #draft07(): Ajv {
    this.#ajv ??= new (require('ajv') as typeof import('ajv')).Ajv(AJV_OPTIONS)
    return this.#ajv
  }

  #draft2020(): Ajv2020 {
    this.#ajv2020 ??= new (
      require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js')
    ).Ajv2020(AJV_OPTIONS)
    return this.#ajv2020
  }
}

/** How deep the case checks follow a schema (far past any tool's arguments). */
const MAX_CASE_DEPTH = 32
/** Subschemas opened for one place (`$ref`, `allOf`, `anyOf`, `oneOf`): a bound on cycles. */
const MAX_BRANCHES = 64

/** The schemas one place must satisfy, opened, and the property names they declare. */
interface Place {
  schemas: JsonObject[]
  /** Folded name → the spellings the schemas declare it under (branches may differ). */
  declared: ReadonlyMap<string, ReadonlySet<string>>
  /** The schemas of an array's elements when no schema there has a tuple form. */
  items: readonly unknown[] | undefined
}

/** A place opened once per schema object (a list's elements share their `items` schema). */
const places = new WeakMap<object, Place>()

/**
 * The first argument spelt like a declared property in another case, with its path. `schemas`
 * are those the value at this place must satisfy: local `$ref`s followed (Pydantic writes every
 * nested model as one) and `allOf`/`anyOf`/`oneOf` opened, so a property any of them declares
 * counts; then `properties` (or `additionalProperties`) for an object's members, `items` and
 * `prefixItems` for an array's elements. A name spelt exactly as one branch declares it is
 * never a variant, whatever another branch calls it.
 */
function caseVariantIn(
  value: unknown,
  schemas: readonly unknown[],
  root: JsonObject,
  path: string,
  depth: number,
): { path: string; declared: string } | undefined {
  if (depth > MAX_CASE_DEPTH || value === null || typeof value !== 'object') return undefined
  const place = placeOf(schemas, root)
  if (place.schemas.length === 0) return undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const items = place.items ?? place.schemas.flatMap((schema) => itemSchemas(schema, i))
      const found = caseVariantIn(value[i], items, root, `${path}[${i}]`, depth + 1)
      if (found !== undefined) return found
    }
    return undefined
  }
  const object = value as JsonObject
  for (const key in object) {
    const at = path === '' ? key : `${path}.${key}`
    const spellings = place.declared.get(folded(key))
    if (spellings !== undefined && !spellings.has(key)) {
      return { path: at, declared: [...spellings][0] as string }
    }
    const children = place.schemas.flatMap((schema) => memberSchemas(schema, key))
    const found = caseVariantIn(object[key], children, root, at, depth + 1)
    if (found !== undefined) return found
  }
  return undefined
}

function placeOf(schemas: readonly unknown[], root: JsonObject): Place {
  const only = schemas.length === 1 && isObject(schemas[0]) ? schemas[0] : undefined
  const cached = only === undefined ? undefined : places.get(only)
  if (cached !== undefined) return cached
  const opened = openBranches(schemas, root)
  const declared = new Map<string, Set<string>>()
  for (const schema of opened) {
    if (!isObject(schema.properties)) continue
    for (const name of Object.keys(schema.properties)) {
      const fold = folded(name)
      const spellings = declared.get(fold) ?? new Set<string>()
      spellings.add(name)
      declared.set(fold, spellings)
    }
  }
  const tuple = opened.some(
    (schema) => Array.isArray(schema.prefixItems) || Array.isArray(schema.items),
  )
  const place: Place = {
    schemas: opened,
    declared,
    items: tuple
      ? undefined
      : opened.flatMap((schema) => (isObject(schema.items) ? [schema.items] : [])),
  }
  if (only !== undefined) places.set(only, place)
  return place
}

/** The schemas of `key`'s value: its property's, else an object `additionalProperties`. */
function memberSchemas(schema: JsonObject, key: string): unknown[] {
  if (isObject(schema.properties) && Object.hasOwn(schema.properties, key)) {
    return [schema.properties[key]]
  }
  return isObject(schema.additionalProperties) ? [schema.additionalProperties] : []
}

/** The schemas of an array's element at `index`: `prefixItems[index]`, else `items`. */
function itemSchemas(schema: JsonObject, index: number): unknown[] {
  if (Array.isArray(schema.prefixItems) && index < schema.prefixItems.length) {
    return [schema.prefixItems[index]]
  }
  if (isObject(schema.items)) return [schema.items]
  if (Array.isArray(schema.items) && index < schema.items.length) return [schema.items[index]]
  return []
}

/**
 * `schemas` with their local `$ref`s followed and `allOf`/`anyOf`/`oneOf` opened, each schema
 * once (bounded).
 */
function openBranches(schemas: readonly unknown[], root: JsonObject): JsonObject[] {
  const out: JsonObject[] = []
  const seen = new Set<object>()
  const pending = [...schemas]
  while (pending.length > 0 && out.length < MAX_BRANCHES) {
    const schema = pending.shift()
    if (!isObject(schema) || seen.has(schema)) continue
    seen.add(schema)
    out.push(schema)
    if (typeof schema.$ref === 'string') pending.push(localRef(root, schema.$ref))
    for (const key of ['allOf', 'anyOf', 'oneOf'] as const) {
      const branches = schema[key]
      if (Array.isArray(branches)) pending.push(...branches)
    }
  }
  return out
}

/** The schema a local `$ref` (`#/$defs/Options`) points at in `root`, if any. */
function localRef(root: JsonObject, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined
  let at: unknown = root
  for (const part of ref.slice(1).split('/').slice(1)) {
    const name = pointerPart(part)
    if (!isObject(at) || !Object.hasOwn(at, name)) return undefined
    at = at[name]
  }
  return at
}

/** One JSON pointer segment of a `$ref`, percent-decoded when it can be. */
function pointerPart(part: string): string {
  let decoded = part
  try {
    decoded = decodeURIComponent(part)
  } catch {
    // Not percent-encoding: read as written.
  }
  return decoded.replaceAll('~1', '/').replaceAll('~0', '~')
}
