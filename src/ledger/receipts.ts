/**
 * Receipts: what a provider did for a requester, signed by both. The provider signs the body
 * (domain `receipt`); the requester countersigns the body together with the provider's signature
 * (domain `receipt-countersign`), so neither can later claim a different version and a receipt
 * cannot be assembled from two halves. Both parties are named by their libp2p Ed25519 peer ids,
 * whose embedded keys verify the signatures. A receipt without both valid signatures is refused
 * with `PLX_ERR_LEDGER_RECEIPT_INVALID`.
 *
 * Three kinds: `inference` (a community generation: model, tokens, and the seed and sampling
 * settings needed to re-execute it), `fl-round` (a federated learning round: samples trained) and
 * `stats-query` (a federated statistics query: rows and queries answered).
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { canonicalJson, signPayload, signingBytesOfJson, verifyBytesWithKey } from '../crypto/signing.js'
import { PlexusError } from '../errors.js'
import { MAX_RECEIPT_BYTES, RECEIPT_COUNTERSIGN_DOMAIN, RECEIPT_DOMAIN } from './constants.js'
import { isEd25519PeerId, keyOfPeer, verifyByPeer, type PeerSigner } from './peer-keys.js'

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in lowercase hex')
const PeerIdString = z.string().min(1).max(128).regex(/^[1-9A-HJ-NP-Za-km-z]+$/, 'a base58btc peer id')
const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
/** Milliseconds since the Unix epoch. */
const Time = z.number().int().min(0).max(8.64e15)
const Signature = z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'a 64-byte base64url signature')

const common = {
  v: z.literal(1),
  /** Unique per receipt (a log refuses a second receipt with the same id). */
  id: z.string().regex(/^[A-Za-z0-9_.:-]{8,128}$/, '8–128 letters, digits or _ . : -'),
  /** The job this work belonged to (a request id, an FL job, a query). */
  jobId: z.string().min(1).max(128),
  provider: PeerIdString,
  requester: PeerIdString,
  inputSha256: Sha256,
  outputSha256: Sha256,
  startedAt: Time,
  endedAt: Time
}

export const InferenceReceiptBodySchema = z.strictObject({
  ...common,
  kind: z.literal('inference'),
  modelSha256: Sha256,
  promptTokens: Count,
  completionTokens: Count,
  /** The generation settings that make the output reproducible by a third peer. */
  params: z.strictObject({
    seed: z.number().int().min(0).max(2 ** 32 - 1),
    temperature: z.number().min(0).max(2),
    topP: z.number().min(0).max(1),
    maxTokens: z.number().int().min(1).max(1_000_000)
  })
})

export const FlRoundReceiptBodySchema = z.strictObject({
  ...common,
  kind: z.literal('fl-round'),
  /** sha256 of the model (topology and starting weights) trained in this round. */
  modelSha256: Sha256,
  round: z.number().int().min(0).max(1_000_000),
  samples: Count
})

export const StatsQueryReceiptBodySchema = z.strictObject({
  ...common,
  kind: z.literal('stats-query'),
  /** Approved functions evaluated, and the rows they covered. */
  queries: z.number().int().min(1).max(1_000_000),
  rows: Count
})

export const ReceiptBodySchema = z.discriminatedUnion('kind', [InferenceReceiptBodySchema, FlRoundReceiptBodySchema, StatsQueryReceiptBodySchema])
export type ReceiptBody = z.output<typeof ReceiptBodySchema>
export type ReceiptKind = ReceiptBody['kind']
export type InferenceReceiptBody = z.output<typeof InferenceReceiptBodySchema>

export const SignedReceiptSchema = z.strictObject({
  body: ReceiptBodySchema,
  providerSignature: Signature,
  requesterSignature: Signature
})
export type SignedReceipt = z.output<typeof SignedReceiptSchema>

/** A receipt the provider has signed and the requester has yet to countersign. */
export interface ProviderSignedReceipt {
  body: ReceiptBody
  providerSignature: string
}

/** sha256 in hex, for the input/output hashes of a receipt. */
export function sha256Hex (data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex')
}

function refuse (why: string): PlexusError {
  return new PlexusError('PLX_ERR_LEDGER_RECEIPT_INVALID', [why])
}

function checkBody (body: ReceiptBody): void {
  if (!isEd25519PeerId(body.provider)) throw refuse(`provider '${body.provider}' is not an Ed25519 peer id`)
  if (!isEd25519PeerId(body.requester)) throw refuse(`requester '${body.requester}' is not an Ed25519 peer id`)
  if (body.provider === body.requester) throw refuse('the provider and the requester are the same peer')
  if (body.endedAt < body.startedAt) throw refuse('it ends before it starts')
}

function parseBody (body: unknown): ReceiptBody {
  const r = ReceiptBodySchema.safeParse(body)
  if (!r.success) throw refuse(`malformed: ${z.prettifyError(r.error).replace(/\n/g, ' ')}`)
  checkBody(r.data)
  return r.data
}

/** The provider signs a receipt body (checked first). */
export function signReceipt (provider: PeerSigner, body: ReceiptBody): ProviderSignedReceipt {
  const checked = parseBody(body)
  if (checked.provider !== provider.peerId) throw refuse('only the provider named in the receipt can sign it')
  return { body: checked, providerSignature: signPayload(provider, RECEIPT_DOMAIN, checked) }
}

/**
 * The requester countersigns, after checking the provider's signature and that the body says what
 * it saw (the caller compares hashes and counts before calling this).
 */
export function countersignReceipt (requester: PeerSigner, partial: ProviderSignedReceipt): SignedReceipt {
  const body = parseBody(partial.body)
  if (body.requester !== requester.peerId) throw refuse('only the requester named in the receipt can countersign it')
  if (!verifyByPeer(body.provider, RECEIPT_DOMAIN, body, partial.providerSignature)) throw refuse(`the provider's signature on receipt '${body.id}' does not verify`)
  const requesterSignature = signPayload(requester, RECEIPT_COUNTERSIGN_DOMAIN, { body, providerSignature: partial.providerSignature })
  return { body, providerSignature: partial.providerSignature, requesterSignature }
}

/** Canonical JSON of a receipt and of the two payloads its signatures cover, from one encoding of the body. */
function encodings (r: SignedReceipt): { bodyJson: string, counterJson: string, receiptJson: string } {
  // canonicalJson sorts keys: "body" < "providerSignature" < "requesterSignature".
  const bodyJson = canonicalJson(r.body)
  const sig = JSON.stringify(r.providerSignature)
  return {
    bodyJson,
    counterJson: `{"body":${bodyJson},"providerSignature":${sig}}`,
    receiptJson: `{"body":${bodyJson},"providerSignature":${sig},"requesterSignature":${JSON.stringify(r.requesterSignature)}}`
  }
}

/**
 * Validates a receipt from anywhere (a peer, the store, a file): schema, peer ids, both
 * signatures. Returns the typed receipt with its canonical JSON (the bytes a log stores), or throws
 * `PLX_ERR_LEDGER_RECEIPT_INVALID` saying why.
 */
export function verifyReceiptWithJson (value: unknown): { receipt: SignedReceipt, json: string } {
  if (value == null || typeof value !== 'object') throw refuse('not an object')
  const r = SignedReceiptSchema.safeParse(value)
  if (!r.success) throw refuse(`malformed: ${z.prettifyError(r.error).replace(/\n/g, ' ')}`)
  const receipt = r.data
  checkBody(receipt.body)
  // The schema bounds every field, so this only guards against the schema growing unbounded.
  const { bodyJson, counterJson, receiptJson } = encodings(receipt)
  if (receiptJson.length > MAX_RECEIPT_BYTES) throw refuse(`larger than ${MAX_RECEIPT_BYTES} bytes`)
  const provider = keyOfPeer(receipt.body.provider)!
  const requester = keyOfPeer(receipt.body.requester)!
  if (!verifyBytesWithKey(provider, signingBytesOfJson(RECEIPT_DOMAIN, bodyJson), receipt.providerSignature)) {
    throw refuse(`the provider's signature on receipt '${receipt.body.id}' does not verify`)
  }
  if (!verifyBytesWithKey(requester, signingBytesOfJson(RECEIPT_COUNTERSIGN_DOMAIN, counterJson), receipt.requesterSignature)) {
    throw refuse(`the requester's countersignature on receipt '${receipt.body.id}' does not verify`)
  }
  return { receipt, json: receiptJson }
}

/** `verifyReceiptWithJson` without the encoding. */
export function verifyReceipt (value: unknown): SignedReceipt {
  return verifyReceiptWithJson(value).receipt
}

/** The exact bytes a receipt contributes to the log: its canonical JSON. */
export function receiptBytes (receipt: SignedReceipt): Uint8Array {
  return new TextEncoder().encode(encodings(receipt).receiptJson)
}
