/** Types shared by the format parsers, the dispatcher and the chunker. */

/** One part of a document under one heading. */
export interface Section {
  /** The heading the text sits under, or null before the first heading and for formats without headings. */
  heading: string | null
  /** Normalised plain text: paragraphs separated by one blank line, lines by `\n`, no control characters. */
  text: string
}

/** A file turned into plain text that keeps its structure. */
export interface ParsedDocument {
  /** Markdown H1, HTML `<title>`, PDF Title, first .docx heading, or else the file name. */
  title: string
  /** MIME type of the source format, e.g. `application/pdf`. */
  mime: string
  /** In document order; sections with no text are left out, so an empty file has none. */
  sections: Section[]
}

/** What the dispatcher hands a format parser: the bytes are already read and size-checked. */
export interface ParserInput {
  bytes: Buffer
  /** Base name of the file, the fallback title. */
  fileName: string
  signal?: AbortSignal
}

/** A parser returns everything but the MIME type, which the dispatch table knows. */
export type ParserResult = Omit<ParsedDocument, 'mime'>

/** One format parser (txt.ts, pdf.ts, …). */
export type FormatParser = (input: ParserInput) => ParserResult | Promise<ParserResult>
