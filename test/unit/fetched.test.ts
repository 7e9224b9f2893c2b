/** Bounded reads of the answers Portico fetches itself, against a real local HTTP server. */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, it } from 'node:test'
import { AnswerTooLarge, fetchText, fetchWithin, textWithin } from '../../src/http/fetched.ts'

const server = createServer((req, res) => {
  if (req.url === '/empty') {
    res.writeHead(204).end()
    return
  }
  if (req.url === '/trickle' || req.url === '/stall') {
    // Headers at once, then a byte now and then (or one byte and nothing), never the end.
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write(' ')
    if (req.url === '/stall') return
    const timer = setInterval(() => res.write(' '), 50)
    res.on('close', () => clearInterval(timer))
    return
  }
  if (req.url === '/silent') return
  const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size'))
  const announced = req.url?.includes('announce') === true
  res.writeHead(200, announced ? { 'content-length': String(size) } : {})
  const piece = 'y'.repeat(16 * 1024)
  for (let left = size; left > 0; left -= piece.length) {
    if (res.destroyed) return
    res.write(piece.slice(0, Math.min(left, piece.length)))
  }
  res.end()
})
let base = ''
before(async () => {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
after(() => {
  server.closeAllConnections()
  server.close()
})

it('reads an answer within the bound whole', async () => {
  const text = await textWithin(await fetch(`${base}/?size=5000`), 5000)
  assert.equal(text.length, 5000)
})

it('refuses an answer past the bound, announced or streamed', async () => {
  for (const path of ['/?size=3000000', '/?size=3000000&announce']) {
    await assert.rejects(textWithin(await fetch(`${base}${path}`), 100_000), AnswerTooLarge)
  }
})

it('fetchWithin hands back a readable answer, or refuses one past the bound', async () => {
  const within = fetchWithin(10_000)
  const small = await within(`${base}/?size=10`)
  assert.equal(small.status, 200)
  assert.equal(await small.text(), 'y'.repeat(10))
  await assert.rejects(within(`${base}/?size=20000`), /answer over 10000 bytes/)
})

it('fetchWithin hands back an answer that may not have a body (204) as it came', async () => {
  const empty = await fetchWithin(10_000)(`${base}/empty`)
  assert.equal(empty.status, 204)
  assert.equal(await empty.text(), '')
})

it('fetchText gives up an answer that trickles, stalls or never starts at its deadline', {
  timeout: 20_000,
}, async () => {
  for (const path of ['/trickle', '/stall', '/silent', '/trickle', '/stall']) {
    await assert.rejects(
      fetchText(`${base}${path}`, {}, { maxBytes: 10_000, timeoutMs: 300 }),
      (e: Error) => e.name === 'TimeoutError',
      path,
    )
  }
  const { response, text } = await fetchText(
    `${base}/?size=10`,
    {},
    {
      maxBytes: 100,
      timeoutMs: 5000,
    },
  )
  assert.equal(response.status, 200)
  assert.equal(text, 'y'.repeat(10))
})

it('textWithin stops reading when its signal aborts', { timeout: 20_000 }, async () => {
  const controller = new AbortController()
  const response = await fetch(`${base}/trickle`)
  setTimeout(() => controller.abort(new Error('enough')), 200)
  await assert.rejects(textWithin(response, 10_000, controller.signal), /enough/)
})
