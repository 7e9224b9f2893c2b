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
