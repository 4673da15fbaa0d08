/**
 * PDF, through pdf.js (legacy build, the one meant for Node). Each page is one section headed
 * `Page N`, so answers can cite pages; within a page, a vertical gap of more than
 * PDF_PARAGRAPH_GAP_LINES line heights starts a new paragraph. The title is the Info dictionary's
 * Title, else XMP `dc:title`, else the file name.
 *
 * Worker: in Node pdf.js never starts a Web Worker. It runs its "fake worker" on the calling
 * thread, loading `pdf.worker.mjs` from beside `pdf.mjs` (GlobalWorkerOptions.workerSrc defaults
 * to that in Node), so no worker setup is needed. The calling thread is Plexus's own parser
 * worker (sandbox.ts), so pdf.js never blocks the node's event loop. Pages are read one at a
 * time, and an abort signal (for in-process callers) is honoured between and during them.
 */
import { MAX_PDF_PAGES, PDF_HEADER_SEARCH_BYTES, PDF_PARAGRAPH_GAP_LINES } from './constants.js'
import { firstSentence, IngestError } from './ingest-error.js'
import { normalizeHeading, SectionList } from './text.js'
import type { ParserInput, ParserResult } from './types.js'

type PdfJs = typeof import('pdfjs-dist/legacy/build/pdf.mjs')
type TextContent = Awaited<ReturnType<Awaited<ReturnType<Awaited<ReturnType<PdfJs['getDocument']>['promise']>['getPage']>>['getTextContent']>>

/** pdf.js is large; load it on the first PDF rather than when ingestion is imported. */
let pdfjs: Promise<PdfJs> | undefined
function loadPdfJs (): Promise<PdfJs> {
  pdfjs ??= import('pdfjs-dist/legacy/build/pdf.mjs')
  return pdfjs
}

/** True when `%PDF-` occurs in the first PDF_HEADER_SEARCH_BYTES bytes. */
export function looksLikePdf (bytes: Buffer): boolean {
  return bytes.subarray(0, PDF_HEADER_SEARCH_BYTES).includes('%PDF-', 0, 'latin1')
}

/** Settle with `promise`, or reject with the signal's reason as soon as it aborts. */
async function abortable<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal == null) return await promise
  signal.throwIfAborted()
  let onAbort!: () => void
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/** Lay out one page's text items as lines and paragraphs from their positions. */
export function pageText (content: TextContent): string {
  let out = ''
  let pending = ''
  let lastY: number | null = null
  let lastXEnd = 0
  let lineHeight = 0
  for (const item of content.items) {
    if (!('str' in item)) continue
    const x = Number(item.transform[4] ?? 0)
    const y = Number(item.transform[5] ?? 0)
    const height = item.height > 0 ? item.height : Math.abs(Number(item.transform[3] ?? 0))
    if (item.str !== '') {
      if (lastY !== null) {
        const dy = Math.abs(y - lastY)
        const unit = Math.max(lineHeight, height, 1)
        if (dy > unit * PDF_PARAGRAPH_GAP_LINES) pending = '\n\n'
        else if (dy > unit / 2) pending = pending === '\n\n' ? pending : '\n'
        // Items on one line with a visible gap but no space character between them.
        else if (pending === '' && x > lastXEnd + unit * 0.2 && !/\s$/.test(out) && !/^\s/.test(item.str)) pending = ' '
      }
      out += pending + item.str
      pending = ''
      lastY = y
      lastXEnd = x + item.width
      lineHeight = height
    }
    if (item.hasEOL && pending === '') pending = '\n'
  }
  return out
}

/** The document title from the Info dictionary or XMP metadata, if present. */
async function pdfTitle (doc: Awaited<ReturnType<PdfJs['getDocument']>['promise']>): Promise<string | null> {
  const { info, metadata } = await doc.getMetadata()
  const infoTitle = (info as { Title?: unknown }).Title
  if (typeof infoTitle === 'string') {
    const title = normalizeHeading(infoTitle)
    if (title !== null) return title
  }
  const xmp = metadata?.get('dc:title')
  return typeof xmp === 'string' ? normalizeHeading(xmp) : null
}

/** Map a pdf.js failure to an IngestError; an abort is passed through unchanged. */
function pdfError (err: unknown, fileName: string, signal?: AbortSignal): unknown {
  if (signal?.aborted === true && err === signal.reason) return err
  if ((err as { name?: unknown })?.name === 'PasswordException') {
    return new IngestError('encrypted', `${fileName} is password-protected; remove the password and add it again.`, { cause: err })
  }
  return new IngestError('corrupt', `${fileName} could not be read as a PDF: ${firstSentence(err)}.`, { cause: err })
}

/** Parse a .pdf file. */
export async function parsePdf ({ bytes, fileName, signal }: ParserInput): Promise<ParserResult> {
  if (!looksLikePdf(bytes)) throw new IngestError('corrupt', `${fileName} has no %PDF header, so it is not a PDF.`)
  const { getDocument, VerbosityLevel } = await loadPdfJs()
  const task = getDocument({
    // pdf.js may transfer (detach) the buffer it is given; hand it a copy.
    data: new Uint8Array(bytes),
    verbosity: VerbosityLevel.ERRORS,
    // Text extraction needs neither font rendering nor eval-compiled glyph code.
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    enableXfa: false,
    stopAtErrors: false
  })
  try {
    const doc = await abortable(task.promise, signal)
    if (doc.numPages > MAX_PDF_PAGES) {
      throw new IngestError('too_large', `${fileName} has ${doc.numPages} pages, more than the limit of ${MAX_PDF_PAGES}; split it into smaller files.`)
    }
    const title = await abortable(pdfTitle(doc), signal)
    const list = new SectionList(fileName)
    for (let n = 1; n <= doc.numPages; n++) {
      const page = await abortable(doc.getPage(n), signal)
      const content = await abortable(page.getTextContent(), signal)
      list.add(`Page ${n}`, pageText(content))
      page.cleanup()
    }
    return { title: title ?? fileName, sections: list.sections }
  } catch (err) {
    if (err instanceof IngestError) throw err
    throw pdfError(err, fileName, signal)
  } finally {
    await task.destroy()
  }
}
