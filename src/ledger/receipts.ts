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
import { createHash, verify as verifySignature, type KeyObject } from 'node:crypto'
import { z } from 'zod'
import { SIGNATURE_CHARS, canonicalJson, decodeSignature, signPayload, signingPrefix } from '../crypto/signing.js'
import { leafHashOfFramed } from './merkle.js'
import { PlexusError } from '../errors.js'
import { MAX_RECEIPT_BYTES, RECEIPT_COUNTERSIGN_DOMAIN, RECEIPT_DOMAIN } from './constants.js'
import { keyOfPeer, verifyByPeer, type PeerSigner } from './peer-keys.js'

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

/** Checks what the schema cannot; returns the two parties' public keys. */
function checkBody (body: ReceiptBody): { provider: KeyObject, requester: KeyObject } {
  const provider = keyOfPeer(body.provider)
  if (provider == null) throw refuse(`provider '${body.provider}' is not an Ed25519 peer id`)
  const requester = keyOfPeer(body.requester)
  if (requester == null) throw refuse(`requester '${body.requester}' is not an Ed25519 peer id`)
  if (body.provider === body.requester) throw refuse('the provider and the requester are the same peer')
  if (body.endedAt < body.startedAt) throw refuse('it ends before it starts')
  return { provider, requester }
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
  return { body: inCanonicalOrder(checked), providerSignature: signPayload(provider, RECEIPT_DOMAIN, checked) }
}

/**
 * The same body with its keys in canonical (sorted) order, so the receipts this node makes travel
 * in the order verifiers encode them in (see `verifyReceiptWithJson`'s fast path).
 */
function inCanonicalOrder (body: ReceiptBody): ReceiptBody {
  return JSON.parse(canonicalJson(body)) as ReceiptBody
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
  return { body: inCanonicalOrder(body), providerSignature: partial.providerSignature, requesterSignature }
}

/** The canonical JSON of a receipt, from one encoding of its body. */
function receiptJsonOf (r: SignedReceipt, wellFormed = false): string {
  // canonicalJson sorts keys: "body" < "providerSignature" < "requesterSignature".
  const bodyJson = wellFormed ? wellFormedBodyJson(r.body) : canonicalJson(r.body)
  return `{"body":${bodyJson},"providerSignature":${JSON.stringify(r.providerSignature)},"requesterSignature":${JSON.stringify(r.requesterSignature)}}`
}

// ---------------------------------------------------------------------------------------------
// A fast path for the schema. Appending verifies every receipt, and zod cost about a third of what
// a log adds to the two signature checks. `isWellFormedReceipt` accepts only what
// `SignedReceiptSchema` accepts (plain objects with exactly the schema's keys, the same bounds and
// patterns; a unit test compares the two on many mutations); anything it does not accept goes to
// zod, which decides and explains.

const SHA256_RE = /^[0-9a-f]{64}$/
const ID_RE = /^[A-Za-z0-9_.:-]{8,128}$/
const PEER_RE = /^[1-9A-HJ-NP-Za-km-z]+$/
const SIGNATURE_RE = /^[A-Za-z0-9_-]{86}$/
const COMMON_KEYS = ['v', 'id', 'jobId', 'provider', 'requester', 'inputSha256', 'outputSha256', 'startedAt', 'endedAt', 'kind']
const KIND_KEYS: Record<string, readonly string[]> = {
  inference: [...COMMON_KEYS, 'modelSha256', 'promptTokens', 'completionTokens', 'params'],
  'fl-round': [...COMMON_KEYS, 'modelSha256', 'round', 'samples'],
  'stats-query': [...COMMON_KEYS, 'queries', 'rows']
}
const PARAMS_KEYS = ['seed', 'temperature', 'topP', 'maxTokens']

function plainObject (v: unknown): v is Record<string, unknown> {
  if (v == null || typeof v !== 'object' || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v) as unknown
  return proto === Object.prototype || proto === null
}

/** Exactly these own keys (each once, as JSON gives them). */
function hasExactly (o: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(o)
  if (own.length !== keys.length) return false
  for (const k of keys) if (!Object.hasOwn(o, k)) return false
  return true
}

function str (v: unknown, re: RegExp, min = 0, max = Infinity): boolean {
  return typeof v === 'string' && v.length >= min && v.length <= max && re.test(v)
}

function int (v: unknown, min: number, max: number): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max
}

function num (v: unknown, min: number, max: number): boolean {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max
}

const ANY = /^/
const TIME_MAX = 8.64e15

const SORTED_KIND_KEYS: Record<string, readonly string[]> = Object.fromEntries(Object.entries(KIND_KEYS).map(([k, keys]) => [k, [...keys].sort()]))
const SORTED_PARAMS_KEYS = [...PARAMS_KEYS].sort()

/**
 * `canonicalJson` of a body `isWellFormedReceipt` accepted: its keys are known, so they are taken
 * in their sorted order instead of being listed and sorted (same bytes; a unit test compares).
 */
function wellFormedBodyJson (body: ReceiptBody): string {
  const b = body as unknown as Record<string, unknown>
  let out = '{'
  for (const k of SORTED_KIND_KEYS[body.kind]!) {
    const v = b[k]
    let json: string
    if (k === 'params') {
      const p = v as Record<string, unknown>
      json = '{'
      for (const pk of SORTED_PARAMS_KEYS) json += `${json.length === 1 ? '' : ','}"${pk}":${JSON.stringify(p[pk])}`
      json += '}'
    } else {
      json = JSON.stringify(v)
    }
    out += `${out.length === 1 ? '' : ','}"${k}":${json}`
  }
  return `${out}}`
}

/** True only for values `SignedReceiptSchema` accepts as they are (see above). */
export function isWellFormedReceipt (value: unknown): value is SignedReceipt {
  if (!plainObject(value) || !hasExactly(value, ['body', 'providerSignature', 'requesterSignature'])) return false
  if (!str(value.providerSignature, SIGNATURE_RE) || !str(value.requesterSignature, SIGNATURE_RE)) return false
  const b = value.body
  if (!plainObject(b) || typeof b.kind !== 'string' || !Object.hasOwn(KIND_KEYS, b.kind) || !hasExactly(b, KIND_KEYS[b.kind]!)) return false
  if (b.v !== 1 || !str(b.id, ID_RE) || !str(b.jobId, ANY, 1, 128)) return false
  if (!str(b.provider, PEER_RE, 1, 128) || !str(b.requester, PEER_RE, 1, 128)) return false
  if (!str(b.inputSha256, SHA256_RE) || !str(b.outputSha256, SHA256_RE)) return false
  if (!int(b.startedAt, 0, TIME_MAX) || !int(b.endedAt, 0, TIME_MAX)) return false
  switch (b.kind) {
    case 'inference': {
      const p = b.params
      return str(b.modelSha256, SHA256_RE) && int(b.promptTokens, 0, Number.MAX_SAFE_INTEGER) && int(b.completionTokens, 0, Number.MAX_SAFE_INTEGER) &&
        plainObject(p) && hasExactly(p, PARAMS_KEYS) && int(p.seed, 0, 2 ** 32 - 1) && num(p.temperature, 0, 2) && num(p.topP, 0, 1) && int(p.maxTokens, 1, 1_000_000)
    }
    case 'fl-round':
      return str(b.modelSha256, SHA256_RE) && int(b.round, 0, 1_000_000) && int(b.samples, 0, Number.MAX_SAFE_INTEGER)
    default:
      return int(b.queries, 1, 1_000_000) && int(b.rows, 0, Number.MAX_SAFE_INTEGER)
  }
}

/** Own keys in exactly this order (a parsed JSON object keeps the order its sender wrote). */
function keysInOrder (o: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(o)
  if (own.length !== keys.length) return false
  for (let i = 0; i < keys.length; i++) if (own[i] !== keys[i]) return false
  return true
}

/**
 * A well-formed receipt whose keys already come in canonical order (as this node's receipts are
 * sent): `JSON.stringify` then writes exactly its canonical JSON, since every value is a string,
 * an integer or a finite number that both encode alike (a unit test compares).
 */
function inCanonicalKeyOrder (r: SignedReceipt): boolean {
  const b = r.body as unknown as Record<string, unknown>
  return keysInOrder(r as unknown as Record<string, unknown>, RECEIPT_KEYS) && keysInOrder(b, SORTED_KIND_KEYS[r.body.kind]!) &&
    (r.body.kind !== 'inference' || keysInOrder(r.body.params, SORTED_PARAMS_KEYS))
}

const RECEIPT_KEYS = ['body', 'providerSignature', 'requesterSignature']

// The canonical bytes of a receipt are `{"body":` BODY `,"providerSignature":"` S1
// `","requesterSignature":"` S2 `"}`, with S1 and S2 of fixed length; the provider signed
// prefix(receipt) BODY, the requester prefix(receipt-countersign) `{"body":` BODY
// `,"providerSignature":"` S1 `"}`, and the leaf hash covers 0x00 and the whole. So the receipt is
// encoded to UTF-8 once, into a scratch buffer with room in front, and the three byte strings are
// views of it with the right prefix written before (appending runs this per receipt; it is
// synchronous, so one buffer serves every call).
const BODY_AT = '{"body":'.length
const PROVIDER_SIGNATURE_AT = ',"providerSignature":"'.length
const TAIL_BYTES = PROVIDER_SIGNATURE_AT + SIGNATURE_CHARS + '","requesterSignature":"'.length + SIGNATURE_CHARS + '"}'.length
const PROVIDER_PREFIX = signingPrefix(RECEIPT_DOMAIN)
const REQUESTER_OPENING = `${signingPrefix(RECEIPT_COUNTERSIGN_DOMAIN)}{"body":`
const ROOM = 64
const scratch = Buffer.alloc(ROOM + 3 * MAX_RECEIPT_BYTES)
const providerSignatureBytes = Buffer.alloc(64)
const requesterSignatureBytes = Buffer.alloc(64)

/** Checks both signatures of a receipt from its canonical JSON; returns its leaf hash. */
function checkSignatures (receipt: SignedReceipt, receiptJson: string, provider: KeyObject, requester: KeyObject): Uint8Array {
  const end = ROOM + scratch.write(receiptJson, ROOM, 'utf8')
  const bodyEnd = end - TAIL_BYTES
  scratch[ROOM - 1] = 0x00
  const leaf = leafHashOfFramed(scratch.subarray(ROOM - 1, end))
  const providerSignature = decodeSignature(receipt.providerSignature, providerSignatureBytes)
  const requesterSignature = decodeSignature(receipt.requesterSignature, requesterSignatureBytes)
  if (providerSignature == null || requesterSignature == null) throw refuse(`a signature is not ${SIGNATURE_CHARS} base64url characters`)
  // The provider's bytes: its prefix (over the receipt's opening), then the body.
  scratch.write(PROVIDER_PREFIX, ROOM + BODY_AT - PROVIDER_PREFIX.length, 'latin1')
  if (!verifySignature(null, scratch.subarray(ROOM + BODY_AT - PROVIDER_PREFIX.length, bodyEnd), provider, providerSignature)) {
    throw refuse(`the provider's signature on receipt '${receipt.body.id}' does not verify`)
  }
  // The requester's bytes: its prefix, the opening again, the receipt up to the provider's signature, closed.
  const counterEnd = bodyEnd + PROVIDER_SIGNATURE_AT + SIGNATURE_CHARS + 1
  scratch.write(REQUESTER_OPENING, ROOM + BODY_AT - REQUESTER_OPENING.length, 'latin1')
  scratch[counterEnd] = 0x7d // '}'
  if (!verifySignature(null, scratch.subarray(ROOM + BODY_AT - REQUESTER_OPENING.length, counterEnd + 1), requester, requesterSignature)) {
    throw refuse(`the requester's countersignature on receipt '${receipt.body.id}' does not verify`)
  }
  return leaf
}

/**
 * Validates a receipt from anywhere (a peer, the store, a file): schema, peer ids, both
 * signatures. Returns the typed receipt with its canonical JSON (the bytes a log stores) and the
 * leaf hash of those bytes, or throws `PLX_ERR_LEDGER_RECEIPT_INVALID` saying why.
 */
export function verifyReceiptWithJson (value: unknown): { receipt: SignedReceipt, json: string, leafHash: Uint8Array } {
  if (value == null || typeof value !== 'object') throw refuse('not an object')
  let receipt: SignedReceipt
  const wellFormed = isWellFormedReceipt(value)
  if (wellFormed) {
    receipt = value
  } else {
    const r = SignedReceiptSchema.safeParse(value)
    if (!r.success) throw refuse(`malformed: ${z.prettifyError(r.error).replace(/\n/g, ' ')}`)
    receipt = r.data
  }
  const { provider, requester } = checkBody(receipt.body)
  const json = wellFormed && inCanonicalKeyOrder(receipt) ? JSON.stringify(receipt) : receiptJsonOf(receipt, wellFormed)
  // The schema bounds every field, so this only guards against the schema growing unbounded.
  if (json.length > MAX_RECEIPT_BYTES) throw refuse(`larger than ${MAX_RECEIPT_BYTES} bytes`)
  return { receipt, json, leafHash: checkSignatures(receipt, json, provider, requester) }
}

/** `verifyReceiptWithJson` without the encoding. */
export function verifyReceipt (value: unknown): SignedReceipt {
  return verifyReceiptWithJson(value).receipt
}

/** The exact bytes a receipt contributes to the log: its canonical JSON. */
export function receiptBytes (receipt: SignedReceipt): Uint8Array {
  return new TextEncoder().encode(receiptJsonOf(receipt))
}
