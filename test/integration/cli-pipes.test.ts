/**
 * A command that serves keeps serving when the reader of its output goes away (a log
 * collector restarting, `portico run 2>&1 | head`): the lines are lost, the process goes on.
 * Before, `portico run` died of the EPIPE of its next log line on stderr, and `portico relay`
 * exited 0 at its next access-log line on stdout (the reports' rule: `portico logs | head`).
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { CLI, cliEnv, startCli } from '../helpers/cli.ts'
import { type Spawned, spawnReady } from '../helpers/processes.ts'

const running: Spawned[] = []
after(async () => {
  for (const spawned of running) await spawned.stop()
})

/** The reader of the child's output goes away: its end of both pipes is closed. */
function dropReaders(spawned: Spawned): void {
  spawned.child.stdout?.destroy()
  spawned.child.stderr?.destroy()
}

describe('a serving command whose output has no reader any more', () => {
  it('portico run logs on into nothing and keeps serving', async () => {
    const portico = await startCli(
      ['run', '--upstream', 'http://127.0.0.1:9/mcp', '--port', '0', '--log-level', 'info'],
      {},
    )
    running.push(portico)
    dropReaders(portico)
    const origin = new URL(portico.url).origin
    // Each is logged (a refused body, at warn): the write that finds no reader.
    for (const _ of [1, 2, 3]) {
      const refused = await fetch(portico.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: '{not json',
      })
      assert.equal(refused.status, 400)
      await refused.text()
      await sleep(50)
    }
    const health = await fetch(`${origin}/healthz`)
    assert.equal(health.status, 200)
    await health.text()
    assert.equal(portico.child.exitCode, null, 'still running')
  })

  it('portico relay writes its access log into nothing and keeps serving', async () => {
    const ready = /relay listening on (http:\/\/\S+)/
    const relay = await spawnReady(
      process.execPath,
      [CLI, 'relay', '--domain', 'relay.test', '--port', '0'],
      { env: cliEnv(), ready },
    )
    running.push(relay)
    const url = ready.exec(relay.output())?.[1] as string
    dropReaders(relay)
    for (const _ of [1, 2, 3]) {
      // No tunnel by that name: 404, and an access-log line.
      const answer = await fetch(`${url}/`, { headers: { host: 'nobody.relay.test' } })
      assert.equal(answer.status, 404)
      await answer.text()
      await sleep(50)
    }
    assert.equal(relay.child.exitCode, null, 'still running')
  })
})
