/**
 * Text from outside (a client's name, a backend's error message) as an error or a log line
 * repeats it: clipped, so that one of megabytes is never copied into every answer, log line
 * and health report that quotes it.
 */
export function clipped(text: string, max = 300): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`
}
