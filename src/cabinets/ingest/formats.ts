/**
 * The dispatch table from file extension to format parser, and the in-process parse that the
 * parser worker runs (parseFile in index.ts runs it in that worker).
 */
import { basename, extname } from 'node:path'
import { MAX_FILE_BYTES } from './constants.js'
import { parseCsv, parseTsv } from './csv.js'
import { parseDocx } from './docx.js'
import { parseHtml } from './html.js'
import { firstSentence, IngestError } from './ingest-error.js'
import { parseJson } from './json.js'
import { parseMarkdown } from './markdown.js'
import { parsePdf } from './pdf.js'
import { readBounded } from './read.js'
import { parseTxt } from './txt.js'
import type { FormatParser, ParsedDocument } from './types.js'

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

/** The format for a path's extension; throws `unsupported` for others. */
export function formatFor (path: string): Format {
  const ext = extname(path).toLowerCase()
  const format = Object.hasOwn(FORMATS, ext) ? FORMATS[ext] : undefined
  if (format === undefined) {
    throw new IngestError('unsupported', `${basename(path)}: files of type '${ext === '' ? '(none)' : ext}' are not supported; supported types are ${SUPPORTED_EXTENSIONS.join(', ')}.`)
  }
  return format
}

/**
 * Read and parse a file on the calling thread. parseFile runs this in the parser worker; call it
 * directly only where blocking the event loop for the length of a parse is acceptable.
 */
export async function parseFileInProcess (path: string, options: { signal?: AbortSignal, maxBytes?: number } = {}): Promise<ParsedDocument> {
  const { signal, maxBytes = MAX_FILE_BYTES } = options
  signal?.throwIfAborted()
  const fileName = basename(path)
  formatFor(path)
  const bytes = await readBounded(path, fileName, maxBytes, signal)
  return await parseBytesInProcess(fileName, bytes, { signal })
}

/**
 * Parses a file's contents given in memory (an HTTP upload), on the calling thread; the format
 * comes from `fileName`'s extension. Callers bound the size (the API's body limit does).
 */
export async function parseBytesInProcess (fileName: string, bytes: Buffer, options: { signal?: AbortSignal } = {}): Promise<ParsedDocument> {
  const { signal } = options
  const format = formatFor(fileName)
  if (bytes.length === 0) return { title: fileName, mime: format.mime, sections: [] }
  let result
  try {
    result = await format.parse({ bytes, fileName, signal })
  } catch (err) {
    if (err instanceof IngestError || (signal?.aborted === true && err === signal.reason)) throw err
    // A parser library failing in a way it does not report as a format error (a stack overflow
    // on deep nesting, say) still means this file cannot be read.
    throw new IngestError('corrupt', `${fileName} could not be parsed: ${firstSentence(err)}.`, { cause: err })
  }
  signal?.throwIfAborted()
  return { title: result.title, mime: format.mime, sections: result.sections }
}
