/** A failure the user can fix (bad config, missing store, bad flag value): printed without a stack. */
export class UserError extends Error {
  readonly exitCode: number

  constructor(message: string, exitCode = 1) {
    super(message)
    this.name = 'UserError'
    this.exitCode = exitCode
  }
}

/** Parses an integer flag value, naming the flag when it is not one. */
export function intOption(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value))
      throw new UserError(`${flag}: expected a non-negative integer, got "${value}"`, 2)
    return Number(value)
  }
}
