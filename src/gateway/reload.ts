/**
 * Hot reload (`[proxy] hot_reload = true`): watches the config file, re-loads it with the same
 * flags and environment, and applies backend changes without touching client sessions or
 * untouched backends. An invalid file is rejected with the loader's explanation and the
 * running config stays in force. Clients are told their lists changed.
 */
import { type FSWatcher, watch } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { Config } from '../config/schema.ts'
import type { Logger } from '../observe/logger.ts'
import type { Gateway } from './gateway.ts'

export interface ReloadSource {
  file: string
  /** Loads and validates the file again; throws (ConfigError) when it is invalid. */
  load(): Config
}

const DEBOUNCE_MS = 200

const LIST_CHANGED = [
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
]

export function watchConfig(gateway: Gateway, source: ReloadSource, logger: Logger): void {
  let timer: NodeJS.Timeout | undefined
  let applying: Promise<void> = Promise.resolve()
  const name = basename(source.file)
  // Watch the folder: editors often replace the file, which ends a watch on the file itself.
  const watcher: FSWatcher = watch(dirname(source.file), (_event, changed) => {
    if (changed !== null && changed !== name) return
    clearTimeout(timer)
    timer = setTimeout(() => {
      applying = applying.then(() => reload(gateway, source, logger))
    }, DEBOUNCE_MS)
  })
  watcher.unref()
  gateway.onClose(() => {
    clearTimeout(timer)
    watcher.close()
  })
}

export async function reload(
  gateway: Gateway,
  source: ReloadSource,
  logger: Logger,
): Promise<void> {
  let next: Config
  try {
    next = source.load()
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    logger.error('config reload rejected; the running config stays in force', {
      file: source.file,
      problems: message,
    })
    return
  }
  if (!next.backends?.length) {
    logger.error('config reload rejected: gateway mode needs at least one [[backends]] table', {
      file: source.file,
    })
    return
  }
  const { added, removed, changed } = await gateway.apply(next)
  if (added.length + removed.length + changed.length === 0) return
  logger.info('config reloaded', { added, removed, changed })
  announceChanges(gateway)
}

/** Tells every client session and listen stream that the lists changed. */
export function announceChanges(gateway: Gateway): void {
  for (const method of LIST_CHANGED) {
    for (const session of gateway.sessions.values()) session.send({ jsonrpc: '2.0', method })
    gateway.notifyListeners(method)
  }
}
