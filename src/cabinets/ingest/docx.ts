/**
 * Word .docx, through mammoth: its HTML (Heading 1–6 styles become `<h1>`–`<h6>`) is split at
 * headings like any HTML. The title is the first heading, else the file name. Images are not
 * read, and mammoth's access to external files linked from the document stays off.
 */
import mammoth from 'mammoth'
import { MAX_DOCX_UNCOMPRESSED_BYTES, MAX_ZIP_ENTRIES } from './constants.js'
import { htmlToSections } from './html-sections.js'
import { firstSentence, IngestError } from './ingest-error.js'
import type { ParserInput, ParserResult } from './types.js'
import { readZipDirectory } from './zip.js'

/** Local file header signature: every zip (so every .docx) starts with "PK\x03\x04". */
const ZIP_MAGIC = Buffer.from([0x50, 0x4B, 0x03, 0x04])
/** OLE compound file signature: a legacy .doc, or a .docx saved with a password. */
const OLE_MAGIC = Buffer.from([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
const MAIN_PART = 'word/document.xml'

/** Check what can be checked without unzipping; throws IngestError. */
function checkContainer (bytes: Buffer, fileName: string): void {
  if (bytes.subarray(0, OLE_MAGIC.length).equals(OLE_MAGIC)) {
    throw new IngestError('corrupt', `${fileName} is a legacy .doc or a password-protected document, not a .docx.`)
  }
  if (!bytes.subarray(0, ZIP_MAGIC.length).equals(ZIP_MAGIC)) {
    throw new IngestError('corrupt', `${fileName} is not a zip archive, so it is not a .docx.`)
  }
  const dir = readZipDirectory(bytes, MAX_ZIP_ENTRIES)
  if (dir === null) throw new IngestError('corrupt', `${fileName} is a damaged or truncated zip archive.`)
  if (dir.uncompressedBytes > MAX_DOCX_UNCOMPRESSED_BYTES) {
    throw new IngestError('too_large', `${fileName} unpacks to more than ${MAX_DOCX_UNCOMPRESSED_BYTES / (1024 * 1024)} MiB.`)
  }
  if (!dir.names.includes(MAIN_PART)) throw new IngestError('corrupt', `${fileName} has no ${MAIN_PART}, so it is not a Word document.`)
}

/** Parse a .docx file. */
export async function parseDocx ({ bytes, fileName, signal }: ParserInput): Promise<ParserResult> {
  checkContainer(bytes, fileName)
  let html: string
  try {
    const result = await mammoth.convertToHtml({ buffer: bytes }, {
      externalFileAccess: false,
      // Leave images out of the HTML instead of inlining them as base64.
      convertImage: mammoth.images.imgElement(async () => ({ src: '' }))
    })
    html = result.value
  } catch (err) {
    throw new IngestError('corrupt', `${fileName} could not be read as a .docx: ${firstSentence(err)}.`, { cause: err })
  }
  signal?.throwIfAborted()
  const parsed = htmlToSections(html, fileName)
  return { title: parsed.headings[0]?.text ?? fileName, sections: parsed.sections }
}
