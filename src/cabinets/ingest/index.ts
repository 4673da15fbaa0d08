/**
 * Document ingestion for cabinets: turn a file into structured plain text (`parseFile`), list the
 * files under folders (`walkFiles`), cut sections into retrieval chunks (`chunkSections`) and hash
 * files for change detection (`hashFile`). One parser per format, chosen by extension through
 * the table in formats.ts; parsing runs in a worker thread (sandbox.ts).
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
import { ParserSandbox } from './sandbox.js'
import type { ParsedDocument } from './types.js'

export { chunkSections, type Chunk, type ChunkOptions } from './chunk.js'
export { estimateTokens } from './tokens.js'
export { walkFiles, type WalkedFile, type WalkOptions } from './walk.js'
export { hashFile } from './hash.js'
export { isSupportedFile, parseFileInProcess, parseBytesInProcess, SUPPORTED_EXTENSIONS } from './formats.js'
export { ParserSandbox, type SandboxInit } from './sandbox.js'
export { IngestError, isIngestError, type IngestErrorCode } from './ingest-error.js'
export type { ParsedDocument, Section } from './types.js'
export { DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS, MAX_FILE_BYTES, PARSE_TIMEOUT_MS } from './constants.js'

/** Options for parseFile. */
export interface ParseOptions {
  signal?: AbortSignal
  /** Largest file accepted, in bytes (default MAX_FILE_BYTES, 50 MiB). */
  maxBytes?: number
  /** Longest the parse may take before it is stopped (default PARSE_TIMEOUT_MS, 3 minutes). */
  timeoutMs?: number
}

/** Shared by every parseFile call; created on first use. */
let sandbox: ParserSandbox | undefined

/**
 * Parse a file into a title and sections of normalised plain text, choosing the parser by
 * extension (.txt, .md/.markdown, .html/.htm, .pdf, .docx, .csv, .tsv, .json). The parse runs in
 * a worker thread, one file at a time; concurrent calls wait their turn.
 *
 * An empty (0-byte) file of a supported type gives no sections. Throws IngestError with code
 * `unsupported` (unknown extension, or not a regular file), `corrupt` (does not parse as its type;
 * the message says why), `too_large` (over `maxBytes`, a limit in constants.ts, the parser's heap
 * limit or `timeoutMs`) or `encrypted` (password-protected PDF). File-system errors keep their
 * `code` (ENOENT, EACCES); an abort rejects with the signal's reason.
 */
export async function parseFile (path: string, options: ParseOptions = {}): Promise<ParsedDocument> {
  sandbox ??= new ParserSandbox()
  return await sandbox.parse(path, options)
}
