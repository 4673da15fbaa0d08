/**
 * Limits for document ingestion. Each one bounds memory or time for a file the user hands us, so
 * that one odd file cannot stall or exhaust the node.
 */

const MiB = 1024 * 1024

/** Largest file parsed by default (callers may lower or raise it with `maxBytes`). Whole files are read into memory, and 50 MiB covers long books and reports. */
export const MAX_FILE_BYTES = 50 * MiB

/** Most characters of normalised text one document may yield: about 5 million tokens, hours of embedding on a CPU; past this the user should split the file. */
export const MAX_DOCUMENT_CHARS = 20_000_000

/** Most PDF pages read; pdf.js parses pages one by one, and a longer file is almost always a scan or an archive that should be split. */
export const MAX_PDF_PAGES = 2_000

/** Most CSV records (including the header); each becomes a paragraph, and more than this is a data set rather than a document. */
export const MAX_CSV_ROWS = 100_000

/** Longest single CSV record in characters, so that an unclosed quote cannot swallow the whole file into one field. */
export const MAX_CSV_RECORD_CHARS = 1 * MiB

/** Deepest JSON nesting flattened into `path: value` lines; deeper values are replaced by a note. Real data rarely nests past 10, and flattening recurses. */
export const MAX_JSON_DEPTH = 32

/** Deepest HTML nesting walked by html-to-text, which recurses per element; deeper content is dropped. */
export const MAX_HTML_DEPTH = 256

/** Most bytes a .docx may inflate to (all zip entries together), checked from its central directory before mammoth unzips it: a zip bomb guard. */
export const MAX_DOCX_UNCOMPRESSED_BYTES = 256 * MiB

/** Most entries in a .docx zip; Word documents have dozens, a few thousand with many images. */
export const MAX_ZIP_ENTRIES = 10_000

/** Longest section heading kept, in characters; longer ones are cut with an ellipsis. */
export const MAX_HEADING_CHARS = 200

/** Bytes searched for a `%PDF-` header; the PDF spec lets readers accept junk before it, and 1 KiB is what Acrobat tolerates. */
export const PDF_HEADER_SEARCH_BYTES = 1024

/** Bytes searched for an HTML `<meta charset>`; the HTML spec's prescan looks at the first 1024. */
export const HTML_CHARSET_PRESCAN_BYTES = 1024

/** A vertical gap larger than this many line heights starts a new paragraph in PDF text. */
export const PDF_PARAGRAPH_GAP_LINES = 1.5

/** Default largest chunk, in tokens: fits the 512-token window of common embedding models with room for a query prefix. */
export const DEFAULT_MAX_TOKENS = 256

/** Default overlap between consecutive chunks of one section, in tokens (an eighth of the default chunk), so a sentence cut at a boundary is still found. */
export const DEFAULT_OVERLAP_TOKENS = 32

/** Smallest `maxTokens` accepted: below this a heading and one sentence no longer fit. */
export const MIN_MAX_TOKENS = 16

/** A heading prefixed to a chunk may use at most this fraction of `maxTokens`; longer headings are cut. */
export const MAX_HEADING_TOKEN_FRACTION = 0.25

/** Longest one file may take to parse before its worker is stopped: a guard against parser blow-ups (marked is quadratic on some emphasis runs), far above the few seconds a 50 MiB file needs. */
export const PARSE_TIMEOUT_MS = 180_000

/** Heap limit of the parser worker; a parse that needs more is stopped. A 50 MiB HTML file builds a DOM of several hundred MiB. */
export const PARSER_HEAP_MB = 2048

/** The parser worker is stopped after this long without work, giving back its memory; starting it again costs about 0.2 s. */
export const PARSER_IDLE_MS = 30_000
