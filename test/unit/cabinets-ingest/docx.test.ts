import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import JSZip from 'jszip'
import { parseFile } from '../../../src/cabinets/ingest/index.js'
import { isIngestError } from '../../../src/cabinets/ingest/ingest-error.js'

const CONTENT_TYPES = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
  <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
  <Default Extension="xml" ContentType="application/xml"/>
  <Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
</Types>`

const ROOT_RELS = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
  <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>
</Relationships>`

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** A Word paragraph, with a paragraph style id (Heading1, Heading2) or none for body text. */
function paragraph (text: string, style?: string): string {
  const props = style === undefined ? '' : `<w:pPr><w:pStyle w:val="${style}"/></w:pPr>`
  return `<w:p>${props}<w:r><w:t xml:space="preserve">${escapeXml(text)}</w:t></w:r></w:p>`
}

function documentXml (paragraphs: string[]): string {
  return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${paragraphs.join('')}</w:body></w:document>`
}

/** A minimal .docx: content types, package relationships and the main document part. */
async function buildDocx (paragraphs: string[], options: { omitDocument?: boolean } = {}): Promise<Buffer> {
  const zip = new JSZip()
  zip.file('[Content_Types].xml', CONTENT_TYPES)
  zip.file('_rels/.rels', ROOT_RELS)
  if (options.omitDocument !== true) zip.file('word/document.xml', documentXml(paragraphs))
  return await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' })
}

describe('parseFile: .docx', () => {
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'plexus-ingest-docx-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('takes the title from the first heading and splits sections at headings', async () => {
    // Prepare
    const path = join(dir, 'report.docx')
    writeFileSync(path, await buildDocx([
      paragraph('Quarterly Report', 'Heading1'),
      paragraph('Revenue grew by 12% & costs fell.'),
      paragraph('Headcount stayed flat.'),
      paragraph('Outlook', 'Heading2'),
      paragraph('We expect <steady> growth.')
    ]))

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.equal(doc.title, 'Quarterly Report')
    assert.equal(doc.mime, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document')
    assert.deepEqual(doc.sections, [
      { heading: 'Quarterly Report', text: 'Revenue grew by 12% & costs fell.\n\nHeadcount stayed flat.' },
      { heading: 'Outlook', text: 'We expect <steady> growth.' }
    ])
  })

  it('uses the file name as title when there is no heading', async () => {
    // Prepare
    const path = join(dir, 'memo.docx')
    writeFileSync(path, await buildDocx([paragraph('Just a memo.')]))

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.equal(doc.title, 'memo.docx')
    assert.deepEqual(doc.sections, [{ heading: null, text: 'Just a memo.' }])
  })

  it('refuses a file that is not a zip as corrupt', async () => {
    // Prepare
    const path = join(dir, 'fake.docx')
    writeFileSync(path, 'this is plain text, not a Word document')

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'corrupt') && /not a zip archive/.test(err.message))
  })

  it('refuses a truncated zip as corrupt', async () => {
    // Prepare
    const path = join(dir, 'truncated.docx')
    const whole = await buildDocx([paragraph('Title', 'Heading1'), paragraph('Body.')])
    writeFileSync(path, whole.subarray(0, Math.floor(whole.length / 2)))

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'corrupt'))
  })

  it('refuses a zip without word/document.xml as corrupt', async () => {
    // Prepare
    const path = join(dir, 'empty-package.docx')
    writeFileSync(path, await buildDocx([], { omitDocument: true }))

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'corrupt') && /word\/document\.xml/.test(err.message))
  })

  it('refuses a document part that is not XML as corrupt', async () => {
    // Prepare
    const path = join(dir, 'bad-xml.docx')
    const zip = new JSZip()
    zip.file('[Content_Types].xml', CONTENT_TYPES)
    zip.file('_rels/.rels', ROOT_RELS)
    zip.file('word/document.xml', '<w:document><w:body><w:p>unclosed')
    writeFileSync(path, await zip.generateAsync({ type: 'nodebuffer' }))

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'corrupt') && /could not be read as a \.docx/.test(err.message))
  })

  it('refuses a legacy .doc (OLE compound file) renamed to .docx as corrupt', async () => {
    // Prepare
    const path = join(dir, 'legacy.docx')
    writeFileSync(path, Buffer.concat([Buffer.from([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]), Buffer.alloc(504)]))

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'corrupt') && /legacy \.doc/.test(err.message))
  })
})
