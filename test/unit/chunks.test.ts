/**
 * `chunksOf`: a Readable's chunks in order, what is buffered handed over at once, errors and
 * premature closes thrown as the stream iterator throws them, the stream released when the
 * consumer stops early, and nothing lost when data or the end come while the consumer awaits;
 * a stream marked complete ends the iteration before Node's 'end' event, which comes a tick later.
 */
import assert from 'node:assert/strict'
import { PassThrough, Readable } from 'node:stream'
import { describe, it } from 'node:test'
import { setImmediate as tick } from 'node:timers/promises'
import { type CompletableReadable, chunksOf } from '../../src/util/chunks.ts'

async function collect<T extends Buffer | string>(stream: Readable): Promise<T[]> {
  const out: T[] = []
  for await (const chunk of chunksOf<T>(stream)) out.push(chunk)
  return out
}

describe('chunksOf', () => {
  it('gives buffered and later chunks in order, as strings once an encoding is set', async () => {
    const stream = new PassThrough()
    stream.write('a')
    stream.setEncoding('utf8')
    const done = collect<string>(stream)
    await tick()
    stream.write('b')
    await tick()
    stream.end('c')
    assert.equal((await done).join(''), 'abc')
  })

  it('loses nothing that arrives while the consumer is busy with a chunk', async () => {
    const stream = new PassThrough()
    stream.write(Buffer.from('1'))
    const seen: string[] = []
    for await (const chunk of chunksOf(stream)) {
      seen.push(chunk.toString())
      if (seen.length === 1) {
        // Data and the end both come while this chunk is being handled.
        stream.write(Buffer.from('2'))
        stream.end(Buffer.from('3'))
        await tick()
        await tick()
      }
    }
    assert.equal(seen.join(''), '123')
  })

  it("throws the stream's error", async () => {
    const stream = new PassThrough()
    const done = collect(stream)
    await tick()
    stream.destroy(new Error('socket reset'))
    await assert.rejects(done, /socket reset/)
  })

  it('reports a stream destroyed before its end as a premature close', async () => {
    const stream = new PassThrough()
    stream.write('x')
    const done = collect(stream)
    await tick()
    stream.destroy()
    await assert.rejects(done, (error: NodeJS.ErrnoException) => {
      return error.code === 'ERR_STREAM_PREMATURE_CLOSE'
    })
  })

  it('destroys the stream when the consumer stops early, and leaves no listeners', async () => {
    const stream = Readable.from(['a', 'b', 'c'], { objectMode: false })
    for await (const chunk of chunksOf<Buffer>(stream)) {
      assert.equal(chunk.toString(), 'a')
      break
    }
    assert.equal(stream.destroyed, true)
    assert.equal(stream.listenerCount('readable'), 0)
    assert.equal(stream.listenerCount('end'), 0)
  })

  it('ends a complete stream once its buffer is read, before the end event, and leaves it whole', async () => {
    const iterate = async (complete: boolean) => {
      const stream: CompletableReadable & { complete: boolean } = Object.assign(
        new Readable({ read() {} }),
        { complete: false },
      )
      let endEmitted = false
      stream.on('end', () => {
        endEmitted = true
      })
      const seen: string[] = []
      const done = (async () => {
        for await (const chunk of chunksOf<Buffer>(stream)) seen.push(chunk.toString())
        // What the consumer does next (the proxy ends its answer) runs before or after 'end'.
        return endEmitted
      })()
      await tick()
      stream.push('a')
      stream.push('b')
      stream.complete = complete
      stream.push(null)
      const endedFirst = await done
      return { seen: seen.join(''), endedFirst, destroyed: stream.destroyed }
    }
    // Marked complete: over as soon as 'a' and 'b' are read, and not destroyed (nothing to
    // release: its producer has finished, e.g. an upstream request that must not be aborted).
    assert.deepEqual(await iterate(true), { seen: 'ab', endedFirst: false, destroyed: false })
    // The control: an unmarked stream's iteration waits for Node's 'end' (after which Node
    // destroys the stream itself).
    assert.deepEqual(await iterate(false), { seen: 'ab', endedFirst: true, destroyed: true })
  })
})
