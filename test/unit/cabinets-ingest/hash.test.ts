import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashFile } from '../../../src/cabinets/ingest/hash.js'

describe('hashFile', () => {
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'plexus-ingest-hash-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('gives the hex sha256 of the content, which changes with the content', async () => {
    // Prepare
    const path = join(dir, 'doc.txt')
    writeFileSync(path, 'version one')

    // Execute
    const before = await hashFile(path)
    writeFileSync(path, 'version two')
    const after = await hashFile(path)

    // Assert
    assert.equal(before, createHash('sha256').update('version one').digest('hex'))
    assert.equal(after, createHash('sha256').update('version two').digest('hex'))
    assert.notEqual(before, after)
  })
})
