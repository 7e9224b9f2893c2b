/**
 * Hot reload, the part both modes share (`[proxy] hot_reload = true`, SIGHUP,
 * `Portico.reloadConfig`): the file is loaded again with the same flags and environment,
 * compared key by key with the file as last applied, and handed to the mode only when every
 * changed key is one the mode can apply. An invalid file, a changed `[auth]`/`[security]` or a
 * key only a restart applies rejects the reload whole: the running config stays in force and
 * "reloaded" always describes the config in force. One reload runs at a time.
 */
import { createHash } from 'node:crypto'
import {
  type FSWatcher,
  watchFile as pollFile,
  readlinkSync,
  type Stats,
  statSync,
  unwatchFile,
  watch,
} from 'node:fs'
import { dirname, resolve } from 'node:path'
import { type ConfigOverrides, noUpstream } from '../config/load.ts'
import type { Config } from '../config/schema.ts'
import { FileFormatError, readFileBytes } from '../config/text-file.ts'
import type { Logger } from '../observe/logger.ts'
import type { Mode } from './mode.ts'

export interface ReloadSource {
  file: string
  /** Loads and validates the file again; throws (ConfigError) when it is invalid. */
  load(): Config
  /**
   * The command line's settings `load` applies over the file (`--db`, `--port`): a text put in
   * the file's place (`PUT /admin/config`) is judged with them, as the reload will load it.
   */
  overrides?: ConfigOverrides
  /**
   * The file as it was loaded at start, when the caller loaded it (`portico run`): what a
   * reload compares with. Without it the file is read again when the reloader is made, which
   * misses an edit made while Portico started (see `reloader`).
   */
  loaded?: Config
  /**
   * False: `hot_reload` does not watch the file here; whoever built the source calls
   * `reloadConfig` (a cluster worker: its primary watches the file and tells every worker).
   */
  watch?: boolean
  /** Parts of the global chain a reload applies too, in both modes (`createPortico` adds them). */
  parts?: readonly ReloadPart[]
}

/** A part of the global chain a reload can change (the widget CSP's policy: csp/setup.ts). */
export interface ReloadPart {
  /** The top-level keys it applies. */
  readonly keys: readonly string[]
  /** Those of its keys it cannot apply from `running` to `next` (CSP turned on or off). */
  fixed(running: Config, next: Config): string[]
  /** Builds what `next` needs (throws when it cannot); what it returns puts that in force. */
  prepare(next: Config): () => void
  /**
   * What it changes from `running` to `next` that the top-level keys do not say (the API keys
   * inside `[auth]`), for the "config reloaded" line; never a secret.
   */
  changed?(running: Config, next: Config): string[]
}

/** The keys a mode's reload applies: top-level ones, and `[proxy]`'s one by one. */
export interface AppliedKeys {
  top: ReadonlySet<string>
  proxy: ReadonlySet<string>
}

/**
 * How a reload ended: applied (something changed), unchanged (the file says what is in
 * force), or rejected (logged; the running config stays in force).
 */
export type ReloadOutcome = 'applied' | 'unchanged' | 'rejected'

/** What a reload changed, for the "config reloaded" line. */
export interface Applied {
  /** Names by kind of change (`added`, `changed`, …); all empty: nothing changed. */
  changes: Record<string, string[]>
  /** Run once the reload was logged (the gateway then tells clients to list again). */
  after?: () => Promise<void>
}

/** A mode's side of a reload. */
export interface ReloadTarget {
  /** The config in force (as an embedder passed it, then as reloads applied it). */
  readonly config: Config
  /** The file as last applied: a reload compares with it, not with what code set. */
  fileConfig: Config
  readonly applied: AppliedKeys
  /** The mode's own reason to refuse a file the key rules let through. */
  refuse?(next: Config): string | undefined
  /** Applies `next` at once for new calls; throws to reject it (nothing applied). */
  apply(next: Config): Promise<Applied>
}

const DEBOUNCE_MS = 200

/**
 * A function that reloads the config, one reload after another (a file change and a SIGHUP at
 * once apply in turn); it resolves when this reload was applied, rejected or failed (logged).
 */
export function reloader(
  target: ReloadTarget,
  source: ReloadSource,
  logger: Logger,
): () => Promise<ReloadOutcome> {
  let applying: Promise<ReloadOutcome> = Promise.resolve('unchanged')
  const run = () => {
    // A reload that fails is logged; the chain goes on with the next one.
    applying = applying
      .then(() => reload(target, source, logger))
      .catch((error: unknown) => {
        logger.error('config reload failed; the running config stays in force', {
          file: source.file,
          error: error instanceof Error ? error.message : String(error),
        })
        return 'rejected' as const
      })
    return applying
  }
  let now: Config | undefined
  try {
    now = source.load()
  } catch {
    // Broken since it was read at start: the first reload compares with what was passed.
  }
  if (source.loaded === undefined) {
    if (now !== undefined) target.fileConfig = now
    return run
  }
  // Portico takes a moment to start: the file read now may not be the one in force. Taken as
  // the baseline, an edit made meanwhile was never applied nor refused, and every later reload
  // compared with it ("nothing to change" while a replaced admin token stayed in force). The
  // file as loaded is the baseline, and such an edit is a reload, at once.
  target.fileConfig = source.loaded
  if (now === undefined || JSON.stringify(now) !== JSON.stringify(source.loaded)) void run()
  return run
}

/**
 * Calls `apply` once what the config path resolves to has changed, and stopped changing for
 * DEBOUNCE_MS; `onClose` is given what stops the watch when the mode closes.
 *
 * The path is seldom one file edited in place, and the watch cannot rest on its name showing
 * in an event: editors replace the file; a Kubernetes ConfigMap mount makes it a link through
 * `..data`, a link kubelet swaps for one to a new timestamped folder (no event names the file);
 * the path can be a link to a file in another folder; the whole folder can be replaced while a
 * folder watch keeps following the folder it was given, renamed. So any event in the folders
 * the path goes through (its own and that of each link on the way) leads to a check, which
 * compares what the path resolves to now (stat through the links, and the bytes) with what the
 * last check saw and reloads only if it differs (another file in those folders reloads
 * nothing); each check also aims the folder watches again at the folders the path goes through
 * now. A stat poll of the path every POLL_MS catches what no watched folder sees (a link
 * swapped in a folder above). All of it runs in timers and watch callbacks, never on a request.
 */
export function watchFile(
  file: string,
  apply: () => Promise<unknown>,
  onClose: (closer: () => void) => void,
): void {
  const path = resolve(file)
  let seen = snapshot(path)
  let timer: NodeJS.Timeout | undefined
  let closed = false
  const folders = new Map<string, { ino: number; watcher: FSWatcher }>()
  const schedule = () => {
    if (closed) return
    clearTimeout(timer)
    timer = setTimeout(check, DEBOUNCE_MS)
  }
  const stopWatching = (folder: string) => {
    folders.get(folder)?.watcher.close()
    folders.delete(folder)
  }
  const aim = () => {
    const wanted = new Map<string, number>()
    for (const folder of foldersOf(path)) {
      try {
        wanted.set(folder, statSync(folder).ino)
      } catch {
        // Gone, or no folder now: not watched; the poll still sees the path.
      }
    }
    for (const [folder, watched] of folders) {
      if (wanted.get(folder) !== watched.ino) stopWatching(folder)
    }
    for (const [folder, ino] of wanted) {
      if (folders.has(folder)) continue
      let watcher: FSWatcher
      try {
        watcher = watch(folder, schedule)
      } catch {
        continue // gone since the stat: the next check (or the poll) aims again
      }
      watcher.unref()
      // A folder watch that fails (the folder removed under it) is dropped; the check after
      // it watches what the path goes through then.
      watcher.on('error', () => {
        watcher.close()
        if (folders.get(folder)?.watcher === watcher) folders.delete(folder)
        schedule()
      })
      folders.set(folder, { ino, watcher })
    }
  }
  function check() {
    aim()
    const now = snapshot(path)
    if (now === seen) return
    seen = now
    void apply()
  }
  aim()
  pollFile(path, { interval: POLL_MS, persistent: false }, schedule)
  onClose(() => {
    closed = true
    clearTimeout(timer)
    unwatchFile(path, schedule)
    for (const folder of [...folders.keys()]) stopWatching(folder)
  })
}

/** The stat poll's interval: what only it sees is applied within that. */
const POLL_MS = 3_000
/** Links followed to find the folders to watch (the kernel's own limit on a path is 40). */
const MAX_LINKS = 40

/** The folders `path` goes through: its own, and that of each link it resolves through. */
function foldersOf(path: string): string[] {
  const folders = new Set<string>()
  let at = path
  for (let link = 0; link <= MAX_LINKS; link++) {
    folders.add(dirname(at))
    let target: string
    try {
      target = readlinkSync(at)
    } catch {
      break // not a link (or gone): the end of the chain
    }
    at = resolve(dirname(at), target)
  }
  return [...folders]
}

/** What `path` resolves to now: the file's identity, times and bytes, or why it cannot be read. */
function snapshot(path: string): string {
  let info: Stats
  try {
    info = statSync(path)
  } catch (error) {
    return `unreadable: ${(error as NodeJS.ErrnoException).code ?? String(error)}`
  }
  const identity = [info.dev, info.ino, info.size, info.mtimeMs, info.ctimeMs].join(' ')
  try {
    // Read as the reload reads it: a FIFO in the file's place blocked the process on open()
    // (the primary too, which takes every worker's connections), `/dev/zero` read for ever.
    const digest = createHash('sha256').update(readFileBytes(path)).digest('base64')
    return `${identity} ${digest}`
  } catch (error) {
    const why =
      error instanceof FileFormatError ? error.message : (error as NodeJS.ErrnoException).code
    return `unreadable: ${why ?? String(error)} ${identity}`
  }
}

const REJECTED = 'config reload rejected; the running config stays in force'

export async function reload(
  target: ReloadTarget,
  source: ReloadSource,
  logger: Logger,
): Promise<ReloadOutcome> {
  const reject = (message: string, problems?: string): ReloadOutcome => {
    logger.error(message, { file: source.file, ...(problems === undefined ? {} : { problems }) })
    return 'rejected'
  }
  let next: Config
  try {
    next = source.load()
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return reject(REJECTED, message)
  }
  // A file that named an upstream and names none now (emptied while it is written, say) is
  // said to, not refused for the defaults it has instead (the port, the store…).
  const missing = noUpstream(target.fileConfig) === undefined ? noUpstream(next) : undefined
  if (missing !== undefined) return reject(REJECTED, `${source.file}: ${missing}`)
  if (securityOf(next) !== securityOf(target.config)) {
    // Authentication is built once at start (its keys aside, see `securityOf`); applying the
    // rest while ignoring a changed [auth] could leave a tightened policy unenforced, so
    // nothing is applied.
    return reject('config reload rejected: [auth] or [security] changed; restart Portico to apply')
  }
  const parts = source.parts ?? []
  const fixed = fixedChanges(target.fileConfig, next, target.applied, parts)
  if (fixed.length > 0) {
    // Applying the rest while a changed [proxy.rate_limit] or [csp] silently stayed as it was
    // would say "reloaded" of a config that is not the one in force: nothing is applied.
    return reject(
      `config reload rejected: ${fixed.join(', ')} cannot change while Portico runs; restart Portico to apply`,
    )
  }
  if (JSON.stringify(next.shared) !== JSON.stringify(target.config.shared)) {
    // One connection per process, built at start; the upstreams' policies keep using it.
    logger.warn(
      'config reload: [shared] changed; the running shared state stays until Portico restarts',
      { file: source.file },
    )
  }
  const refusal = target.refuse?.(next)
  if (refusal !== undefined) return reject(`config reload rejected: ${refusal}`)
  const settings = settingChanges(target.fileConfig, next, target.applied, parts)
  let applied: Applied
  try {
    // The parts are built first and put in force only once the mode applied its own change.
    const commits = parts.map((part) => part.prepare(next))
    applied = await target.apply(next)
    for (const commit of commits) commit()
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return reject(REJECTED, message)
  }
  target.fileConfig = next
  const changes = Object.values(applied.changes).reduce((sum, names) => sum + names.length, 0)
  if (changes + settings.length === 0) {
    // Said every time, as the cluster's primary says it: an operator who sent SIGHUP (or saved
    // the file) sees that the reload ran and found the file already in force.
    logger.info('config reload accepted; nothing to change', { file: source.file })
    return 'unchanged'
  }
  logger.info('config reloaded', {
    ...applied.changes,
    ...(settings.length > 0 ? { settings } : {}),
  })
  await applied.after?.()
  return 'applied'
}

/** Why a reload would refuse `next` while `running` is in force, or undefined. */
export function reloadRefusal(
  target: Pick<ReloadTarget, 'applied' | 'refuse'>,
  running: Config,
  next: Config,
  parts: readonly ReloadPart[] = [],
): string | undefined {
  if (securityOf(next) !== securityOf(running)) return '[auth] or [security] changed'
  const fixed = fixedChanges(running, next, target.applied, parts)
  if (fixed.length > 0) return `${fixed.join(', ')} cannot change while Portico runs`
  return target.refuse?.(next)
}

/** Compared on their own: `[auth]`/`[security]` refuse the reload, `[shared]` is warned of. */
const OWN_RULES = new Set<string>(['auth', 'security', 'shared'])

/** Keys, as `csp` or `proxy.rate_limit`, that differ and that a reload cannot apply. */
export function fixedChanges(
  running: Config,
  next: Config,
  applied: AppliedKeys,
  parts: readonly ReloadPart[] = [],
): string[] {
  const partKeys = new Set(parts.flatMap((part) => part.keys))
  const partFixed = new Set(parts.flatMap((part) => part.fixed(running, next)))
  return changedKeys(running, next).filter((key) => {
    const [table, sub] = key.split('.', 2)
    if (table === 'proxy' && sub !== undefined) return !applied.proxy.has(sub)
    if (partKeys.has(key)) return partFixed.has(key)
    return !applied.top.has(key) && !OWN_RULES.has(key)
  })
}

/** The applied keys (not the mode's upstreams) that differ, for the "config reloaded" line. */
function settingChanges(
  running: Config,
  next: Config,
  applied: AppliedKeys,
  parts: readonly ReloadPart[],
): string[] {
  const fixed = new Set(fixedChanges(running, next, applied, parts))
  const keys = changedKeys(running, next).filter(
    (key) => key !== 'backends' && !OWN_RULES.has(key) && !fixed.has(key),
  )
  return [...keys, ...parts.flatMap((part) => part.changed?.(running, next) ?? [])]
}

/**
 * The config as compared across reloads: mcp-proxy's spellings of settings the loader copied to
 * Portico's own keys (`[proxy.listen]` to `host`/`port`, `shutdown_timeout_seconds` to
 * `drain_timeout`, `[observability] log_level`, `json_logs`, `access_log` to the top level) are
 * compared there, so moving a value from one spelling to the other changes nothing (the whole
 * edit was refused as a change of `proxy.listen`).
 */
function comparable(config: Config): Config {
  const { listen: _listen, shutdown_timeout_seconds: _drain, ...proxy } = config.proxy
  const {
    log_level: _level,
    json_logs: _json,
    access_log: _access,
    ...observability
  } = config.observability
  return { ...config, proxy, observability } as Config
}

/** Top-level keys that differ, `[proxy]`'s one by one (`proxy.rate_limit`). */
function changedKeys(runningConfig: Config, nextConfig: Config): string[] {
  const running = comparable(runningConfig)
  const next = comparable(nextConfig)
  const differ = (a: object, b: object) =>
    [...new Set([...Object.keys(a), ...Object.keys(b)])].filter(
      (key) =>
        JSON.stringify((a as Record<string, unknown>)[key]) !==
        JSON.stringify((b as Record<string, unknown>)[key]),
    )
  return differ(running, next).flatMap((key) =>
    key === 'proxy'
      ? differ(running.proxy ?? {}, next.proxy ?? {}).map((sub) => `proxy.${sub}`)
      : [key],
  )
}

/**
 * The security-relevant part of a config, compared across reloads. The separator too when
 * `[auth]` is set: the policy built at start names the admin tools (`portico__…`) and its
 * globs with it, so another separator would leave those rules matching nothing.
 */
function securityOf(config: Config): string {
  // The static keys (`[auth] tokens`, `api_keys`, `[security] admin_token`) are left out: a
  // reload swaps them whole (portico.ts keysReload), so a leaked key is revoked without a
  // restart. Everything else about authentication is built once.
  const auth = config.auth && { ...config.auth, tokens: [], api_keys: [] }
  // The admin token is swapped by another, never added or removed: whether there is one
  // decides how the admin API, /metrics and the dashboard are guarded (portico.ts
  // adminTokenReload).
  const security = config.security && {
    ...config.security,
    admin_token: config.security.admin_token === undefined ? undefined : 'set',
  }
  return JSON.stringify([
    auth,
    security,
    config.auth ? config.proxy.admin_tools : null,
    config.auth ? config.proxy.separator : null,
  ])
}

/**
 * A mode's reload surface, the same for both modes: run on request (SIGHUP,
 * `Portico.reloadConfig`) and on file changes when `hot_reload` is on; nothing without a file.
 */
export function modeReload(
  target: ReloadTarget,
  source: ReloadSource | undefined,
  logger: Logger,
  onClose: (closer: () => void) => void,
): Pick<Mode, 'reloadConfig' | 'reloadRefusal'> {
  if (source === undefined) return {}
  const run = reloader(target, source, logger)
  if (target.config.proxy.hot_reload && source.watch !== false) watchFile(source.file, run, onClose)
  return {
    reloadConfig: run,
    reloadRefusal: (next) => reloadRefusal(target, target.fileConfig, next, source.parts),
  }
}
