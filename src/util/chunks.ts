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
 *
 * A stream that says its last chunk was pushed (`complete`, see `CompletableReadable`) ends
 * the iteration as soon as its buffer is read, instead of a tick later with Node's 'end'.
 */
import type { Readable } from 'node:stream'

/**
 * A Readable whose producer marks when it pushed its last chunk. Node emits 'end' on a later
 * tick, after the writes made from the chunks already read were flushed: a proxy waiting for
 * it ends its own answer in a write of its own. Known at once, the end goes out in the same
 * write as the last chunk (one syscall and one client wake-up less per streamed answer).
 */
export interface CompletableReadable extends Readable {
  readonly complete?: boolean
}

export async function* chunksOf<T extends Buffer | string = Buffer>(
  stream: CompletableReadable,
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
      if (ended(stream)) return
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
    if (!ended(stream) && !stream.destroyed) stream.destroy()
  }
}

/** Nothing more will come: 'end' was emitted, or the last chunk was pushed and has been read. */
function ended(stream: CompletableReadable): boolean {
  return stream.readableEnded || (stream.complete === true && stream.readableLength === 0)
}

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })
}
