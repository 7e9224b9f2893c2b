/** A dashboard live tail (`api/live`) held open by a test: its status and the text so far. */
import { get, type IncomingMessage } from 'node:http'

/** Opens the tail; the text so far is kept up to 1 MB (a test reads a few events). */
export function openTail(
  url: string,
): Promise<{ status: number; text: () => string; close(): void }> {
  return new Promise((resolve, reject) => {
    const request = get(url, (res: IncomingMessage) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        if (text.length < 1024 * 1024) text += chunk
      })
      resolve({
        status: res.statusCode ?? 0,
        text: () => text,
        close: () => {
          res.destroy()
          request.destroy()
        },
      })
    })
    request.on('error', reject)
  })
}
