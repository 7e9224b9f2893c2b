/**
 * cli/start-memory: V8 settings change a whole process, so each case runs in a child of its
 * own. Each compares with the same work done without `leanStart` in the same kind of child, so
 * the work shown to be held back is work that does grow memory otherwise.
 *
 * - The young generation does not grow while held (a burst of allocations with many objects
 *   alive, as module loading makes), grows again after `releaseYoungGeneration`, and is left to
 *   V8 when the node flags name the semi-space.
 * - undici's HTTP parser (WebAssembly) is not optimized: V8's compiler memory peaks at tens of MB
 *   for it otherwise, within the first requests to a real server.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'

const START_MEMORY = new URL('../../src/cli/start-memory.js', import.meta.url).href
const UNDICI = new URL('../../src/util/undici.js', import.meta.url).href

/** Runs an ES module script in a child; its last stdout line is JSON. */
function child(script: string): Record<string, number> {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
  })
  assert.equal(run.status, 0, run.stderr)
  return JSON.parse(run.stdout.trim().split('\n').at(-1) as string) as Record<string, number>
}

const MB = 1024 * 1024

/** Allocates as module loading does: many small objects, a large share still alive. */
const BURST = `
  const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size
  function burst() {
    let alive = []
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 200000; i++) {
        alive.push({ i, list: [i] })
        if (alive.length > 50000) alive = []
      }
    }
  }
`

function youngGeneration(lean: string): { held: number; released: number } {
  const result = child(`
    import v8 from 'node:v8'
    const { leanStart, releaseYoungGeneration } = await import(${JSON.stringify(START_MEMORY)})
    ${BURST}
    ${lean}
    burst()
    const held = newSpace()
    releaseYoungGeneration()
    burst()
    console.log(JSON.stringify({ held, released: newSpace() }))
  `)
  return { held: result.held as number, released: result.released as number }
}

describe('start-memory', () => {
  it('holds the young generation at its start size until released', () => {
    const plain = youngGeneration('')
    const lean = youngGeneration("leanStart('')")
    assert.ok(plain.held >= 8 * MB, `the burst grows it when nothing holds it (${plain.held})`)
    assert.ok(lean.held <= 2 * MB, `held: ${lean.held} bytes`)
    assert.ok(lean.released >= 8 * MB, `released, it grows again (${lean.released})`)
  })

  it('leaves the young generation alone when the node flags size it', () => {
    const tuned = youngGeneration("leanStart('--max-semi-space-size=32')")
    assert.ok(tuned.held >= 8 * MB, `not held: ${tuned.held}`)
  })

  it("compiles undici's HTTP parser without the optimizing compiler's memory", () => {
    const peakOf = (lean: string) =>
      child(`
        import v8 from 'node:v8'
        import { createServer } from 'node:http'
        const { leanStart } = await import(${JSON.stringify(START_MEMORY)})
        ${lean}
        const { Pool, post } = await import(${JSON.stringify(UNDICI)})
        const server = createServer((req, res) => { req.resume(); req.on('end', () => res.end('ok')) })
        await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
        const pool = new Pool('http://127.0.0.1:' + server.address().port)
        for (let i = 0; i < 200; i++) {
          await post(pool, { path: '/', headers: {}, body: Buffer.from('x'), timeoutMs: 5000 })
        }
        await new Promise((resolve) => setTimeout(resolve, 300))
        console.log(JSON.stringify({ peak: v8.getHeapStatistics().peak_malloced_memory }))
        await pool.destroy()
        server.close()
      `).peak as number
    const plain = peakOf('')
    const lean = peakOf("leanStart('')")
    assert.ok(plain >= 16 * MB, `optimizing the parser takes compiler memory (${plain})`)
    assert.ok(lean <= 8 * MB, `baseline only: ${lean}`)
  })
})
