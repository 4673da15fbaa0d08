/**
 * Records: statements one node makes on its own log and signs alone — the outcome of a spot
 * check of another peer's work, a governance proposal or vote it cast, the outcome of a tally, a
 * parameter change it applied, its uptime scores of its peers (committed, then revealed). Unlike receipts (work between two parties, signed by both), a
 * record has one author; it goes into the author's log next to its receipts, so the same Merkle
 * tree, heads and proofs cover it. `data` is the kind's own content, bounded in size.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { canonicalJson, signPayload } from '../crypto/signing.js'
import { PlexusError } from '../errors.js'
import { verifyByPeer, isEd25519PeerId, type PeerSigner } from './peer-keys.js'
import { verifyReceiptWithJson, type SignedReceipt } from './receipts.js'
import { leafHash as leafHashOf } from './merkle.js'

/** The author's signature over a record body. */
export const RECORD_DOMAIN = 'record'
/** A record's canonical JSON is at most this large. */
export const MAX_RECORD_BYTES = 16 * 1024

export const RECORD_KINDS = ['spot-check', 'proposal', 'vote', 'outcome', 'applied', 'score-commit', 'score-reveal'] as const
export type RecordKind = (typeof RECORD_KINDS)[number]

export const RecordBodySchema = z.strictObject({
  v: z.literal(1),
  kind: z.enum(RECORD_KINDS),
  /** Unique in the log (shares the id space with receipts). */
  id: z.string().regex(/^[A-Za-z0-9_.:-]{8,128}$/, '8–128 letters, digits or _ . : -'),
  author: z.string().min(1).max(128),
  /** Milliseconds since the Unix epoch. */
  time: z.number().int().min(0).max(8.64e15),
  data: z.record(z.string(), z.unknown())
})
export type RecordBody = z.output<typeof RecordBodySchema>

export const SignedRecordSchema = z.strictObject({ record: RecordBodySchema, signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/) })
export type SignedRecord = z.output<typeof SignedRecordSchema>

/** What a log holds: receipts and records. */
export type LedgerEntry = SignedReceipt | SignedRecord

export function isRecord (e: LedgerEntry): e is SignedRecord {
  return (e as SignedRecord).record != null
}

export function entryId (e: LedgerEntry): string {
  return isRecord(e) ? e.record.id : e.body.id
}

function refuse (why: string): PlexusError {
  return new PlexusError('PLX_ERR_LEDGER_RECEIPT_INVALID', [why])
}

/** The author signs a record (checked first). */
export function signRecord (author: PeerSigner, body: Omit<RecordBody, 'v' | 'author'>): SignedRecord {
  const r = RecordBodySchema.safeParse({ v: 1, author: author.peerId, ...body })
  if (!r.success) throw refuse(`malformed record: ${z.prettifyError(r.error).replace(/\n/g, ' ')}`)
  if (canonicalJson(r.data).length > MAX_RECORD_BYTES) throw refuse(`a record larger than ${MAX_RECORD_BYTES} bytes`)
  return { record: r.data, signature: signPayload(author, RECORD_DOMAIN, r.data) }
}

/** Validates a record: schema, size, the author's signature. Returns it with its canonical JSON. */
export function verifyRecordWithJson (value: unknown): { record: SignedRecord, json: string } {
  const r = SignedRecordSchema.safeParse(value)
  if (!r.success) throw refuse(`malformed record: ${z.prettifyError(r.error).replace(/\n/g, ' ')}`)
  const json = canonicalJson(r.data)
  if (json.length > MAX_RECORD_BYTES) throw refuse(`a record larger than ${MAX_RECORD_BYTES} bytes`)
  if (!isEd25519PeerId(r.data.record.author)) throw refuse(`author '${r.data.record.author}' is not an Ed25519 peer id`)
  if (!verifyByPeer(r.data.record.author, RECORD_DOMAIN, r.data.record, r.data.signature)) throw refuse(`the author's signature on record '${r.data.record.id}' does not verify`)
  return { record: r.data, json }
}

/** A receipt or a record, verified, with its id and canonical JSON (the bytes a log stores). */
export function verifyEntryWithJson (value: unknown): { entry: LedgerEntry, id: string, json: string, leafHash: Uint8Array } {
  if (value != null && typeof value === 'object' && 'record' in value) {
    const { record, json } = verifyRecordWithJson(value)
    return { entry: record, id: record.record.id, json, leafHash: leafHashOf(json) }
  }
  const { receipt, json, leafHash } = verifyReceiptWithJson(value)
  return { entry: receipt, id: receipt.body.id, json, leafHash }
}

export function verifyEntry (value: unknown): LedgerEntry {
  return verifyEntryWithJson(value).entry
}
