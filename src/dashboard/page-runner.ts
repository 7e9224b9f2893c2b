/**
 * Runs dashboard page queries in a worker thread (page-worker.ts), so a slow one never holds
 * the proxy's event loop. One worker, started when the dashboard is first used, queries in
 * turn; at most MAX_WAITING wait (more is a 503: a page reloaded in a loop cannot pile up
 * work), and a worker that dies fails what it held and is started again on the next query.
 */
import { Worker } from 'node:worker_threads'
import type { PageAnswer, PageQuery } from './page-worker.ts'
import { BadRequest } from './query.ts'

const MAX_WAITING = 32

interface Waiting {
  resolve: (body: unknown) => void
  reject: (error: Error) => void
}

export class PageRunner {
  readonly #path: string
  #worker: Worker | undefined
  readonly #waiting = new Map<number, Waiting>()
  #nextId = 1

  constructor(storePath: string) {
    this.#path = storePath
  }

  /** The page `name` for this query string, as the in-process page would answer it. */
  run(name: string, search: string, now: number): Promise<unknown> {
    if (this.#waiting.size >= MAX_WAITING) {
      return Promise.reject(new BadRequest('the dashboard is busy: try again in a moment', 503))
    }
    const worker = this.#ensureWorker()
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject })
      worker.postMessage({ id, name, search, now } satisfies PageQuery)
    })
  }

  /** Starts the worker ahead of the first query (the page shell was just asked for). */
  warm(): void {
    this.#ensureWorker()
  }

  async close(): Promise<void> {
    const worker = this.#worker
    this.#worker = undefined
    this.#failAll('the dashboard stopped')
    await worker?.terminate()
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker
    const worker = new Worker(new URL('./page-worker.js', import.meta.url), {
      workerData: { path: this.#path },
    })
    // Not a reason to keep the process alive: the proxy's shutdown decides.
    worker.unref()
    worker.on('message', (answer: PageAnswer) => this.#settle(answer))
    worker.on('error', (error) => this.#lost(worker, error.message))
    worker.on('exit', () => this.#lost(worker, 'the dashboard query worker stopped'))
    this.#worker = worker
    return worker
  }

  #settle(answer: PageAnswer): void {
    const waiting = this.#waiting.get(answer.id)
    if (waiting === undefined) return
    this.#waiting.delete(answer.id)
    if ('error' in answer) waiting.reject(new BadRequest(answer.error.message, answer.error.status))
    else waiting.resolve(answer.body)
  }

  #lost(worker: Worker, why: string): void {
    if (this.#worker !== worker) return
    this.#worker = undefined
    this.#failAll(why)
  }

  #failAll(why: string): void {
    for (const waiting of this.#waiting.values()) waiting.reject(new Error(why))
    this.#waiting.clear()
  }
}
