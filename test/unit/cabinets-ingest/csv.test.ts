import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseFile } from '../../../src/cabinets/ingest/index.js'
import { sniffDelimiter } from '../../../src/cabinets/ingest/csv.js'
import { isIngestError } from '../../../src/cabinets/ingest/ingest-error.js'

describe('parseFile: CSV', () => {
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'plexus-ingest-csv-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('renders each row as "column: value" lines, with quoted commas and empty cells', async () => {
    // Prepare
    const path = join(dir, 'people.csv')
    writeFileSync(path, 'name,comment,age\r\nAda,"likes commas, and ""quotes""",36\r\nBob,,40\r\n\r\n')

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.equal(doc.title, 'people.csv')
    assert.equal(doc.mime, 'text/csv')
    assert.deepEqual(doc.sections, [{
      heading: null,
      text: 'name: Ada\ncomment: likes commas, and "quotes"\nage: 36\n\nname: Bob\nage: 40'
    }])
  })

  it('sniffs a semicolon delimiter and names unnamed or extra columns', async () => {
    // Prepare
    const path = join(dir, 'prices.csv')
    writeFileSync(path, 'item;;price\nbread;fresh;2,50;extra\n')

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.deepEqual(doc.sections, [{ heading: null, text: 'item: bread\ncolumn 2: fresh\nprice: 2,50\ncolumn 4: extra' }])
  })

  it('reads .tsv with tabs', async () => {
    // Prepare
    const path = join(dir, 'table.tsv')
    writeFileSync(path, 'a\tb\n1, 2\t3\n')

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.equal(doc.mime, 'text/tab-separated-values')
    assert.deepEqual(doc.sections, [{ heading: null, text: 'a: 1, 2\nb: 3' }])
  })

  it('refuses an unclosed quote as corrupt', async () => {
    // Prepare
    const path = join(dir, 'broken.csv')
    writeFileSync(path, 'a,b\n"never closed,1\n')

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'corrupt') && /could not be read as CSV/.test(err.message))
  })

  it('sniffDelimiter ignores delimiters inside quotes', () => {
    // Prepare
    const header = '"a;b;c;d",e,f\n1;2;3;4;5;6'

    // Execute
    const delimiter = sniffDelimiter(header)

    // Assert
    assert.equal(delimiter, ',')
  })
})
