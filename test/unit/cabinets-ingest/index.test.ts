import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isSupportedFile, parseFile, SUPPORTED_EXTENSIONS } from '../../../src/cabinets/ingest/index.js'
import { isIngestError } from '../../../src/cabinets/ingest/ingest-error.js'

describe('parseFile: dispatch and limits', () => {
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'plexus-ingest-index-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('refuses an unknown extension as unsupported, naming the supported ones', async () => {
    // Prepare
    const path = join(dir, 'setup.exe')
    writeFileSync(path, Buffer.from('MZ\x90\x00'))

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'unsupported') && err.message.includes("'.exe'") && err.message.includes('.pdf'))
  })

  it('gives an empty file of any supported type no sections', async () => {
    // Prepare
    const names = ['empty.txt', 'empty.md', 'empty.html', 'empty.pdf', 'empty.docx', 'empty.csv', 'empty.json']
    for (const name of names) writeFileSync(join(dir, name), '')

    // Execute
    const docs = await Promise.all(names.map(async name => await parseFile(join(dir, name))))

    // Assert
    assert.deepEqual(docs.map(d => [d.title, d.sections]), names.map(name => [name, []]))
  })

  it('matches extensions case-insensitively', async () => {
    // Prepare
    const path = join(dir, 'SHOUT.TXT')
    writeFileSync(path, 'loud')

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.equal(doc.mime, 'text/plain')
    assert.equal(isSupportedFile('A.PDF'), true)
    assert.equal(isSupportedFile('a.exe'), false)
    assert.equal(isSupportedFile('Makefile'), false)
  })

  it('refuses a file over maxBytes as too large', async () => {
    // Prepare
    const path = join(dir, 'big.txt')
    writeFileSync(path, 'x'.repeat(101))

    // Execute
    const result = parseFile(path, { maxBytes: 100 })

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'too_large') && err.message.includes('100 bytes'))
  })

  it('accepts a file of exactly maxBytes', async () => {
    // Prepare
    const path = join(dir, 'exact.txt')
    writeFileSync(path, 'y'.repeat(100))

    // Execute
    const doc = await parseFile(path, { maxBytes: 100 })

    // Assert
    assert.equal(doc.sections[0]?.text.length, 100)
  })

  it('refuses a directory named like a document as unsupported', async () => {
    // Prepare
    const path = join(dir, 'folder.md')
    mkdirSync(path)

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'unsupported') && /not a regular file/.test(err.message))
  })

  it('passes file-system errors through', async () => {
    // Prepare
    const path = join(dir, 'missing.txt')

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, { code: 'ENOENT' })
  })

  it('throws the abort reason when the signal is aborted', async () => {
    // Prepare
    const path = join(dir, 'abort.txt')
    writeFileSync(path, 'text')
    const signal = AbortSignal.abort()

    // Execute
    const result = parseFile(path, { signal })

    // Assert
    await assert.rejects(result, { name: 'AbortError' })
  })

  it('lists the supported extensions, sorted', () => {
    // Prepare
    const expected = ['.csv', '.docx', '.htm', '.html', '.json', '.markdown', '.md', '.pdf', '.tsv', '.txt']

    // Execute
    const actual = [...SUPPORTED_EXTENSIONS]

    // Assert
    assert.deepEqual(actual, expected)
  })
})
