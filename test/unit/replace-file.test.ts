/**
 * replaceFile: one step, mode kept, and through a link: the file a link leads to is replaced
 * and the link stays (a release layout, `portico.toml -> releases/v2/portico.toml`).
 */
import assert from 'node:assert/strict'
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, it } from 'node:test'
import { replaceFile } from '../../src/util/replace-file.ts'

const dir = mkdtempSync(join(tmpdir(), 'portico-replace-'))
after(() => rmSync(dir, { recursive: true, force: true }))

it('replaces a plain file, keeping its mode; a new file is 0600', async () => {
  const file = join(dir, 'plain.toml')
  writeFileSync(file, 'old')
  chmodSync(file, 0o640)
  await replaceFile(file, 'new')
  assert.equal(readFileSync(file, 'utf8'), 'new')
  assert.equal(statSync(file).mode & 0o777, 0o640)
  const fresh = join(dir, 'fresh.toml')
  await replaceFile(fresh, 'text')
  assert.equal(statSync(fresh).mode & 0o777, 0o600)
})

it('writes through a link: the target is replaced, the link stays a link', async () => {
  const releases = join(dir, 'releases')
  mkdirSync(releases)
  const target = join(releases, 'portico.toml')
  writeFileSync(target, 'release one')
  const link = join(dir, 'portico.toml')
  symlinkSync(target, link)
  await replaceFile(link, 'edited')
  assert.equal(lstatSync(link).isSymbolicLink(), true, 'the link became a plain file')
  assert.equal(readFileSync(target, 'utf8'), 'edited')
  assert.deepEqual(
    readdirSync(releases).filter((name) => name.endsWith('.portico-new')),
    [],
  )
})
