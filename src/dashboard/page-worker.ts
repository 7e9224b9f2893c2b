/**
 * The dashboard's page queries, run in a worker thread for a dashboard mounted on a running
 * proxy: a week's overview over a million calls takes SQLite over half a second, which on the
 * proxy's own thread would stall every call in flight for as long. The worker opens its own
 * connection to the store the first time it is asked (and again when the file at the path is
 * another one), and answers one query at a time.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { FollowedStore } from '../store/followed.ts'
import { openStore } from '../store/open.ts'
import { answerPage } from './pages.ts'
import { BadRequest, Params } from './query.ts'

export interface PageQuery {
  id: number
  name: string
  /** The request's query string (`since=7d&proxy=a`). */
  search: string
  now: number
}

export type PageAnswer =
  | { id: number; body: unknown }
  | { id: number; error: { message: string; status: number } }

const { path } = workerData as { path: string }
// Followed: a store deleted and started again by the proxy, or replaced, is opened again.
const store = new FollowedStore(path, (at) => openStore(at))

parentPort?.on('message', (query: PageQuery) => {
  parentPort?.postMessage(answer(query))
})

function answer(query: PageQuery): PageAnswer {
  try {
    const params = new Params(new URLSearchParams(query.search))
    return { id: query.id, body: answerPage(store.get(), query.name, params, query.now) }
  } catch (error) {
    const status = error instanceof BadRequest ? error.status : 500
    const message = error instanceof Error ? error.message : String(error)
    return { id: query.id, error: { message, status } }
  }
}
