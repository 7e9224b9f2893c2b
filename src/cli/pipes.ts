/**
 * What a command does when the reader of its output goes away (the write fails with EPIPE).
 * A report (`portico logs -f | head`) ends there, quietly, as any Unix tool does. A command
 * that serves (`run`, `relay`, `demo`, `dashboard`) keeps serving and loses the lines: a log
 * collector that restarts, or `portico run 2>&1 | head`, must not stop the proxy (nginx goes
 * on when its log pipe breaks). Without a handler, the EPIPE is an uncaught error that
 * exits the process with its calls in flight.
 */
let serving = false

/** From now on the command serves: a reader going away loses lines, never the process. */
export function keepServingWithoutReaders(): void {
  serving = true
}

/** Installs the handlers (once, before any command runs). */
export function watchOutputPipes(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
    if (!serving) process.exit(0)
  })
  // Only logs go there: lost, whatever the command.
  process.stderr.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
  })
}
