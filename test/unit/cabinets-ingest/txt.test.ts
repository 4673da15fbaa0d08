import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseFile } from '../../../src/cabinets/ingest/index.js'
import { isIngestError } from '../../../src/cabinets/ingest/ingest-error.js'

describe('parseFile: plain text', () => {
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'plexus-ingest-txt-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('gives one untitled section of normalised text, titled by the file name', async () => {
    // Prepare
    const path = join(dir, 'notes.txt')
    writeFileSync(path, '\uFEFF  First\tline  \r\nsecond\u0007 line\r\n\r\n\r\n\r\nNew   paragraph.\n')

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.deepEqual(doc, { title: 'notes.txt', mime: 'text/plain', sections: [{ heading: null, text: 'First line\nsecond line\n\nNew paragraph.' }] })
  })

  it('decodes UTF-16 with a byte-order mark', async () => {
    // Prepare
    const path = join(dir, 'utf16.txt')
    writeFileSync(path, Buffer.concat([Buffer.from([0xFF, 0xFE]), Buffer.from('Grüße 你好', 'utf16le')]))

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.deepEqual(doc.sections, [{ heading: null, text: 'Grüße 你好' }])
  })

  it('refuses binary data under a text extension as corrupt', async () => {
    // Prepare
    const path = join(dir, 'binary.txt')
    writeFileSync(path, Buffer.from([0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x00, 0x00, 0x00]))

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'corrupt') && /binary data/.test(err.message))
  })
})
