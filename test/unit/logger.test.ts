/**
 * Portico's own log lines carry text others chose: a backend's stderr line by line (which may
 * echo a client's arguments), names and error messages from servers. In text form each is one
 * line, whatever it holds: no control character reaches the operator's terminal.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Logger } from '../../src/observe/logger.ts'

describe('logger text lines', () => {
  it('show control characters in messages and fields as \\xNN: one line, no escape sequence', () => {
    const written: string[] = []
    const logger = new Logger({ level: 'info', write: (line) => written.push(line) })
    // What pipeStderr logs for a backend that printed this line (a CR redraws the line).
    logger.info('[files] done\r12:00:00.000 error forged\u001b[2J\u001b[1A\u0007', {
      backend: 'files',
      detail: 'a\nb\u009b31m',
    })
    assert.equal(written.length, 1)
    const line = written[0] ?? ''
    assert.ok(line.endsWith('\n'))
    assert.doesNotMatch(line.slice(0, -1), /\p{Cc}/u, JSON.stringify(line))
    assert.match(
      line,
      / info {2}\[files\] done\\x0D12:00:00\.000 error forged\\x1B\[2J\\x1B\[1A\\x07 backend=files detail=a\\x0Ab\\x9B31m\n$/,
    )
  })

  it('leaves JSON lines to JSON escaping, still one line', () => {
    const written: string[] = []
    const logger = new Logger({ level: 'info', json: true, write: (line) => written.push(line) })
    logger.info('a\nb\u001b', { field: 'c\rd' })
    assert.equal(written.length, 1)
    const record = JSON.parse(written[0] ?? '{}') as Record<string, unknown>
    assert.equal(record.msg, 'a\nb\u001b')
    assert.equal(record.field, 'c\rd')
  })
})
