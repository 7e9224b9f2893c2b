/** URLs as Portico shows them: credentials and secret-looking query values replaced, readably. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { redactUrl } from '../../src/util/redact.ts'

describe('redactUrl', () => {
  it('replaces user-info with a readable [redacted], not its percent-encoding', () => {
    assert.equal(
      redactUrl('redis://default:hunter2@cache.internal:6379/0'),
      'redis://[redacted]@cache.internal:6379/0',
    )
  })

  it('replaces secret-looking query values and keeps the others', () => {
    assert.equal(
      redactUrl('https://api.example.com/mcp?api_key=abc123&region=eu'),
      'https://api.example.com/mcp?api_key=[redacted]&region=eu',
    )
  })

  it('takes jwt, bearer, pwd and sid for the secrets they are', () => {
    assert.equal(
      redactUrl('https://h.example/mcp?jwt=eyJ.a.b&bearer=t1&pwd=p1&sid=s1&side=left'),
      'https://h.example/mcp?jwt=[redacted]&bearer=[redacted]&pwd=[redacted]&sid=[redacted]&side=left',
    )
  })

  it('leaves a URL without secrets as it is, and redacts what does not parse', () => {
    assert.equal(redactUrl('http://127.0.0.1:9000/mcp'), 'http://127.0.0.1:9000/mcp')
    assert.equal(redactUrl('not a url'), '[redacted]')
  })
})
