/**
 * A Readable's chunks as an async iterable, handing over what is already buffered at once.
 *
 * Why not `for await (const chunk of stream)`: in the proxy, Node 20's stream iterator took
 * 75–120 µs to deliver the first chunk of an upstream SSE answer that was already buffered
 * (its set-up attaches end-of-stream tracking and waits for a `readable` event it schedules
 * itself); reading what is there first took about 20 µs. That wait was on the path of every
 * streamed answer's first event (bench/reports/2026-12-01-perf2.md, step 16).
 *
 * Same contract as the stream iterator: chunks in order (strings once `setEncoding` was
 * called), the stream's error thrown, a stream destroyed before its end reported as a
 * premature close, and the stream destroyed when the consumer stops early.
 */
import type { Readable } from 'node:stream'

export async function* chunksOf<T extends Buffer | string = Buffer>(
  stream: Readable,
): AsyncGenerator<T> {
  let wake: (() => void) | undefined
  // Events that fire while the consumer holds a chunk are not lost: the loop reads the
  // stream's state again before it waits.
  const onEvent = (): void => {
    const resolve = wake
    wake = undefined
    resolve?.()
  }
  stream.on('readable', onEvent)
  stream.on('end', onEvent)
  stream.on('error', onEvent)
  stream.on('close', onEvent)
  try {
    for (;;) {
      let chunk: T | null = stream.read() as T | null
      for (; chunk !== null; chunk = stream.read() as T | null) yield chunk
      if (stream.errored) throw stream.errored
      if (stream.readableEnded) return
      if (stream.destroyed) throw prematureClose()
      await new Promise<void>((resolve) => {
        wake = resolve
      })
    }
  } finally {
    stream.off('readable', onEvent)
    stream.off('end', onEvent)
    stream.off('error', onEvent)
    stream.off('close', onEvent)
    // Stopped early (the consumer left, or a bound was hit): release what feeds the stream.
    if (!stream.readableEnded && !stream.destroyed) stream.destroy()
  }
}

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })
}
