/**
 * Document ingestion for cabinets: turn a file into structured plain text (`parseFile`), list the
 * files under folders (`walkFiles`), cut sections into retrieval chunks (`chunkSections`) and hash
 * files for change detection (`hashFile`). One parser per format, dispatched by extension through
 * the FORMATS table.
 *
 * @example
 * ```ts
 * for await (const file of walkFiles(['/home/ada/notes'], { signal })) {
 *   if (!isSupportedFile(file.path)) continue
 *   const doc = await parseFile(file.path, { signal })
 *   const chunks = chunkSections(doc.sections, { maxTokens: 256, overlapTokens: 32 })
 * }
 * ```
 *
 * @packageDocumentation
 */
import { open, stat } from 'node:fs/promises'
import { basename, extname } from 'node:path'
import { MAX_FILE_BYTES } from './constants.js'
import { parseCsv, parseTsv } from './csv.js'
import { parseDocx } from './docx.js'
import { parseHtml } from './html.js'
import { IngestError } from './ingest-error.js'
import { parseJson } from './json.js'
import { parseMarkdown } from './markdown.js'
import { parsePdf } from './pdf.js'
import { parseTxt } from './txt.js'
import type { FormatParser, ParsedDocument } from './types.js'

export { chunkSections, type Chunk, type ChunkOptions } from './chunk.js'
export { estimateTokens } from './tokens.js'
export { walkFiles, type WalkedFile, type WalkOptions } from './walk.js'
export { hashFile } from './hash.js'
export { IngestError, isIngestError, type IngestErrorCode } from './ingest-error.js'
export type { ParsedDocument, Section } from './types.js'
export { DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS, MAX_FILE_BYTES } from './constants.js'

/** A supported format: its MIME type and parser. */
interface Format {
  mime: string
  parse: FormatParser
}

const TEXT: Format = { mime: 'text/plain', parse: parseTxt }
const MARKDOWN: Format = { mime: 'text/markdown', parse: parseMarkdown }
const HTML: Format = { mime: 'text/html', parse: parseHtml }

/** Parsers by lower-case extension. */
const FORMATS: Readonly<Record<string, Format>> = {
  '.txt': TEXT,
  '.md': MARKDOWN,
  '.markdown': MARKDOWN,
  '.html': HTML,
  '.htm': HTML,
  '.pdf': { mime: 'application/pdf', parse: parsePdf },
  '.docx': { mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', parse: parseDocx },
  '.csv': { mime: 'text/csv', parse: parseCsv },
  '.tsv': { mime: 'text/tab-separated-values', parse: parseTsv },
  '.json': { mime: 'application/json', parse: parseJson }
}

/** Extensions parseFile accepts, lower case with the dot, sorted. */
export const SUPPORTED_EXTENSIONS: readonly string[] = Object.keys(FORMATS).sort()

/** True when parseFile has a parser for this path's extension. */
export function isSupportedFile (path: string): boolean {
  return Object.hasOwn(FORMATS, extname(path).toLowerCase())
}

/** Options for parseFile. */
export interface ParseOptions {
  signal?: AbortSignal
  /** Largest file accepted, in bytes (default MAX_FILE_BYTES, 50 MiB). */
  maxBytes?: number
}

/** Read at most `maxBytes` bytes; a file that is (or grows) larger is refused. */
async function readBounded (path: string, fileName: string, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
  // Check before opening: opening a FIFO for reading blocks until a writer appears.
  if (!(await stat(path)).isFile()) throw new IngestError('unsupported', `${fileName} is not a regular file.`)
  const handle = await open(path, 'r')
  try {
    const info = await handle.stat()
    if (!info.isFile()) throw new IngestError('unsupported', `${fileName} is not a regular file.`)
    if (info.size > maxBytes) throw tooLarge(fileName, maxBytes)
    // Read one byte past the limit to notice a file that grew after the stat.
    const buffer = Buffer.alloc(Math.min(info.size, maxBytes) + 1)
    let length = 0
    while (length < buffer.length) {
      signal?.throwIfAborted()
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length)
      if (bytesRead === 0) break
      length += bytesRead
    }
    if (length > maxBytes) throw tooLarge(fileName, maxBytes)
    return buffer.subarray(0, length)
  } finally {
    await handle.close()
  }
}

function tooLarge (fileName: string, maxBytes: number): IngestError {
  return new IngestError('too_large', `${fileName} is larger than the limit of ${maxBytes.toLocaleString('en')} bytes.`)
}

/**
 * Parse a file into a title and sections of normalised plain text, choosing the parser by
 * extension (.txt, .md/.markdown, .html/.htm, .pdf, .docx, .csv, .tsv, .json).
 *
 * An empty (0-byte) file of a supported type gives no sections. Throws IngestError with code
 * `unsupported` (unknown extension, or not a regular file), `corrupt` (does not parse as its type;
 * the message says why), `too_large` (over `maxBytes` or another limit in constants.ts) or
 * `encrypted` (password-protected PDF); file-system errors (ENOENT, EACCES) and aborts are
 * thrown as they are.
 */
export async function parseFile (path: string, options: ParseOptions = {}): Promise<ParsedDocument> {
  const { signal, maxBytes = MAX_FILE_BYTES } = options
  signal?.throwIfAborted()
  const fileName = basename(path)
  const ext = extname(path).toLowerCase()
  const format = Object.hasOwn(FORMATS, ext) ? FORMATS[ext] : undefined
  if (format === undefined) {
    throw new IngestError('unsupported', `${fileName}: files of type '${ext === '' ? '(none)' : ext}' are not supported; supported types are ${SUPPORTED_EXTENSIONS.join(', ')}.`)
  }
  const bytes = await readBounded(path, fileName, maxBytes, signal)
  if (bytes.length === 0) return { title: fileName, mime: format.mime, sections: [] }
  const result = await format.parse({ bytes, fileName, signal })
  signal?.throwIfAborted()
  return { title: result.title, mime: format.mime, sections: result.sections }
}
