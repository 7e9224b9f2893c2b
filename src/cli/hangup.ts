/**
 * SIGHUP while Portico starts. Node's default action for SIGHUP is to exit, and the handler
 * that reloads is installed only once there is something to reload: a `kill -HUP` sent in the
 * first tenth of a second (systemd's `ExecReload` right after a start, a deploy script) stopped
 * Portico. From the moment a command that serves begins, a SIGHUP is held, and it is replayed
 * once Portico listens, as the reload it asked for.
 */
import type { Logger } from '../observe/logger.ts'

let held = false
let holding = false
const hold = (): void => {
  held = true
}

/** Holds SIGHUPs from now on (idempotent). */
export function holdHangups(): void {
  if (holding) return
  holding = true
  process.on('SIGHUP', hold)
}

/**
 * Stops holding; a SIGHUP held meanwhile is emitted again, to the handlers installed since
 * (the reload). Call it once the reload handler is installed and Portico listens.
 */
export function releaseHangups(logger: Logger): void {
  if (!holding) return
  holding = false
  process.off('SIGHUP', hold)
  if (!held) return
  held = false
  logger.info('received SIGHUP while starting: reloading now that Portico listens')
  process.emit('SIGHUP', 'SIGHUP')
}

/**
 * For a serving command that reloads nothing (`relay`, `dashboard`): a SIGHUP (`systemctl
 * reload`, a closed terminal) is said and ignored. Node's default action ended the relay, every
 * tunnel with it and without its drain, and the dashboard exited 1.
 */
export function ignoreHangups(what: string): void {
  process.on('SIGHUP', () => {
    process.stderr.write(
      `received SIGHUP: ${what} reloads nothing (restart it to apply a change)\n`,
    )
  })
}
