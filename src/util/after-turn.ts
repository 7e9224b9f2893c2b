/**
 * Work that must not delay the answer being written (storing a cache entry, bookkeeping after
 * a reply): queued, then run together once the current loop turn's I/O callbacks are done (one
 * `setImmediate` for all of a turn's tasks). At one call at a time this takes the work off the
 * call's latency: it runs while the client reads the answer and sends its next request.
 * A task that throws is skipped; the others still run.
 */
const queue: Array<() => void> = []

export function afterTurn(task: () => void): void {
  queue.push(task)
  if (queue.length === 1) setImmediate(runQueued)
}

function runQueued(): void {
  // Tasks queued while these run join this pass (the length is read live).
  for (let i = 0; i < queue.length; i++) {
    try {
      ;(queue[i] as () => void)()
    } catch {
      // A failed task must not lose the ones after it, nor crash the proxy from a timer.
    }
  }
  queue.length = 0
}
