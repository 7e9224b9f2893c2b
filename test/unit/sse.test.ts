import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encodeSseEvent, SseParser } from '../../src/protocol/sse.ts'
import { seeded } from '../helpers/random.ts'

describe('SseParser', () => {
  it('splits events and keeps their exact bytes', () => {
    const parser = new SseParser()
    const events = parser.push('event: message\nid: 7\ndata: {"a":1}\n\ndata: x\n\n')
    assert.equal(events.length, 2)
    assert.equal(events[0]?.raw, 'event: message\nid: 7\ndata: {"a":1}\n\n')
    assert.equal(events[0]?.data, '{"a":1}')
    assert.equal(events[0]?.id, '7')
    assert.equal(events[0]?.event, 'message')
    assert.equal(events[1]?.data, 'x')
  })

  it('assembles events split across chunks at any byte, CRLF included', () => {
    const text =
      'event: message\r\ndata: {"jsonrpc":"2.0"}\r\n\r\n: keep-alive\r\n\r\ndata: a\r\ndata: b\r\n\r\n'
    for (let cut = 1; cut < text.length; cut++) {
      const parser = new SseParser()
      const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))]
      assert.deepEqual(
        events.map((e) => [e.data, e.comment]),
        [
          ['{"jsonrpc":"2.0"}', false],
          ['', true],
          ['a\nb', false],
        ],
        `cut at ${cut}`,
      )
      assert.equal(events.map((e) => e.raw).join(''), text)
    }
  })

  it('assembles events fed one character at a time, and a large event fed in many chunks', () => {
    const text = 'data: a\n\nevent: message\r\ndata: {"x":1}\r\n\r\n: ping\r\r' + 'data: c\r\n\n'
    const parser = new SseParser()
    const events = [...text].flatMap((char) => parser.push(char))
    assert.deepEqual(
      events.map((e) => e.data),
      ['a', '{"x":1}', '', 'c'],
    )
    assert.equal(events.map((e) => e.raw).join(''), text)
    // One event arriving in 1,000 chunks (kept apart until its end is seen) comes out whole.
    const big = `data: ${'y'.repeat(100_000)}\n\n`
    const chunked = new SseParser()
    const out = []
    for (let at = 0; at < big.length; at += 100) out.push(...chunked.push(big.slice(at, at + 100)))
    assert.equal(out.length, 1)
    assert.equal(out[0]?.raw, big)
    assert.equal(out[0]?.data.length, 100_000)
  })

  it('finds the same events however a stream of mixed line ends is cut into three or more chunks', () => {
    // Every kind of line end and blank line, next to each other, so that cuts fall inside
    // CRLF pairs and between the two halves of a blank line; a seeded generator keeps it
    // reproducible.
    const random = seeded(7).next
    const ends = ['\n', '\r', '\r\n']
    for (let round = 0; round < 300; round++) {
      let text = ''
      for (let e = 0; e < 1 + random(4); e++) {
        text += random(5) === 0 ? ': ping' : `data: ${'v'.repeat(random(8))}${e}`
        for (let line = 0; line < random(3); line++) text += `${ends[random(3)]}data: m${line}`
        text += (ends[random(3)] as string) + (ends[random(3)] as string)
      }
      const whole = new SseParser().push(text)
      const parser = new SseParser()
      const events = []
      for (let at = 0; at < text.length; ) {
        const size = 1 + random(6)
        events.push(...parser.push(text.slice(at, at + size)))
        at += size
      }
      const label = JSON.stringify(text)
      assert.deepEqual(
        events.map((e) => [e.raw, e.data, e.comment]),
        whole.map((e) => [e.raw, e.data, e.comment]),
        label,
      )
    }
  })

  it('recognises priming events (id, empty data) and retry', () => {
    const [event] = new SseParser().push('id: 1\nretry: 5000\ndata:\n\n')
    assert.equal(event?.data, '')
    assert.equal(event?.retry, 5000)
    assert.equal(event?.comment, false)
  })

  it('refuses an event larger than the bound', () => {
    const parser = new SseParser(10)
    assert.throws(() => parser.push('data: 0123456789abcdef'), /larger than 10 bytes/)
  })

  it('drops an unterminated trailing block at end', () => {
    const parser = new SseParser()
    assert.deepEqual(parser.push('data: half'), [])
    assert.equal(parser.end(), 'data: half')
  })
})

describe('SseParser.takeAhead: a large event passed on while it arrives', () => {
  it('hands out nothing of a small event, then the text of a large one as it comes, and says how much went ahead', () => {
    const parser = new SseParser()
    const big = `event: message\ndata: {"jsonrpc":"2.0","id":1,"result":"${'x'.repeat(300)}"}\n\n`
    const small = 'data: {"jsonrpc":"2.0","method":"ping"}\n\n'
    // A small event split across reads is never handed out ahead.
    assert.deepEqual(parser.push(small.slice(0, 10)), [])
    assert.equal(parser.takeAhead(100), undefined)
    const [first] = parser.push(`${small.slice(10)}${big.slice(0, 50)}`)
    assert.equal(first?.raw, small)
    assert.equal(first?.ahead, undefined)
    assert.equal(parser.takeAhead(100), undefined, 'the next event holds 50 characters so far')
    assert.deepEqual(parser.push(big.slice(50, 150)), [])
    const sent = [parser.takeAhead(100)]
    assert.equal(sent[0], big.slice(0, 150))
    assert.equal(parser.takeAhead(100), undefined, 'nothing new since')
    assert.deepEqual(parser.push(big.slice(150, 200)), [])
    sent.push(parser.takeAhead(100))
    assert.equal(sent[1], big.slice(150, 200))
    // The end arrives with the start of another event: the event comes whole, saying how much
    // of it went ahead; the next one starts afresh.
    const [done] = parser.push(`${big.slice(200)}${small.slice(0, 5)}`)
    assert.equal(done?.raw, big)
    assert.equal(done?.data, big.slice('event: message\ndata: '.length, -2))
    assert.equal(done?.ahead, 200)
    assert.equal(sent.join('') + done?.raw.slice(done.ahead), big)
    assert.equal(parser.takeAhead(100), undefined)
    assert.equal(parser.push(small.slice(5))[0]?.ahead, undefined)
  })
})

describe('encodeSseEvent', () => {
  it('writes multi-line data as several data lines', () => {
    assert.equal(encodeSseEvent('a\nb', { id: '3' }), 'id: 3\nevent: message\ndata: a\ndata: b\n\n')
  })
})
