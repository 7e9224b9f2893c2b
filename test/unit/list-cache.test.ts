/** The gateway's list page cache: lifetimes by announced capability, invalidation, races. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ListCache, UNANNOUNCED_TTL_MS } from '../../src/gateway/list-cache.ts'

const ANNOUNCES = { tools: { listChanged: true }, prompts: { listChanged: true } }
const page = (name: string) => ({ tools: [{ name }] })

describe('ListCache', () => {
  it('keeps a page for the ttl when the backend announces changes, 5 s at most otherwise', () => {
    const cache = new ListCache(60_000)
    const announced = ListCache.key('tools/list', undefined, '')
    const silent = ListCache.key('tools/list', 'c1', '')
    cache.set(announced, 'tools/list', page('a'), cache.generation, ANNOUNCES, 0, 100)
    cache.set(silent, 'tools/list', page('b'), cache.generation, {}, 0, 100)
    assert.deepEqual(cache.get(announced, UNANNOUNCED_TTL_MS + 1), page('a'))
    assert.equal(cache.get(silent, UNANNOUNCED_TTL_MS - 1)?.tools !== undefined, true)
    assert.equal(cache.get(silent, UNANNOUNCED_TTL_MS + 1), undefined)
    assert.equal(cache.get(announced, 60_001), undefined)
  })

  it('keeps nothing with a ttl of 0, and nothing fetched across an invalidation', () => {
    const off = new ListCache(0)
    const key = ListCache.key('tools/list', undefined, '')
    off.set(key, 'tools/list', page('a'), off.generation, ANNOUNCES, 0, 100)
    assert.equal(off.get(key, 1), undefined)
    const cache = new ListCache(60_000)
    const before = cache.generation
    cache.changed('notifications/tools/list_changed')
    cache.set(key, 'tools/list', page('stale'), before, ANNOUNCES, 0, 100)
    assert.equal(cache.get(key, 1), undefined)
  })

  it('drops only the lists a notification names; a restart drops all', () => {
    const cache = new ListCache(60_000)
    const tools = ListCache.key('tools/list', undefined, 'alice')
    const prompts = ListCache.key('prompts/list', undefined, 'alice')
    cache.set(tools, 'tools/list', page('t'), cache.generation, ANNOUNCES, 0, 100)
    cache.set(prompts, 'prompts/list', { prompts: [] }, cache.generation, ANNOUNCES, 0, 100)
    cache.changed('notifications/tools/list_changed')
    assert.equal(cache.get(tools, 1), undefined)
    assert.deepEqual(cache.get(prompts, 1), { prompts: [] })
    cache.clear()
    assert.equal(cache.get(prompts, 1), undefined)
  })

  it('keeps callers apart', () => {
    const cache = new ListCache(60_000)
    const alice = ListCache.key('tools/list', undefined, 'alice')
    const bob = ListCache.key('tools/list', undefined, 'bob')
    cache.set(alice, 'tools/list', page('a'), cache.generation, ANNOUNCES, 0, 100)
    assert.equal(cache.get(bob, 1), undefined)
  })

  it('keeps a long cursor as its digest, and the pages within a byte budget', () => {
    const cache = new ListCache(60_000)
    const long = ListCache.key('tools/list', 'x'.repeat(3_000_000), '')
    assert.ok(long.length < 200, `a key of ${long.length} characters`)
    assert.notEqual(long, ListCache.key('tools/list', `${'x'.repeat(2_999_999)}y`, ''))
    // A page over a quarter of the budget (16 MiB) is served, not kept.
    const huge = ListCache.key('tools/list', 'huge', '')
    cache.set(huge, 'tools/list', page('h'), cache.generation, ANNOUNCES, 0, 5 * 1024 * 1024)
    assert.equal(cache.get(huge, 1), undefined)
    // 1,000 distinct cursors of 1 MiB pages: the oldest make room, the total stays in budget.
    for (let i = 0; i < 1000; i++) {
      const key = ListCache.key('tools/list', `c${i}`, '')
      cache.set(key, 'tools/list', page(`p${i}`), cache.generation, ANNOUNCES, 0, 1024 * 1024)
      assert.ok(cache.bytes <= 16 * 1024 * 1024, `${cache.bytes} bytes kept`)
    }
    assert.deepEqual(cache.get(ListCache.key('tools/list', 'c999', ''), 1), page('p999'))
    assert.equal(cache.get(ListCache.key('tools/list', 'c0', ''), 1), undefined)
    cache.changed('notifications/tools/list_changed')
    assert.equal(cache.bytes, 0)
  })

  it("keeps the pages of one session's own process apart from another's", () => {
    const cache = new ListCache(60_000)
    const mine = ListCache.key('tools/list', undefined, '', 'session-a')
    cache.set(mine, 'tools/list', page('a'), cache.generation, ANNOUNCES, 0, 100)
    assert.equal(cache.get(ListCache.key('tools/list', undefined, '', 'session-b'), 1), undefined)
    assert.deepEqual(cache.get(mine, 1), page('a'))
  })
})
