import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bigIdLiteral } from '../../src/jsonrpc/message.ts'
import { encodeSseEvent, SseParser } from '../../src/protocol/sse.ts'
import { seeded } from '../helpers/random.ts'

/**
 * An event's text with a blank line's closing LF after a CR, and a LF before its first line,
 * left out: cut right after a blank line's CR, the event goes at once and that LF (`\r\r\n`)
 * begins the next one's text; read whole, it ends this one's. The bytes are the same.
 */
const sameEnd = (raw: string) => raw.replace(/^\n/, '').replace(/\r\n$/, '\r')

describe('SseParser', () => {
  it('reads an empty event type as the default one (message)', () => {
    const [event] = new SseParser().push('event:\ndata: {"a":1}\n\n')
    assert.equal(event?.event, undefined)
    assert.equal(event?.data, '{"a":1}')
  })

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
      // Cut after the last blank line's CR, its LF is all that is left: an empty block at the end.
      const rest = parser.end()
      assert.equal(events.map((e) => e.raw).join('') + rest.map((e) => e.raw).join(''), text)
      assert.deepEqual(
        events.map((e) => [e.data, e.comment]),
        [
          ['{"jsonrpc":"2.0"}', false],
          ['', true],
          ['a\nb', false],
        ],
        `cut at ${cut}`,
      )
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
      events.push(...parser.end())
      assert.deepEqual(
        events.filter((e) => e.raw !== '\n').map((e) => [sameEnd(e.raw), e.data, e.comment]),
        whole.map((e) => [sameEnd(e.raw), e.data, e.comment]),
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
    assert.equal(parser.held, 10)
    assert.deepEqual(parser.end(), [])
    assert.equal(parser.held, 0)
  })

  it('gives out an event ended by a CR pair at once, and reads a LF after it as an empty line', () => {
    // Before: the second CR was held until a LF could follow it, so an upstream that waited
    // after `\r\r` held its answer back (to the call's timeout) and a GET stream's headers too.
    for (const chunks of [['data: a\r\r'], ['data: a\r', '\r'], ['data: x\r\n\r\ndata: a\r\r']]) {
      const parser = new SseParser()
      const events = chunks.flatMap((chunk) => parser.push(chunk))
      assert.deepEqual(events.map((event) => event.data).slice(-1), ['a'], JSON.stringify(chunks))
      assert.equal(parser.held, 0, JSON.stringify(chunks))
      // The LF of a `\r\r\n` that came later starts the next block: no event of its own.
      const next = parser.push('\ndata: b\n\n')
      assert.deepEqual(
        next.map((event) => [event.data, event.comment]),
        [['b', false]],
        JSON.stringify(chunks),
      )
      assert.deepEqual(parser.end(), [])
    }
    // A blank line's CR after a LF, and after a CRLF, ends the event too.
    assert.deepEqual(
      new SseParser().push('data: c\n\r').map((event) => event.data),
      ['c'],
    )
    assert.deepEqual(
      new SseParser().push('data: d\r\n\r').map((event) => event.data),
      ['d'],
    )
    // A single CR ends a line, not the event: still dropped at the end.
    const parser = new SseParser()
    assert.deepEqual(parser.push('data: a\r'), [])
    assert.deepEqual(parser.end(), [])
  })

  it('drops a byte order mark before the first field, and only there', () => {
    for (const chunks of [
      ['\uFEFFdata: a\n\n'],
      ['', '\uFEFF', 'data: a\n\n'],
      ['\uFEFFda', 'ta: a\n\n'],
    ]) {
      const parser = new SseParser()
      const events = chunks.flatMap((chunk) => parser.push(chunk))
      assert.deepEqual(
        events.map((event) => [event.data, event.raw]),
        [['a', 'data: a\n\n']],
        JSON.stringify(chunks),
      )
    }
    const parser = new SseParser()
    const [first, second] = parser.push('data: a\n\n\uFEFFdata: b\n\n')
    assert.equal(first?.data, 'a')
    assert.equal(second?.data, '', 'a later mark is part of a field name: no data field')
  })
})

describe('SseParser with discardOversized: an event over the bound read past, not kept', () => {
  /** A JSON-RPC message as data lines, its members in a random order, some of them long. */
  function message(random: (n: number) => number, index: number) {
    const members: Array<[string, unknown]> = [['jsonrpc', '2.0']]
    const id = random(3) === 0 ? `r-${index}` : index
    if (random(5) !== 0) members.push(['id', id])
    if (random(4) === 0) members.push(['method', 'sampling/createMessage'])
    const text = `"id":${index},"x\\":"} ${'y'.repeat(random(120))}`
    members.push([random(2) === 0 ? 'result' : 'params', { id: -1, text, list: [{ id: 'no' }] }])
    for (let i = members.length - 1; i > 0; i--) {
      const j = random(i + 1)
      ;[members[i], members[j]] = [members[j] as [string, unknown], members[i] as [string, unknown]]
    }
    // One member per data line, or all on one: data lines are joined by \n, JSON whitespace.
    const joiner = random(2) === 0 ? ',' : ',\ndata: '
    return `{${members.map(([name, value]) => `${JSON.stringify(name)}:${JSON.stringify(value)}`).join(joiner)}}`
  }

  it('gives each event over the bound as its id, method and name, and the others as they came, however the stream is cut', () => {
    const random = seeded(11).next
    const ends = ['\n', '\r', '\r\n']
    // A line's end and a blank line (a CR then a LF would be one line end).
    const blanks = ['\n\n', '\r\r', '\r\n\r\n', '\n\r\n', '\r\n\n', '\n\r', '\r\n\r']
    const bound = 120
    let discardedSeen = 0
    for (let round = 0; round < 300; round++) {
      let text = ''
      for (let e = 0; e < 1 + random(5); e++) {
        if (random(6) === 0) text += `: ping${ends[random(3)]}`
        // An empty type is `message` too, for the parser and for an event over the bound.
        if (random(3) === 0)
          text += `event: ${['other', 'message', 'message', ''][random(4)]}${ends[random(3)]}`
        text += `data: ${message(random, e)}`.replace(/\n/g, ends[random(3)] as string)
        text += blanks[random(blanks.length)] as string
      }
      text += 'data: last\n\n'
      const expected = new SseParser(Number.MAX_SAFE_INTEGER).push(text).map((event) => {
        if (event.raw.length <= bound) return [sameEnd(event.raw), event.data, event.comment]
        const parsed = JSON.parse(event.data) as { id?: unknown; method?: unknown }
        return [{ event: event.event, id: parsed.id, hasMethod: parsed.method !== undefined }]
      })
      const parser = new SseParser(bound, { discardOversized: true })
      const events = []
      for (let at = 0; at < text.length; ) {
        const size = 1 + random(random(2) === 0 ? 8 : 300)
        events.push(...parser.push(text.slice(at, at + size)))
        at += size
      }
      const got = events.map((event) => {
        if (event.discarded === undefined) return [sameEnd(event.raw), event.data, event.comment]
        discardedSeen++
        assert.ok(event.discarded.size >= bound, String(event.discarded.size))
        const { event: name, id, hasMethod } = event.discarded
        return [{ event: name, id, hasMethod }]
      })
      assert.deepEqual(got, expected, JSON.stringify(text))
    }
    assert.ok(discardedSeen > 100, `only ${discardedSeen} events went over the bound`)
  })

  it('holds no more than the bound of an event, however long it goes on', () => {
    const parser = new SseParser(1000, { discardOversized: true })
    const piece = 'x'.repeat(10_000)
    assert.deepEqual(parser.push('data: {"result":"'), [])
    for (let i = 0; i < 1000; i++) assert.deepEqual(parser.push(piece), [])
    // It holds nothing of the event it is reading past.
    assert.equal(parser.held, 0)
    const [discarded, next] = parser.push('","id":42}\n\ndata: after\n\n')
    assert.equal(discarded?.discarded?.id, 42)
    assert.equal(discarded?.discarded?.size, 10_000_000 + 29)
    assert.equal(next?.data, 'after')
    assert.equal(parser.held, 0)
  })

  it('reads no id longer than 1 KB, nor one that is not a string or a number', () => {
    for (const [data, id] of [
      [`{"id":"${'i'.repeat(2000)}","result":"${'x'.repeat(200)}"}`, undefined],
      [`{"id":null,"error":{"code":1,"message":"${'x'.repeat(200)}"}}`, undefined],
      [`{"id":{"a":1},"result":"${'x'.repeat(200)}"}`, undefined],
      [`["${'x'.repeat(200)}",{"id":1}]`, undefined],
      [`{"result":"${'x'.repeat(200)}","id":12345678901234567890}`, '12345678901234567890'],
    ] as const) {
      const [event] = new SseParser(100, { discardOversized: true }).push(`data: ${data}\n\n`)
      const got = event?.discarded?.id
      assert.equal(typeof got === 'string' ? (bigIdLiteral(got) ?? got) : got, id, data)
    }
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
