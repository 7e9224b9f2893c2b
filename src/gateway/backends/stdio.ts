/**
 * stdio backends: a child process speaking newline-delimited JSON-RPC. One process is shared
 * by every client session (ids and progress tokens remapped by `Connection`), or one per
 * client session with `isolation = "session"`. stderr goes to the log under the backend's
 * name; a crash fails the calls in flight with a clear error and restarts the shared process
 * with bounded exponential backoff.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { Writable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import type { BackendConfig } from '../../config/gateway.ts'
import { PorticoError } from '../../errors.ts'
import {
  encodeValues,
  type JsonObject,
  type JsonRpcMessage,
  kindOf,
  parseExact,
  TopLevelIdScanner,
} from '../../jsonrpc/message.ts'
import type { Logger } from '../../observe/logger.ts'
import { PerSecond } from '../../util/per-second.ts'
import { VERSION } from '../../version.ts'
import { logLevelRank, MCP_LOG_LEVELS } from '../log-levels.ts'
import { SharedAudience } from './audience.ts'
import {
  answerUnrouted,
  Backend,
  type BackendCall,
  type BackendHealth,
  RELAY_CAPABILITIES,
  restartDelay,
  type SessionRef,
} from './backend.ts'
import { Connection, type ServerInfo } from './connection.ts'

const MAX_STDERR_LINE = 4096
/** After the process exits, how long its stdout may take to deliver what it wrote last. */
const STDOUT_GRACE_MS = 200
const STDERR_LINES_PER_SECOND = 50
/** A run this long counts as healthy: the next crash restarts at once. */
const HEALTHY_RUN_MS = 10_000
/** Resources one client session may hold subscribed on one backend. */
const MAX_SUBSCRIPTIONS_PER_SESSION = 1000
/**
 * POSIX: each stdio backend runs in a process group of its own, so that stopping it stops
 * what it started (`npx`'s server, a wrapper script's helpers) with it: signals go to the
 * whole group. Such a group no longer gets the terminal's Ctrl-C; Portico stops its backends
 * itself on SIGINT/SIGTERM (`closeOnSignal`), and the groups still running when the process
 * exits (a second Ctrl-C exits at once) get SIGTERM from the exit hook below.
 */
const GROUPED = process.platform !== 'win32'
/** How long the rest of a group gets after SIGTERM before SIGKILL (as the process itself). */
const GROUP_GRACE_MS = 2000
/** How long a process may leave input past the bound unread before it counts as wedged. */
const STALLED_INPUT_MS = 5000
const GROUP_POLL_MS = 50
const liveGroups = new Set<number>()
let exitHooked = false

/** Signals every process of a group; false once the group has no process left. */
function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal)
    return true
  } catch {
    return false
  }
}

function trackGroup(pid: number): void {
  liveGroups.add(pid)
  if (exitHooked) return
  exitHooked = true
  process.once('exit', () => {
    for (const group of liveGroups) signalGroup(group, 'SIGTERM')
    killLeftGroups()
  })
}

/** How long the exit hook waits for the groups it sent SIGTERM before it SIGKILLs them. */
const EXIT_GRACE_MS = 1500

/**
 * Portico is exiting (a second signal): nothing asynchronous runs any more, so the groups that
 * ignore SIGTERM are waited for here, in a short synchronous loop, and SIGKILLed after
 * EXIT_GRACE_MS: else they would run on with nobody left to stop them.
 */
function killLeftGroups(): void {
  const deadline = Date.now() + EXIT_GRACE_MS
  const pause = new Int32Array(new SharedArrayBuffer(4))
  let left = [...liveGroups].filter((group) => signalGroup(group, 0))
  while (left.length > 0 && Date.now() < deadline) {
    Atomics.wait(pause, 0, 0, 20)
    left = left.filter((group) => signalGroup(group, 0))
  }
  for (const group of left) signalGroup(group, 'SIGKILL')
}

/**
 * What is left of a group once its leader exited: SIGTERM, then SIGKILL if some process of it
 * still runs after the grace. Resolves when the group is gone (or was SIGKILLed).
 */
async function endGroup(pid: number): Promise<void> {
  if (signalGroup(pid, 'SIGTERM')) {
    const deadline = Date.now() + GROUP_GRACE_MS
    while (signalGroup(pid, 0)) {
      if (Date.now() >= deadline) {
        signalGroup(pid, 'SIGKILL')
        break
      }
      await new Promise((resolve) => setTimeout(resolve, GROUP_POLL_MS))
    }
  }
  liveGroups.delete(pid)
}

/** Places a line that is not JSON is parsed again from, at most (`#recover`). */
const MAX_RECOVERY_TRIES = 8
/** The first member of a JSON-RPC message as written (the SDK writes `result` first). */
const MESSAGE_START = /^(?:jsonrpc|result|id|method|error|params)"/

export interface StdioOptions {
  config: BackendConfig
  logger: Logger
  maxLineBytes: number
  /** The backend's stderr budget (shared by its processes and restarts). */
  stderr: PerSecond
}

export class StdioConnection extends Connection {
  readonly #child: ChildProcess
  readonly #maxLineBytes: number
  readonly exited: Promise<PorticoError>
  /**
   * Output since the last newline, as the chunks came. Kept apart, not joined: appending each
   * chunk to one string and searching it made V8 flatten the whole pending line per chunk,
   * quadratic in a line's size (a 16 MB answer took 7 s of CPU), as SseParser found for events.
   */
  #pending: Buffer[] = []
  /** Their size in bytes (what `max_response_body_size` bounds). */
  #pendingLength = 0
  /**
   * A line past the bound, being read past to its newline: only its top-level id is kept, so
   * that the call it answers, and no other, fails (the process and its other calls go on).
   */
  #oversized: { scanner: TopLevelIdScanner; decoder: StringDecoder } | undefined
  /** Set while input piled up past the bound waits to be read (`#watchStalledInput`). */
  #stallWatch: NodeJS.Timeout | undefined
  readonly #logger: Logger
  #tornLogged = false
  /** Set once `initialize` succeeded (StdioBackend): the process serves calls. */
  ready = false
  /** Consecutive failures counted before this process started well (StdioBackend). */
  failuresBefore = 0
  /** Its start failed (and was counted toward max_restarts). */
  failedStart = false
  /** Portico is stopping it (asked to close, or killed): its exit is no crash. */
  #stopping = false
  /** Why it was given up while it still ran (it closed its output or input): its exit's cause. */
  #unusable: PorticoError | undefined

  constructor(options: StdioOptions) {
    super(options.config.name)
    const { config, logger } = options
    this.#maxLineBytes = options.maxLineBytes
    this.#logger = logger
    this.#child = spawn(config.command ?? '', config.args, {
      cwd: config.cwd,
      env: childEnv(config),
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
      detached: GROUPED,
    })
    const pid = this.#child.pid
    if (GROUPED && pid !== undefined) trackGroup(pid)
    this.exited = new Promise((resolve) => {
      const done = (error: PorticoError) => {
        this.fail(error)
        resolve(this.#unusable ?? error)
      }
      this.#child.once('error', (error) =>
        done(crashError(config.name, `could not start: ${spawnFailure(config, error)}`)),
      )
      this.#child.once('exit', (code, signal) => {
        const error = crashError(config.name, `exited (${signal ?? `code ${code}`})`)
        // The processes it started go with it, whether it was stopped or crashed: a restart
        // must not leave the previous run's helpers behind.
        if (GROUPED && pid !== undefined) this.#groupEnded = endGroup(pid)
        this.#child.stdin?.destroy()
        // A process the backend started (`npx`'s, a wrapper's) may hold the output pipes open
        // after it exited: they are let go after the grace, else they never end and their
        // handles keep Portico from exiting (and leak at each restart).
        const stderr = this.#child.stderr
        if (stderr !== null && !stderr.readableEnded) {
          const timer = setTimeout(() => stderr.destroy(), STDOUT_GRACE_MS)
          stderr.once('end', () => clearTimeout(timer))
        }
        // An answer written just before exiting may still be in the pipe: its calls are failed
        // once stdout has ended (or 200 ms later, if a grandchild holds the pipe open).
        const stdout = this.#child.stdout
        if (stdout === null || stdout.readableEnded) return done(error)
        const timer = setTimeout(() => {
          stdout.destroy()
          done(error)
        }, STDOUT_GRACE_MS)
        stdout.once('end', () => {
          clearTimeout(timer)
          done(error)
        })
      })
    })
    this.#child.stdout?.on('data', (chunk: Buffer) => this.#onStdout(chunk))
    // A last message written without its newline (a one-shot server's print) is read at the
    // end of the output, as a line reader reads a file's last line, before the exit fails the
    // calls still waiting.
    this.#child.stdout?.once('end', () => this.#onStdoutEnd())
    // A process that closes its output or its input while it runs can answer nothing more: its
    // calls would wait for their deadline (or fail "not running") and it would never be
    // restarted. Unless it exits meanwhile (a pipe often ends just before the exit is seen),
    // it is given up: its calls fail now, it is stopped, and the backend restarts it.
    this.#child.stdout?.once('end', () =>
      this.#unusableAfterGrace('closed its output (stdout) while running'),
    )
    this.#child.stdin?.on('error', () => {}) // EPIPE after a crash; the exit handler reports it
    this.#child.stdin?.once('close', () =>
      this.#unusableAfterGrace('closed its input (stdin) while running'),
    )
    pipeStderr(this.#child, config.name, logger, options.stderr)
  }

  get pid(): number | undefined {
    return this.#child.pid
  }

  /**
   * Whether Portico is stopping this process (its exit then is no crash); one it gave up because
   * it closed its output or input did fail.
   */
  get stopping(): boolean {
    return this.#stopping && this.#unusable === undefined
  }

  #running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null
  }

  #unusableAfterGrace(what: string): void {
    if (this.#stopping || !this.#running()) return
    setTimeout(() => {
      if (this.#stopping || !this.#running() || this.#child.pid === undefined) return
      this.#giveUp(what)
    }, STDOUT_GRACE_MS).unref()
  }

  /** A running process that can answer nothing more: its calls fail, it is stopped (restarted). */
  #giveUp(what: string): void {
    const error = crashError(this.backend, `${what}; it was stopped`)
    this.#unusable = error
    this.fail(error)
    this.#closing ??= this.#terminate()
  }

  /**
   * Input piled up past the bound: a process that reads none of it for STALLED_INPUT_MS is
   * wedged (alive, but it will answer nothing), given up and restarted as one that closed its
   * input; one that drains it meanwhile was only slow.
   */
  #watchStalledInput(stdin: Writable): void {
    if (this.#stallWatch !== undefined || this.#stopping) return
    const unread = stdin.writableLength
    const drained = () => {
      clearTimeout(this.#stallWatch)
      this.#stallWatch = undefined
    }
    stdin.once('drain', drained)
    this.#stallWatch = setTimeout(() => {
      stdin.off('drain', drained)
      this.#stallWatch = undefined
      if (this.#stopping || !this.#running()) return
      // It read some: slow, not wedged (watched again while past the bound).
      if (stdin.writableLength < unread) {
        if (stdin.writableLength > this.#maxLineBytes) this.#watchStalledInput(stdin)
        return
      }
      this.#giveUp(`read none of its input for ${STALLED_INPUT_MS / 1000} s`)
    }, STALLED_INPUT_MS)
    this.#stallWatch.unref()
  }

  /** SIGTERM to its group now, SIGKILL after GROUP_GRACE_MS (a process that cannot be told). */
  async #terminate(): Promise<void> {
    this.#stopping = true
    this.#signal('SIGTERM')
    const kill = setTimeout(() => this.#signal('SIGKILL'), GROUP_GRACE_MS)
    await this.exited
    clearTimeout(kill)
    await this.#groupEnded
  }

  /**
   * Splits the output into lines, in bytes (a line's size is bounded in bytes, and a character
   * cut between two chunks is decoded whole). A line past `max_response_body_size` is read past
   * without being kept (`#oversized`).
   */
  #onStdout(chunk: Buffer): void {
    let start = 0
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start)
      const end = newline === -1 ? chunk.length : newline
      const piece = chunk.subarray(start, end)
      start = end + 1
      if (this.#oversized !== undefined) {
        this.#oversized.scanner.push(this.#oversized.decoder.write(piece))
        if (newline !== -1) this.#dropOversized()
      } else if (this.#pendingLength + piece.length > this.#maxLineBytes) {
        this.#startOversized(piece)
        if (newline !== -1) this.#dropOversized()
      } else if (newline === -1) {
        this.#pending.push(piece)
        this.#pendingLength += piece.length
      } else {
        const line = this.#pending.length === 0 ? piece : Buffer.concat([...this.#pending, piece])
        this.#pending = []
        this.#pendingLength = 0
        const text = line.toString('utf8').trim()
        if (text) this.#line(text)
      }
    }
  }

  #onStdoutEnd(): void {
    if (this.#oversized !== undefined) {
      this.#dropOversized()
      return
    }
    if (this.#pending.length === 0) return
    const line = Buffer.concat(this.#pending)
    this.#pending = []
    this.#pendingLength = 0
    const text = line.toString('utf8').trim()
    if (text) this.#line(text)
  }

  #startOversized(piece: Buffer): void {
    const oversized = { scanner: new TopLevelIdScanner(), decoder: new StringDecoder('utf8') }
    for (const held of [...this.#pending, piece]) {
      oversized.scanner.push(oversized.decoder.write(held))
    }
    this.#pending = []
    this.#pendingLength = 0
    this.#oversized = oversized
  }

  /** The oversized line ended: the call it answers fails; one whose id is unknown is logged. */
  #dropOversized(): void {
    const scanner = this.#oversized?.scanner
    this.#oversized = undefined
    if (scanner === undefined) return
    const error = new PorticoError('response_too_large', {
      message: `Backend ${this.backend} wrote a message over ${this.#maxLineBytes} bytes`,
      data: { backend: this.backend },
    })
    const id = scanner.hasMethod ? undefined : scanner.id
    if (id !== undefined && this.failCall(id, error)) return
    this.#logger.warn(
      `backend ${this.backend} wrote a message over ${this.#maxLineBytes} bytes that answers no call in flight: dropped`,
      { backend: this.backend },
    )
  }

  /** A line that is not JSON is skipped: some servers print banners on stdout. */
  #line(line: string): void {
    const value = parseExact(line) ?? this.#recover(line)
    if (Array.isArray(value)) for (const item of value) this.receive(item)
    else this.receive(value)
  }

  /**
   * A line that is not JSON but ends with a whole message: a write the server left without its
   * newline (interrupted, or a stray print) joined the next message's line, and that message's
   * call would otherwise wait for its deadline. The message is parsed from the first place a
   * message can start (`{"` and one of its members) from which the rest of the line is one
   * JSON-RPC message; a place inside the torn text cannot be one, as the message after it is
   * balanced on its own. A few places at most: a banner without such a place costs one search.
   */
  #recover(line: string): unknown {
    let at = line.indexOf('{"', 1)
    for (let tries = 0; at !== -1 && tries < MAX_RECOVERY_TRIES; at = line.indexOf('{"', at + 2)) {
      if (!MESSAGE_START.test(line.slice(at + 2, at + 10))) continue
      tries++
      const value = parseExact(line.slice(at))
      if (kindOf(value) === undefined) continue
      if (!this.#tornLogged) {
        this.#tornLogged = true
        this.#logger.warn(
          `backend ${this.backend} wrote a line without its newline; its text is dropped (logged once per process)`,
          { backend: this.backend, dropped: line.slice(0, Math.min(at, 200)) },
        )
      }
      return value
    }
    return undefined
  }

  protected transmit(message: JsonRpcMessage): void {
    const stdin = this.#child.stdin
    if (!stdin?.writable) throw crashError(this.backend, 'is not running')
    if (stdin.writableLength > this.#maxLineBytes) {
      this.#watchStalledInput(stdin)
      throw new PorticoError('backend_failed', {
        message: `Backend ${this.backend} is not reading its input`,
        data: { backend: this.backend },
      })
    }
    stdin.write(`${encodeValues(message)}\n`)
  }

  #closing: Promise<void> | undefined
  /** Resolves once the processes the backend started are gone too (set when it exits). */
  #groupEnded: Promise<void> | undefined

  /** Closes stdin, then SIGTERM after 2 s and SIGKILL after 2 s more (once, however often asked). */
  close(): Promise<void> {
    this.#closing ??= this.#stop()
    return this.#closing
  }

  async #stop(): Promise<void> {
    this.#stopping = true
    this.fail(new PorticoError('backend_failed', { message: `Backend ${this.backend} stopped` }))
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return this.#groupEnded
    this.#child.stdin?.end()
    const term = setTimeout(() => this.#signal('SIGTERM'), 2000)
    const kill = setTimeout(() => this.#signal('SIGKILL'), 4000)
    await this.exited
    clearTimeout(term)
    clearTimeout(kill)
    await this.#groupEnded
  }

  /** Kills the process (and its process group) at once (tests, hot reload of a changed backend). */
  kill(): void {
    this.#stopping = true
    this.#signal('SIGKILL')
  }

  /** Signals the backend's process group (POSIX), else the process. */
  #signal(signal: NodeJS.Signals): void {
    const pid = this.#child.pid
    if (GROUPED && pid !== undefined && signalGroup(pid, signal)) return
    this.#child.kill(signal)
  }
}

/**
 * Why a process did not start, in the user's terms: Node says `spawn node ENOENT` both for a
 * command that is not on PATH and for a `cwd` that does not exist. Only on a failed start, so
 * the synchronous look at the folder costs nothing on the way of calls.
 */
function spawnFailure(config: BackendConfig, error: NodeJS.ErrnoException): string {
  const command = config.command ?? ''
  if (error.code === 'ENOENT' && config.cwd !== undefined && !existsSync(config.cwd))
    return `its cwd ${config.cwd} does not exist`
  if (error.code === 'ENOENT')
    return command.includes('/') || command.includes('\\')
      ? `${command} does not exist`
      : `command "${command}" not found on PATH`
  if (error.code === 'ENOTDIR' && config.cwd !== undefined)
    return `its cwd ${config.cwd} is not a folder`
  if (error.code === 'EACCES') return `${command} is not an executable file`
  // Node's argument errors quote the value (an env secret): named by their code only.
  if (error.code?.startsWith('ERR_')) {
    return `its command, args or env cannot be given to a process (${error.code})`
  }
  return error.message
}

function crashError(backend: string, what: string): PorticoError {
  return new PorticoError('backend_failed', {
    message: `Backend ${backend} ${what}`,
    data: { backend, reason: 'backend_exited' },
  })
}

/**
 * A backend's stderr in Portico's log, line by line, each cut at MAX_STDERR_LINE and at most
 * STDERR_LINES_PER_SECOND a second per backend (restarts included): a chatty or broken server
 * cannot flood the log; what was held back is counted in the next line that goes out.
 */
function pipeStderr(child: ChildProcess, backend: string, logger: Logger, budget: PerSecond): void {
  let rest = ''
  const log = (line: string): void => {
    if (!line.trim()) return
    const held = budget.take()
    if (held < 0) return
    if (held > 0)
      logger.info(`[${backend}] ${held} stderr lines not logged (over ${budget.max} a second)`, {
        backend,
      })
    logger.info(`[${backend}] ${line.slice(0, MAX_STDERR_LINE)}`, { backend })
  }
  const stderr = child.stderr?.setEncoding('utf8')
  stderr?.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n')
    rest = (lines.pop() ?? '').slice(0, MAX_STDERR_LINE)
    for (const line of lines) log(line)
  })
  // The last text without a newline: often the one line that says why the process died.
  stderr?.on('end', () => {
    log(rest)
    rest = ''
  })
}

/**
 * The environment a backend process gets: what a program needs to run (PATH, HOME, locale,
 * temp folder; the Windows basics) and the backend's own `env`, not Portico's whole
 * environment, which holds other backends' secrets. `inherit_env = true` passes everything.
 */
export function childEnv(
  config: BackendConfig,
  parent: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  if (config.inherit_env) return { ...parent, ...config.env }
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(parent)) {
    if (value !== undefined && (BASE_ENV.has(name) || name.startsWith('LC_'))) env[name] = value
  }
  return { ...env, ...config.env }
}

const BASE_ENV = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
  'TEMP',
  'TMP',
  'TERM',
  'SystemRoot',
  'SYSTEMROOT',
  'ComSpec',
  'PATHEXT',
  'APPDATA',
  'LOCALAPPDATA',
  'USERPROFILE',
  'ProgramData',
  'ProgramFiles',
  'WINDIR',
])

export class StdioBackend extends Backend {
  /** The shared process (isolation = "shared"). */
  #shared: Promise<StdioConnection> | undefined
  #sharedConnection: StdioConnection | undefined
  /**
   * Every process started and not yet exited, those still starting included: closing the
   * backend stops them at once instead of waiting out an `initialize` that may never come.
   */
  readonly #processes = new Set<StdioConnection>()
  /** One process per client session (isolation = "session"). */
  readonly #perSession = new Map<string, Promise<StdioConnection>>()
  /** Each session's process from its spawn on, starting or not: what ending the session stops. */
  readonly #sessionProcess = new Map<string, StdioConnection>()
  /** Who hears what the shared process sends outside any call (audience.ts). */
  readonly #audience = new SharedAudience({
    subscribed: 10_000,
    perSession: MAX_SUBSCRIPTIONS_PER_SESSION,
  })
  /**
   * Client session → the rank of the log level it asked for: the shared process's, or (with a
   * process per session) its own process's, told again to a process started after a crash.
   */
  readonly #logLevels = new Map<string, number>()
  /**
   * isolation = "session": the resources each session subscribed to on its own process (at most
   * 1,000 a session, as a shared process's), subscribed again on the process started after a
   * crash, as a shared process's are.
   */
  readonly #sessionSubscriptions = new Map<string, Set<string>>()
  #failures = 0
  readonly #stderr = new PerSecond(STDERR_LINES_PER_SECOND)
  #restartTimer: NodeJS.Timeout | undefined
  #closed = false
  #info: ServerInfo | undefined
  #lastStart = 0
  /** isolation = "session": no new process before this time (backoff after crashes). */
  #sessionStartsAfter = 0
  /**
   * Why the last start failed (`could not start: its cwd /srv/x does not exist`), while no start
   * succeeded since: what a call refused meanwhile is told, rather than only "keeps crashing".
   */
  #lastStartFailure: string | undefined

  info(): ServerInfo | undefined {
    return this.#info
  }

  /**
   * A shared process has one log level for all its sessions: the most talkative any of them
   * asked for, so that none misses the lines it wants (each session's own level is applied by
   * the gateway on the way out: sessions.ts `showsLog`). The last session's word would
   * otherwise silence the others' (one asking for `error` hid another's `debug`).
   */
  override async setLogLevel(session: SessionRef, params: JsonObject): Promise<void> {
    this.#noteLevel(session.key, params)
    if (this.config.isolation !== 'shared') {
      // A session with no process yet: its process, when a call starts it, is told then
      // (no process is started just to be told a level).
      if (!this.#perSession.has(session.key)) {
        this.#owe(session.key, 'level')
        return
      }
      return super.setLogLevel(session, params)
    }
    const connection = await this.connection(session)
    // Read once connected: two sessions' levels sent while the process started both say the
    // level of all the sessions known by then, in whichever order they go out.
    const level = this.#sharedLogLevel() ?? params.level
    await connection.request(
      'logging/setLevel',
      { ...params, level },
      { timeoutMs: this.timeoutMs },
    )
  }

  /** A shared process started later is told it with the others' (`#restoreLogLevel`). */
  override noteLogLevel(session: SessionRef, params: JsonObject): void {
    this.#noteLevel(session.key, params)
    if (this.dedicated && !this.#perSession.has(session.key)) this.#owe(session.key, 'level')
  }

  #noteLevel(sessionKey: string, params: JsonObject): void {
    if (this.#logLevels.size < 100_000 || this.#logLevels.has(sessionKey)) {
      this.#logLevels.set(sessionKey, logLevelRank(params.level))
    }
  }

  /** The most talkative level the shared process's sessions asked for (none asked: undefined). */
  #sharedLogLevel(): string | undefined {
    if (this.#logLevels.size === 0) return undefined
    let rank = MCP_LOG_LEVELS.length - 1
    for (const asked of this.#logLevels.values()) rank = Math.min(rank, asked)
    return MCP_LOG_LEVELS[rank]
  }

  /**
   * A shared process started again (after a crash, or its sessions' first one ended) is told
   * the level its sessions asked for, as it is told their subscriptions: a new process starts
   * at its own default, and the sessions would no longer get the lines they asked for.
   */
  #restoreLogLevel(connection: StdioConnection): void {
    const level = this.#sharedLogLevel()
    if (level === undefined) return
    this.#askAgain(connection, 'logging/setLevel', { level }, `the log level ${level}`)
  }

  /** Asks a new shared process what its sessions asked the last one; a refusal is logged. */
  #askAgain(connection: StdioConnection, method: string, params: JsonObject, what: string): void {
    connection
      .request(method, params, { timeoutMs: this.timeoutMs })
      .then((response) => response.error?.message)
      .catch((error: Error) => error.message)
      .then((problem) => {
        if (problem === undefined || connection.closed) return
        this.deps.logger.warn(`backend ${this.name} refused ${what} again`, {
          backend: this.name,
          error: problem,
        })
      })
  }

  start(): void {
    if (this.config.isolation === 'shared') this.#ensureShared().catch(() => {})
  }

  connection(session: SessionRef): Promise<StdioConnection> {
    if (this.#closed) return Promise.reject(crashError(this.name, 'was removed'))
    if (this.config.isolation === 'session') return this.#forSession(session)
    this.#audience.join(session)
    if (this.#sharedConnection?.closed === false || this.#shared) return this.#ensureShared()
    if (this.state === 'failed') return Promise.reject(this.#refusal('failed'))
    if (this.#restartTimer) return Promise.reject(this.#refusal('restarting'))
    return this.#ensureShared()
  }

  /**
   * A call refused while the backend waits out its backoff or gave up: with the cause of the
   * last failed start when there is one (a missing command, a bad `cwd`: what `portico check`
   * warns of), else it crashed.
   */
  #refusal(why: 'failed' | 'restarting'): PorticoError {
    const cause = this.#lastStartFailure
    if (why === 'restarting') {
      const last = cause === undefined ? '' : ` (its last start failed: ${cause})`
      return crashError(this.name, `is restarting${last}`)
    }
    // A process that never ran (a missing command, a bad cwd) did not crash: said as it is.
    if (cause?.startsWith('could not start')) {
      const tries = `${this.#failures} failed start${this.#failures === 1 ? '' : 's'}`
      return crashError(
        this.name,
        `${cause}; not tried again after ${tries} (max_restarts = ${this.config.max_restarts}) until its config changes`,
      )
    }
    const last = cause === undefined ? '' : ` (its last start failed: ${cause})`
    return crashError(this.name, `keeps crashing${last}`)
  }

  #ensureShared(): Promise<StdioConnection> {
    if (this.#shared) return this.#shared
    const opening = this.#open(gatewayInit())
    this.#shared = opening
    opening.then(
      (connection) => {
        this.#sharedConnection = connection
        connection.onUnsolicited = (message) => {
          if ('id' in message) {
            answerUnrouted(connection, message)
            return
          }
          // A list change goes to the gateway, which drops the caches and the catalog's
          // refusals, tells listen streams and every session, whether it listed through this
          // process or from the cache (gateway.ts `#deliver`); the rest to the audience.
          if (message.method.endsWith('/list_changed')) {
            this.deps.gatewaySession.deliver(this.name, message, connection)
            return
          }
          for (const session of this.#audience.of(message)) {
            session.deliver(this.name, message, connection)
          }
        }
        void connection.exited.then((error) => this.#onSharedExit(connection, error))
        this.#resubscribe(connection)
        this.#restoreLogLevel(connection)
      },
      () => {
        this.#shared = undefined
        this.#scheduleRestart()
      },
    )
    return opening
  }

  async #open(
    initParams: JsonObject,
    spawned?: (connection: StdioConnection) => void,
  ): Promise<StdioConnection> {
    // With a process per session, another session's process starting says nothing of the
    // ones that serve: a backend that is up stays up.
    if (!(this.dedicated && this.state === 'up')) this.setState('starting')
    let connection: StdioConnection
    try {
      connection = new StdioConnection({
        config: this.config,
        logger: this.deps.logger,
        maxLineBytes: this.deps.maxMessageBytes,
        stderr: this.#stderr,
      })
    } catch (thrown) {
      // spawn refused the command at once (an empty one, a NUL in an argument, a `cwd` that is
      // a file): a failed start like any other, counted toward max_restarts and backed off,
      // never retried in a loop; said in the user's terms, with the backend's name.
      const error =
        thrown instanceof PorticoError
          ? thrown
          : crashError(
              this.name,
              `could not start: ${spawnFailure(this.config, thrown as NodeJS.ErrnoException)}`,
            )
      this.#failedStart(error)
      throw error
    }
    spawned?.(connection)
    this.reportUnroutable(connection)
    this.#processes.add(connection)
    void connection.exited.then(() => this.#processes.delete(connection))
    try {
      const info = await Promise.race([
        connection.initialize(initParams, this.startupTimeoutMs),
        connection.exited.then((error) => Promise.reject(error)),
      ])
      this.#info = info
      // A start that succeeds ends a run of failures; should this process crash soon after
      // starting, the run goes on from where it was (`#crashedSoon`).
      connection.ready = true
      connection.failuresBefore = this.#failures
      this.#failures = 0
      this.#lastStartFailure = undefined
      this.setState('up')
      this.#lastStart = Date.now()
      return connection
    } catch (error) {
      // Closing the backend failed this start (`close` stops the process gracefully), or the
      // session it started for ended: Portico stopped it, it did not fail.
      if (this.#closed || connection.stopping) throw error
      connection.failedStart = true
      connection.kill()
      this.#failedStart(error)
      throw error
    }
  }

  #failedStart(error: unknown): void {
    this.#failures++
    const message = error instanceof Error ? error.message : String(error)
    this.#lastStartFailure = message.replace(/^Backend \S+ /, '')
    this.deps.logger.warn(`backend ${this.name} failed to start`, {
      backend: this.name,
      error: message,
    })
    if (this.#failures > this.config.max_restarts) this.setState('failed', message)
    // With a process per session, one session's failed start is that session's: the backend
    // is down only when no other session's process serves.
    else if (!(this.dedicated && this.#serving())) this.setState('down', message)
  }

  /** Whether some process of this backend has started and still runs. */
  #serving(): boolean {
    for (const connection of this.#processes)
      if (connection.ready && !connection.closed) return true
    return false
  }

  /**
   * A process that started well crashed within HEALTHY_RUN_MS: the run of failures goes on, and
   * its crash is the cause the calls refused meanwhile are told (`#refusal`).
   */
  #crashedSoon(connection: StdioConnection, error: PorticoError): void {
    this.#failures = Math.max(this.#failures, connection.failuresBefore) + 1
    this.#lastStartFailure = `${error.message.replace(/^Backend \S+ /, '')} soon after starting`
  }

  #onSharedExit(connection: StdioConnection, error: PorticoError): void {
    if (this.#sharedConnection !== connection) return
    this.#shared = undefined
    this.#sharedConnection = undefined
    if (this.#closed) return
    this.deps.logger.warn(`backend ${this.name} ${error.message.replace(/^Backend \S+ /, '')}`, {
      backend: this.name,
    })
    if (Date.now() - this.#lastStart < HEALTHY_RUN_MS) this.#crashedSoon(connection, error)
    else this.#failures = 1
    // Past max_restarts it stays down for good ("failed"): no call starts it again.
    this.setState(this.#failures > this.config.max_restarts ? 'failed' : 'down', error.message)
    this.#scheduleRestart()
  }

  #scheduleRestart(): void {
    if (this.#closed || this.#restartTimer || this.#failures > this.config.max_restarts) return
    const delay = restartDelay(this.#failures)
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined
      this.restarts++
      this.#ensureShared().catch(() => {})
    }, delay)
    this.#restartTimer.unref()
  }

  /**
   * A restarted shared process knows none of the subscriptions its predecessor had: each
   * resource some client session (or the gateway's own, for listen streams) is subscribed to
   * is subscribed again, so updates keep reaching them.
   */
  #resubscribe(connection: StdioConnection): void {
    for (const uri of this.#audience.subscribed()) {
      this.#askAgain(connection, 'resources/subscribe', { uri }, `the subscription to ${uri}`)
    }
  }

  /**
   * One process per client session. A process that crashes (or fails to start) soon after
   * starting counts as a failure, as the shared process's crashes do: the next session's
   * process waits out the same backoff (its calls get "is restarting" meanwhile), and after
   * `max_restarts` such failures in a row the backend stays down.
   */
  #forSession(session: SessionRef): Promise<StdioConnection> {
    const existing = this.#perSession.get(session.key)
    if (existing) return existing
    if (this.state === 'failed') return Promise.reject(this.#refusal('failed'))
    if (Date.now() < this.#sessionStartsAfter) return Promise.reject(this.#refusal('restarting'))
    const max = this.config.max_processes
    // Processes at once: those still starting, and those of ended sessions still stopping, too.
    if (this.#processes.size >= max) {
      return Promise.reject(
        new PorticoError('too_many_sessions', {
          message: `Backend ${this.name} runs its maximum of ${max} processes (one per client session, max_processes): try again once a session ends`,
          data: { backend: this.name },
          headers: { 'retry-after': '5' },
        }),
      )
    }
    let spawned: StdioConnection | undefined
    // What the session's next process must be told: its level, or after a crash everything.
    const owed = this.#owedToNext.get(session.key)
    this.#owedToNext.delete(session.key)
    const opening = this.#open(session.initParams, (connection) => {
      spawned = connection
      this.#sessionProcess.set(session.key, connection)
      void connection.exited.then(() => {
        if (this.#sessionProcess.get(session.key) === connection) {
          this.#sessionProcess.delete(session.key)
        }
      })
    })
    this.#perSession.set(session.key, opening)
    opening.then(
      (connection) => {
        const started = Date.now()
        connection.onUnsolicited = (message) => session.deliver(this.name, message, connection)
        if (owed !== undefined) this.#restoreSession(session.key, connection, owed)
        void connection.exited.then((error) => {
          // Still this session's process: it was not stopped by Portico, so it crashed.
          const crashed = this.#perSession.get(session.key) === opening && !connection.stopping
          if (this.#perSession.get(session.key) === opening) this.#perSession.delete(session.key)
          if (this.#closed) return
          if (Date.now() - started >= HEALTHY_RUN_MS) this.#failures = 0
          else if (crashed) this.#sessionFailed(connection, error)
          if (crashed) this.#restartForSubscriber(session)
        })
      },
      () => {
        if (this.#perSession.get(session.key) === opening) this.#perSession.delete(session.key)
        if (owed !== undefined) this.#owe(session.key, owed)
        // A start the session's end (or the backend's close) stopped is no failure.
        if (spawned === undefined || spawned.failedStart) {
          this.#sessionStartsAfter = Date.now() + restartDelay(this.#failures)
        }
      },
    )
    return opening
  }

  /**
   * isolation = "session": what a session's next process must be told. `level`: the session
   * asked a level before it had a process; `everything`: its process crashed, and the next one
   * is told its level and subscriptions.
   */
  readonly #owedToNext = new Map<string, 'level' | 'everything'>()

  /** Remembered only for a session that asked something its next process must be told. */
  #owe(sessionKey: string, what: 'level' | 'everything'): void {
    if (this.#closed || this.#owedToNext.get(sessionKey) === 'everything') return
    if (this.#sessionSubscriptions.has(sessionKey) || this.#logLevels.has(sessionKey)) {
      this.#owedToNext.set(sessionKey, what)
    }
  }

  /**
   * A session's process crashed: the next one is told what the session asked this one. One
   * subscribed to resources waits for updates, not for a call: its process is started again
   * (once the backoff allows) rather than on its next call.
   */
  #restartForSubscriber(session: SessionRef): void {
    this.#owe(session.key, 'everything')
    if (!this.#sessionSubscriptions.has(session.key)) return
    const delay = Math.max(0, this.#sessionStartsAfter - Date.now())
    setTimeout(() => {
      if (this.#closed || !this.#sessionSubscriptions.has(session.key)) return
      if (this.#perSession.has(session.key)) return
      this.#forSession(session).catch(() => {})
    }, delay).unref()
  }

  /** The level the session asked for, told to its process (none asked: nothing). */
  #restoreLevel(sessionKey: string, connection: StdioConnection): void {
    const rank = this.#logLevels.get(sessionKey)
    const level = rank === undefined ? undefined : MCP_LOG_LEVELS[rank]
    if (level !== undefined) {
      this.#askAgain(connection, 'logging/setLevel', { level }, `the log level ${level}`)
    }
  }

  /** A session's new process: its log level, and after a crash its subscriptions, asked again. */
  #restoreSession(
    sessionKey: string,
    connection: StdioConnection,
    owed: 'level' | 'everything',
  ): void {
    this.#restoreLevel(sessionKey, connection)
    if (owed === 'level') return
    for (const uri of this.#sessionSubscriptions.get(sessionKey) ?? []) {
      this.#askAgain(connection, 'resources/subscribe', { uri }, `the subscription to ${uri}`)
    }
  }

  /** Stateless principals with a process of their own → when they last called. */
  readonly #principals = new Map<string, number>()
  #principalSweep: NodeJS.Timeout | undefined

  override listScope(session: SessionRef): string {
    return this.config.isolation === 'session' ? session.key : ''
  }

  /**
   * isolation = "session" for stateless (2026-07-28) callers, who have no client session: each
   * principal `[auth]` verified gets a process of its own, as a session would (under the key
   * `principal:<identity>`, counted in `max_processes`), ended once it sat idle `session_ttl`.
   * Without `[auth]` nothing tells stateless callers apart: they share the gateway's session's
   * process (README: Sessions and processes).
   */
  protected override statelessSession(call: BackendCall): SessionRef {
    const identity = call.identity
    if (this.config.isolation !== 'session' || identity === undefined) return call.ref
    const key = `principal:${identity.key}`
    this.#principals.set(key, Date.now())
    if (this.#principalSweep === undefined) {
      const every = Math.min(60_000, this.deps.sessionTtlMs ?? 30 * 60_000)
      this.#principalSweep = setInterval(() => this.#reapPrincipals(), every)
      this.#principalSweep.unref()
    }
    const gateway = call.ref
    return {
      key,
      initParams: gateway.initParams,
      deliver: (backend, message, from) => gateway.deliver(backend, message, from),
    }
  }

  /** Ends the stateless principals' processes idle for `session_ttl` (one with a call is not). */
  #reapPrincipals(): void {
    if (this.#closed) {
      clearInterval(this.#principalSweep)
      return
    }
    const cutoff = Date.now() - (this.deps.sessionTtlMs ?? 30 * 60_000)
    for (const [key, seen] of this.#principals) {
      if (seen >= cutoff) continue
      const opening = this.#perSession.get(key)
      if (opening === undefined) {
        this.#principals.delete(key)
        continue
      }
      opening.then(
        (connection) => {
          if (connection.inFlight > 0) this.#principals.set(key, Date.now())
          if ((this.#principals.get(key) ?? 0) >= cutoff) return
          this.#principals.delete(key)
          this.release(key)
        },
        () => this.#principals.delete(key),
      )
    }
  }

  /** Other sessions' processes may be fine: the backend is marked down only once it failed. */
  #sessionFailed(connection: StdioConnection, error: PorticoError): void {
    this.#crashedSoon(connection, error)
    const delay = restartDelay(this.#failures)
    this.#sessionStartsAfter = Date.now() + delay
    this.deps.logger.warn(
      `backend ${this.name} ${error.message.replace(/^Backend \S+ /, '')} soon after starting; next process in ${delay} ms at the earliest`,
      { backend: this.name },
    )
    const failed = this.#failures > this.config.max_restarts
    this.setState(failed ? 'failed' : this.state, error.message)
  }

  override get dedicated(): boolean {
    return this.config.isolation === 'session'
  }

  override join(session: SessionRef): void {
    if (!this.dedicated) this.#audience.join(session)
  }

  /**
   * A shared process replacing another's keeps its subscribers: its process starts now (a
   * subscriber waits for updates, not for a call) and is subscribed again for them, as a
   * restarted one is (`#resubscribe`). Before, the subscriptions were lost without a word.
   */
  override carryOver(previous: Backend): void {
    if (!(previous instanceof StdioBackend) || this.dedicated || previous.dedicated) return
    this.#audience.copyFrom(previous.#audience)
    // Its sessions' log levels too: the new process is told them as a restarted one is.
    for (const [key, rank] of previous.#logLevels) this.#logLevels.set(key, rank)
    const subscribed = [...this.#audience.subscribed()].length > 0
    if (subscribed || this.#logLevels.size > 0) this.#ensureShared().catch(() => {})
  }

  /**
   * Shared process: one backend subscription serves every client session. Returns whether
   * the backend must be told (first subscriber in, last subscriber out).
   */
  override track(sessionKey: string, uri: string, subscribe: boolean): boolean {
    if (this.dedicated) {
      this.#trackForSession(sessionKey, uri, subscribe)
      return true
    }
    return this.#audience.track(sessionKey, uri, subscribe)
  }

  /** A session's own process: what it subscribed to, for the process after a crash. */
  #trackForSession(sessionKey: string, uri: string, subscribe: boolean): void {
    const uris = this.#sessionSubscriptions.get(sessionKey)
    if (!subscribe) {
      uris?.delete(uri)
      if (uris?.size === 0) this.#sessionSubscriptions.delete(sessionKey)
      return
    }
    if (uris === undefined) this.#sessionSubscriptions.set(sessionKey, new Set([uri]))
    else if (uris.size < MAX_SUBSCRIPTIONS_PER_SESSION) uris.add(uri)
  }

  release(sessionKey: string): void {
    this.#logLevels.delete(sessionKey)
    this.#sessionSubscriptions.delete(sessionKey)
    this.#owedToNext.delete(sessionKey)
    for (const uri of this.#audience.release(sessionKey)) {
      this.#sharedConnection
        ?.request('resources/unsubscribe', { uri }, { timeoutMs: this.timeoutMs })
        .catch(() => {})
    }
    const opening = this.#perSession.get(sessionKey)
    this.#perSession.delete(sessionKey)
    // Stopped now, started or still starting: a process whose session ended must not hold a
    // slot of max_processes (nor run on) until its `initialize` is answered or times out.
    const process = this.#sessionProcess.get(sessionKey)
    if (process) void process.close()
    else opening?.then((connection) => connection.close()).catch(() => {})
  }

  /** With a process per session: the processes running (starting and stopping ones too). */
  protected connectionCount(): number {
    return this.dedicated ? this.#processes.size : this.#sharedConnection ? 1 : 0
  }

  /** Every process started, the shared one included. */
  protected openConnections(): Iterable<Connection> {
    return this.#processes
  }

  override health(): BackendHealth {
    const health = super.health()
    const pid = this.#sharedConnection?.pid
    if (pid !== undefined) health.pid = pid
    return health
  }

  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#restartTimer)
    this.setState('closed')
    this.#perSession.clear()
    this.#shared = undefined
    this.#sharedConnection = undefined
    await Promise.allSettled([...this.#processes].map((connection) => connection.close()))
  }
}

/** The gateway's own identity toward a shared backend. */
function gatewayInit(): JsonObject {
  return {
    protocolVersion: '2025-11-25',
    capabilities: RELAY_CAPABILITIES,
    clientInfo: { name: 'portico-gateway', version: VERSION },
  }
}
