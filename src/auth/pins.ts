/**
 * Tool pinning (`[security] pin_tools`): a defence against tool-definition rug pulls, where a
 * server that was trusted with one description later tells the model something else. The first
 * definition seen of each tool (by client-facing name: description, title, schemas,
 * annotations) is pinned in a JSON file; a later definition that differs is withheld from
 * `tools/list`, calls to that tool are refused (`tool_changed`), and the change is logged and
 * kept as pending in the file until an operator accepts it (`portico pins accept`). The file is
 * re-read when it changes (checked at most once a second), so an accept takes effect without a
 * restart. Writes go to a temporary file renamed over the old one.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import type { Config } from '../config/schema.ts'
import { readFileBytes } from '../config/text-file.ts'
import { PorticoError } from '../errors.ts'
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import type { Logger } from '../observe/logger.ts'
import type { Middleware } from '../pipeline/compose.ts'
import { MessageReply, mapAnswer } from '../pipeline/reply.ts'

export interface PinnedTool {
  hash: string
  definition: JsonObject
  /** ISO time it was pinned (first seen, or accepted). */
  at: string
}

export interface PinFile {
  version: 1
  tools: Record<string, PinnedTool>
  /** Changed definitions waiting for an operator. */
  pending: Record<string, PinnedTool>
}

const RELOAD_CHECK_MS = 1000
/** Tools a pin file holds at most (a server announcing more is not pinned past it). */
const MAX_TOOLS = 10_000

/** Where a proxy keeps its pins: `pin_file`, else beside the store (`pins-<proxy>.json`). */
export function pinFileOf(config: Config, proxy: string): string {
  if (config.security?.pin_file !== undefined) return config.security.pin_file
  // The store's default location (store/open.ts), without importing the store layer.
  const store = config.store.path ?? join(homedir(), '.portico', 'store.db')
  return join(dirname(store), `pins-${proxy}.json`)
}

/** The part of a tool definition that is pinned: what the model reads and what it sends. */
export function pinnedPart(tool: JsonObject): JsonObject {
  const part: JsonObject = {}
  for (const key of ['title', 'description', 'inputSchema', 'outputSchema', 'annotations']) {
    if (tool[key] !== undefined) part[key] = tool[key] as JsonObject
  }
  return part
}

/** SHA-256 of the canonical JSON (keys sorted) of a definition. */
export function definitionHash(definition: unknown): string {
  return createHash('sha256').update(canonical(definition)).digest('hex')
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (isObject(value)) {
    const keys = Object.keys(value).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

export function readPinFile(path: string): PinFile {
  let text: string
  try {
    // A regular file, bounded, opened without blocking: re-read while serving, a FIFO in its
    // place blocked the process in open() and /dev/zero would have read without end.
    text = readFileBytes(path).toString('utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { version: 1, tools: {}, pending: {} }
    }
    throw error
  }
  const value: unknown = JSON.parse(text)
  if (!isObject(value) || !isObject(value.tools) || !isObject(value.pending)) {
    throw new Error(`${path} is not a Portico pin file`)
  }
  return value as unknown as PinFile
}

export function writePinFile(path: string, pins: PinFile): void {
  mkdirSync(dirname(path), { recursive: true })
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, `${JSON.stringify(pins, null, 2)}\n`, { mode: 0o600 })
  renameSync(temporary, path)
}

export class ToolPins {
  readonly #path: string
  readonly #logger: Logger
  #pins: PinFile
  #mtimeMs = 0
  #checkedAt = 0
  /** Tools whose current definition differs from their pin (refused until accepted). */
  readonly #withheld = new Set<string>()

  constructor(path: string, logger: Logger) {
    this.#path = path
    this.#logger = logger
    this.#pins = readPinFile(path)
    this.#mtimeMs = this.#mtime()
    // Changes waiting for an operator are withheld from the start, not from the next listing:
    // a restart must not open a window in which the changed tool can be called.
    for (const name of Object.keys(this.#pins.pending)) this.#withheld.add(name)
  }

  middleware(): Middleware {
    return async (call, next) => {
      if (call.kind !== 'request') return next(call)
      if (call.method === 'tools/call') {
        this.#refresh()
        const name = call.target?.name
        if (name !== undefined && this.#withheld.has(name)) {
          throw new PorticoError('tool_changed', { data: { tool: name } })
        }
        return next(call)
      }
      if (call.method !== 'tools/list') return next(call)
      this.#refresh()
      const reply = await next(call)
      if (
        reply instanceof MessageReply &&
        reply.status < 300 &&
        (await reply.json()) === undefined
      ) {
        throw new PorticoError('response_too_large', {
          message: 'Tool list too large to check against the pinned definitions',
        })
      }
      return mapAnswer(call, reply, (response) => {
        const result = response.result
        if (!isObject(result) || !Array.isArray(result.tools)) return undefined
        const kept = this.#check(result.tools)
        return kept.length === result.tools.length
          ? undefined
          : { ...response, result: { ...result, tools: kept } }
      })
    }
  }

  /** The tools of a list answer that match their pin; pins new ones, notes changed ones. */
  #check(tools: unknown[]): unknown[] {
    const kept: unknown[] = []
    let changed = false
    const now = new Date().toISOString()
    for (const tool of tools) {
      if (!isObject(tool) || typeof tool.name !== 'string') continue
      const name = tool.name
      const definition = pinnedPart(tool)
      const hash = definitionHash(definition)
      const pinned = this.#pins.tools[name]
      if (pinned === undefined) {
        if (Object.keys(this.#pins.tools).length < MAX_TOOLS) {
          this.#pins.tools[name] = { hash, definition, at: now }
          changed = true
        }
        this.#withheld.delete(name)
        kept.push(tool)
      } else if (pinned.hash === hash) {
        this.#withheld.delete(name)
        kept.push(tool)
      } else {
        this.#withheld.add(name)
        if (this.#pins.pending[name]?.hash !== hash) {
          this.#pins.pending[name] = { hash, definition, at: now }
          changed = true
          this.#logger.warn(
            'tool definition changed since it was pinned: withheld until accepted',
            {
              tool: name,
              accept: `portico pins accept ${name}`,
            },
          )
        }
      }
    }
    if (changed) this.#save()
    return kept
  }

  /** Re-reads the file when it changed on disk (an operator accepted), at most once a second. */
  #refresh(): void {
    const now = Date.now()
    if (now - this.#checkedAt < RELOAD_CHECK_MS) return
    this.#checkedAt = now
    const mtime = this.#mtime()
    if (mtime === this.#mtimeMs) return
    try {
      this.#pins = readPinFile(this.#path)
      this.#mtimeMs = mtime
      for (const name of [...this.#withheld]) {
        if (this.#pins.pending[name] === undefined) this.#withheld.delete(name)
      }
      for (const name of Object.keys(this.#pins.pending)) this.#withheld.add(name)
    } catch (error) {
      this.#logger.warn('pin file unreadable; keeping the pins in memory', { error: String(error) })
    }
  }

  #save(): void {
    try {
      // Merge with what an operator may have written since the last read.
      const disk = this.#mtime() === this.#mtimeMs ? undefined : readPinFile(this.#path)
      if (disk !== undefined) {
        this.#pins = {
          version: 1,
          tools: { ...this.#pins.tools, ...disk.tools },
          pending: Object.fromEntries(
            Object.entries(this.#pins.pending).filter(
              ([name, entry]) => disk.tools[name]?.hash !== entry.hash,
            ),
          ),
        }
      }
      writePinFile(this.#path, this.#pins)
      this.#mtimeMs = this.#mtime()
    } catch (error) {
      this.#logger.warn('pin file not written', { path: this.#path, error: String(error) })
    }
  }

  #mtime(): number {
    try {
      return statSync(this.#path).mtimeMs
    } catch {
      return 0
    }
  }
}

/** Accepts pending definitions (all when `names` is empty); returns the names accepted. */
export function acceptPending(path: string, names: readonly string[]): string[] {
  const pins = readPinFile(path)
  const chosen = names.length === 0 ? Object.keys(pins.pending) : names
  const accepted: string[] = []
  for (const name of chosen) {
    const entry = pins.pending[name]
    if (entry === undefined) continue
    pins.tools[name] = { ...entry, at: new Date().toISOString() }
    delete pins.pending[name]
    accepted.push(name)
  }
  if (accepted.length > 0) writePinFile(path, pins)
  return accepted
}
