/**
 * Text clean-up shared by every format: decoding bytes, normalising whitespace and removing
 * control characters, and collecting sections under the document-size limit.
 */
import { MAX_DOCUMENT_CHARS, MAX_HEADING_CHARS } from './constants.js'
import { IngestError } from './ingest-error.js'
import type { Section } from './types.js'

/** Lone UTF-16 surrogates (from broken extractors) would make invalid UTF-8 downstream. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g
/** C0/C1 controls except `\n` (tab, CR, FF, VT are turned into whitespace before this runs). */
const CONTROL = /[\u0000-\u0009\u000B-\u001F\u007F-\u009F]/g
/** Invisible characters that only split words: soft hyphen, BOM / zero-width no-break space, zero-width space. */
const INVISIBLE = /[\u00AD\uFEFF\u200B]/g
/** Any run of horizontal whitespace, including no-break and ideographic spaces. */
const SPACES = /[ \p{Zs}]+/gu

/**
 * Normalise extracted text: NFC, `\n` line ends, one space between words, trimmed lines, at most
 * one blank line between paragraphs, no control or invisible characters.
 */
export function normalizeText (text: string): string {
  return text
    .normalize('NFC')
    .replace(/\r\n?|[\u2028\v]/g, '\n')
    // A form feed is a page break in plain text, and U+2029 a paragraph separator.
    .replace(/[\f\u2029]/g, '\n\n')
    .replace(/\t/g, ' ')
    .replace(LONE_SURROGATE, '\uFFFD')
    .replace(CONTROL, '')
    .replace(INVISIBLE, '')
    .replace(SPACES, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()
}

/** Normalise a heading to one line of at most MAX_HEADING_CHARS characters; empty gives null. */
export function normalizeHeading (heading: string | null | undefined): string | null {
  if (heading == null) return null
  const line = normalizeText(heading).replace(/\s+/g, ' ')
  if (line === '') return null
  const chars = [...line]
  return chars.length <= MAX_HEADING_CHARS ? line : chars.slice(0, MAX_HEADING_CHARS - 1).join('').trimEnd() + '…'
}

/**
 * Decode a text file. A UTF-8 or UTF-16 byte-order mark wins; otherwise `label` (an HTML meta
 * charset, say) if the runtime knows it, else UTF-8 with U+FFFD for invalid bytes. Text with NUL
 * characters is binary data under a text extension, and is refused as corrupt.
 */
export function decodeText (bytes: Buffer, fileName: string, label?: string): string {
  let encoding = 'utf-8'
  if (bytes[0] === 0xFF && bytes[1] === 0xFE) encoding = 'utf-16le'
  else if (bytes[0] === 0xFE && bytes[1] === 0xFF) encoding = 'utf-16be'
  else if (!(bytes[0] === 0xEF && bytes[1] === 0xBB && bytes[2] === 0xBF) && label != null) encoding = label
  const text = decoderFor(encoding).decode(bytes)
  if (text.includes('\u0000')) {
    throw new IngestError('corrupt', `${fileName} contains binary data, not text.`)
  }
  return text
}

/** A decoder for `label`, or for UTF-8 when the runtime does not know the label. */
function decoderFor (label: string): InstanceType<typeof TextDecoder> {
  try {
    return new TextDecoder(label)
  } catch {
    return new TextDecoder('utf-8')
  }
}

/**
 * Collects a document's sections in order: normalises heading and text, drops sections with no
 * text, and throws `too_large` once the text passes MAX_DOCUMENT_CHARS.
 */
export class SectionList {
  readonly sections: Section[] = []
  #chars = 0
  readonly #fileName: string

  constructor (fileName: string) {
    this.#fileName = fileName
  }

  /** Add one section; `text` may be raw (it is normalised here). */
  add (heading: string | null, text: string): void {
    const normalized = normalizeText(text)
    if (normalized === '') return
    this.#chars += normalized.length
    if (this.#chars > MAX_DOCUMENT_CHARS) throw textTooLarge(this.#fileName)
    this.sections.push({ heading: normalizeHeading(heading), text: normalized })
  }
}

/** The `too_large` error for a document whose text passes MAX_DOCUMENT_CHARS. */
export function textTooLarge (fileName: string): IngestError {
  return new IngestError('too_large', `${fileName} yields more than ${MAX_DOCUMENT_CHARS.toLocaleString('en')} characters of text; split it into smaller files.`)
}
