/** Messages between parseFile and the parser worker, and how errors cross the thread boundary. */
import { IngestError, isIngestError, type IngestErrorCode } from './ingest-error.js'
import type { ParsedDocument } from './types.js'

/** Main thread to worker: parse one file. */
export interface ParseRequest {
  id: number
  path: string
  maxBytes: number
}

/** An error as plain data (structured clone drops class and extra fields). */
export interface WireError {
  name: string
  message: string
  /** IngestErrorCode, or a Node system error code such as ENOENT. */
  code?: string
}

/** Worker to main thread: the outcome of one request. */
export type ParseReply =
  | { id: number, ok: true, doc: ParsedDocument }
  | { id: number, ok: false, error: WireError }

/** Turn any thrown value into a WireError. */
export function toWire (err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) }
  }
  return { name: 'Error', message: String(err) }
}

/** Rebuild an error from a WireError: an IngestError, or an Error with the same name and code. */
export function fromWire (wire: WireError): Error {
  if (isIngestError(wire)) return new IngestError(wire.code as IngestErrorCode, wire.message)
  const err = new Error(wire.message) as Error & { code?: string }
  err.name = wire.name
  if (wire.code !== undefined) err.code = wire.code
  return err
}
