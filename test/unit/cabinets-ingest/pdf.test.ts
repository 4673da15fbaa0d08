import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MAX_PDF_PAGES } from '../../../src/cabinets/ingest/constants.js'
import { parseFile } from '../../../src/cabinets/ingest/index.js'
import { isIngestError } from '../../../src/cabinets/ingest/ingest-error.js'

/** One line of text at a vertical position on the page (PDF points from the bottom). */
interface PdfLine { y: number, text: string }

/** Escape a string for a PDF literal string `( … )`. */
const pdfString = (s: string): string => s.replace(/[\\()]/g, c => `\\${c}`)

/**
 * A minimal valid PDF written by hand: catalog, page tree, one Helvetica font, an Info dictionary
 * with a Title, one content stream per page, and an xref table with exact byte offsets.
 */
function buildPdf (pages: PdfLine[][], title: string): Buffer {
  const objects: string[] = []
  objects[1] = '<< /Type /Catalog /Pages 2 0 R >>'
  objects[2] = `<< /Type /Pages /Kids [${pages.map((_, i) => `${5 + 2 * i} 0 R`).join(' ')}] /Count ${pages.length} >>`
  objects[3] = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>'
  objects[4] = `<< /Title (${pdfString(title)}) /Producer (plexus test) >>`
  pages.forEach((lines, i) => {
    const stream = lines.map(l => `BT /F1 12 Tf 72 ${l.y} Td (${pdfString(l.text)}) Tj ET`).join('\n')
    objects[5 + 2 * i] = `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${6 + 2 * i} 0 R >>`
    objects[6 + 2 * i] = `<< /Length ${Buffer.byteLength(stream, 'latin1')} >>\nstream\n${stream}\nendstream`
  })
  let out = '%PDF-1.4\n'
  const offsets: number[] = []
  for (let n = 1; n < objects.length; n++) {
    offsets[n] = Buffer.byteLength(out, 'latin1')
    out += `${n} 0 obj\n${objects[n] ?? ''}\nendobj\n`
  }
  const xref = Buffer.byteLength(out, 'latin1')
  out += `xref\n0 ${objects.length}\n0000000000 65535 f \n`
  for (let n = 1; n < objects.length; n++) out += `${String(offsets[n]).padStart(10, '0')} 00000 n \n`
  out += `trailer\n<< /Size ${objects.length} /Root 1 0 R /Info 4 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return Buffer.from(out, 'latin1')
}

const PAGES: PdfLine[][] = [
  [
    { y: 720, text: 'Plexus keeps documents in encrypted cabinets.' },
    { y: 706, text: 'Each cabinet has its own key (never shared).' },
    // A gap of several line heights: a new paragraph.
    { y: 640, text: 'Retrieval finds the passages nearest a question.' }
  ],
  [{ y: 720, text: 'The second page talks about chunking.' }]
]

describe('parseFile: PDF', () => {
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'plexus-ingest-pdf-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('reads the Info Title and one section per page, with paragraphs from vertical gaps', async () => {
    // Prepare
    const path = join(dir, 'guide.pdf')
    writeFileSync(path, buildPdf(PAGES, 'Cabinet Guide (draft)'))

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.equal(doc.title, 'Cabinet Guide (draft)')
    assert.equal(doc.mime, 'application/pdf')
    assert.deepEqual(doc.sections.map(s => s.heading), ['Page 1', 'Page 2'])
    assert.equal(doc.sections[0]?.text,
      'Plexus keeps documents in encrypted cabinets.\nEach cabinet has its own key (never shared).\n\nRetrieval finds the passages nearest a question.')
    assert.equal(doc.sections[1]?.text, 'The second page talks about chunking.')
  })

  it('falls back to the file name when the PDF has no Title', async () => {
    // Prepare
    const path = join(dir, 'untitled.pdf')
    writeFileSync(path, buildPdf([[{ y: 700, text: 'Body only.' }]], ''))

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.equal(doc.title, 'untitled.pdf')
    assert.deepEqual(doc.sections, [{ heading: 'Page 1', text: 'Body only.' }])
  })

  it('refuses garbage after a %PDF header as corrupt', async () => {
    // Prepare
    const path = join(dir, 'garbage.pdf')
    writeFileSync(path, Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(512, 0x5A)]))

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'corrupt') && /garbage\.pdf could not be read as a PDF/.test(err.message))
  })

  it('refuses a truncated PDF as corrupt', async () => {
    // Prepare
    const path = join(dir, 'truncated.pdf')
    writeFileSync(path, buildPdf(PAGES, 'Cut').subarray(0, 300))

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'corrupt'))
  })

  it('refuses a file without a %PDF header before loading pdf.js', async () => {
    // Prepare
    const path = join(dir, 'renamed.pdf')
    writeFileSync(path, 'just some text that was renamed to .pdf')

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'corrupt') && /no %PDF header/.test(err.message))
  })

  it('refuses a PDF with more pages than MAX_PDF_PAGES as too large', async () => {
    // Prepare
    const path = join(dir, 'long.pdf')
    const pages = Array.from({ length: MAX_PDF_PAGES + 1 }, (): PdfLine[] => [{ y: 700, text: 'x' }])
    writeFileSync(path, buildPdf(pages, 'Long'))

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'too_large') && err.message.includes(String(MAX_PDF_PAGES + 1)))
  })

  it('stops with the abort reason when the signal is already aborted', async () => {
    // Prepare
    const path = join(dir, 'aborted.pdf')
    writeFileSync(path, buildPdf(PAGES, 'Aborted'))
    const controller = new AbortController()
    controller.abort(new Error('stop now'))

    // Execute
    const result = parseFile(path, { signal: controller.signal })

    // Assert
    await assert.rejects(result, { message: 'stop now' })
  })
})
