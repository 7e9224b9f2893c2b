/**
 * An option a command takes once: commander keeps the last of a repeated option, so
 * `portico check -c a.toml -c b.toml` checked b.toml alone and said ok, a.toml never read.
 */
import { InvalidArgumentError } from 'commander'

export function onlyOnce(flag: string): (value: string, previous: string | undefined) => string {
  return (value, previous) => {
    if (previous !== undefined) {
      throw new InvalidArgumentError(`given twice (${previous} and ${value}): name one ${flag}`)
    }
    return value
  }
}
