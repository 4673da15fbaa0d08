/**
 * The error ingestion throws on purpose. It stands in for rows of the shared table in
 * `src/errors.ts` until those exist; callers and tests match on `name` and `code`, never on text.
 */

/**
 * Why a file could not be ingested.
 *
 * - `unsupported`: the file type (extension) has no parser, or the path is not a regular file.
 * - `corrupt`: the file does not parse as its type; the message gives a one-sentence reason.
 * - `too_large`: the file, or the text or rows it yields, is over a limit.
 * - `encrypted`: the file is password-protected (PDF); the user has to remove the password.
 */
export type IngestErrorCode = 'unsupported' | 'corrupt' | 'too_large' | 'encrypted'

/** A file that cannot be ingested, with a stable `code`. */
export class IngestError extends Error {
  override readonly name = 'IngestError'
  readonly code: IngestErrorCode

  constructor (code: IngestErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.code = code
  }
}

/** True when `err` is an IngestError (with the given code), matched by `name` so it works across module copies. */
export function isIngestError (err: unknown, code?: IngestErrorCode): err is IngestError {
  return err != null && typeof err === 'object' && (err as { name?: unknown }).name === 'IngestError' &&
    (code == null || (err as { code?: unknown }).code === code)
}

/** The first sentence (of the first line) of an error's message, for `corrupt` reasons taken from a parser library. */
export function firstSentence (err: unknown): string {
  const firstLine = (err instanceof Error ? err.message : String(err)).trim().split('\n')[0] ?? ''
  const text = firstLine.replace(/\s+/g, ' ').trim()
  const end = text.search(/[.!?](\s|$)/)
  const sentence = end === -1 ? text : text.slice(0, end)
  return sentence === '' ? 'unknown error' : sentence
}
