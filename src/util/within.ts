/**
 * `promise`, or a rejection with `timeout()` once `ms` have passed first. The timer is
 * cleared as soon as the promise settles; a promise that settles after the deadline changes
 * nothing (its outcome is dropped, never unhandled).
 */
export function within<T>(
  ms: number,
  promise: Promise<T>,
  timeout: () => Error = () => new Error('timeout'),
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(timeout()), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/**
 * A wait that `done()` ends, or `ms` at most (the timer unref'd: it never holds the process
 * open): what a stop waits for in-flight work with.
 */
export function doneOrAfter(ms: number): { promise: Promise<void>; done: () => void } {
  let done = () => {}
  const promise = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    timer.unref()
    done = () => {
      clearTimeout(timer)
      resolve()
    }
  })
  return { promise, done }
}
