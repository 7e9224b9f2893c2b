/**
 * Writes that fail until Portico stops (a full disk) lose events; the store sink says each
 * failure at most once per five seconds, and the total only when writes resume, which they
 * then never do. At the stop the total is said once more, so that no lost event goes unsaid.
 * A writer link that fails every batch stands for the full disk (the real one needs a small
 * filesystem: the lifecycle fuzzer's repro mounted a 2 MB tmpfs).
 */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { it } from 'node:test'
import { relayingSink } from '../../src/store/sink.ts'
import type { WriterLink } from '../../src/store/writer-link.ts'
import type { FromWriter, ToWriter } from '../../src/store/writer-worker.ts'
import { exchangeEvent } from '../helpers/events.ts'
import { until } from '../helpers/wait.ts'

/** A writer whose every commit fails, as on a full disk. */
class FailingWriter extends EventEmitter implements WriterLink {
  batches = 0

  postMessage(message: ToWriter): void {
    setImmediate(() => {
      if (message.type === 'close') {
        this.emit('message', { type: 'closed' } satisfies FromWriter)
        return
      }
      this.batches++
      this.emit('message', {
        type: 'failed',
        count: message.count,
        bytes: message.bytes,
        message: 'database or disk is full',
      } satisfies FromWriter)
    })
  }

  ref(): void {}
  unref(): void {}
  async terminate(): Promise<void> {}
}

it('says at the stop how many events failed writes lost since the last one that succeeded', async () => {
  const writer = new FailingWriter()
  const said: string[] = []
  const sink = relayingSink(writer, { flushMs: 5, onError: (message) => said.push(message) })
  for (let batch = 0; batch < 4; batch++) {
    sink.write(Array.from({ length: 5 }, () => exchangeEvent({ method: 'tools/call' })))
    await until(() => writer.batches > batch || undefined, 5000, `batch ${batch} to fail`)
  }
  await sink.close()
  // The first failure is said at once; the next three fall within its five seconds.
  assert.match(said[0] ?? '', /store write failed \(5 events lost\): database or disk is full/)
  assert.match(said.at(-1) ?? '', /failed until Portico stopped \(20 events lost in all/)
})
