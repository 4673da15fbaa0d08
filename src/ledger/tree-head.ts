/**
 * Signed tree heads and signed consistency proofs: the two statements a log makes about itself.
 *
 * A head says "my log had `size` entries with Merkle root `root` at `timestamp`", signed by the
 * log's peer (domain `tree-head`). A consistency answer says "the head of `first` is a prefix of
 * the head of `second`, and here is the RFC 9162 proof", signed too (domain `consistency-proof`):
 * an honest log never signs a proof that fails, so a signed failing proof for two signed heads is
 * evidence anyone can check (see heads.ts).
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { canonicalJson, signPayload } from '../crypto/signing.js'
import { PlexusError, type ErrorCode } from '../errors.js'
import { CONSISTENCY_DOMAIN, MAX_HEAD_BYTES, MAX_PROOF_HASHES, TREE_HEAD_DOMAIN } from './constants.js'
import { fromHex, verifyConsistency } from './merkle.js'
import { isEd25519PeerId, verifyByPeer, type PeerSigner } from './peer-keys.js'

export const HashHex = z.string().regex(/^[0-9a-f]{64}$/, 'a 32-byte hash in lowercase hex')
const PeerIdString = z.string().min(1).max(128).regex(/^[1-9A-HJ-NP-Za-km-z]+$/, 'a base58btc peer id')
const Size = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const Signature = z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'a 64-byte base64url signature')

export const TreeHeadSchema = z.strictObject({
  v: z.literal(1),
  /** The peer whose log this is (and who signs). */
  log: PeerIdString,
  size: Size,
  root: HashHex,
  /** Milliseconds since the Unix epoch. */
  timestamp: z.number().int().min(0).max(8.64e15)
})
export type TreeHead = z.output<typeof TreeHeadSchema>

export const SignedTreeHeadSchema = z.strictObject({ head: TreeHeadSchema, signature: Signature })
export type SignedTreeHead = z.output<typeof SignedTreeHeadSchema>

const HeadRef = z.strictObject({ size: Size, root: HashHex })
export type HeadRef = z.output<typeof HeadRef>

export const ConsistencyStatementSchema = z.strictObject({
  v: z.literal(1),
  log: PeerIdString,
  first: HeadRef,
  second: HeadRef,
  proof: z.array(HashHex).max(MAX_PROOF_HASHES)
})
export type ConsistencyStatement = z.output<typeof ConsistencyStatementSchema>

export const SignedConsistencyProofSchema = z.strictObject({ statement: ConsistencyStatementSchema, signature: Signature })
export type SignedConsistencyProof = z.output<typeof SignedConsistencyProofSchema>

export function signTreeHead (signer: PeerSigner, head: Omit<TreeHead, 'v' | 'log'>): SignedTreeHead {
  const full: TreeHead = { v: 1, log: signer.peerId, size: head.size, root: head.root, timestamp: head.timestamp }
  return { head: full, signature: signPayload(signer, TREE_HEAD_DOMAIN, full) }
}

export function signConsistency (signer: PeerSigner, first: HeadRef, second: HeadRef, proof: string[]): SignedConsistencyProof {
  const statement: ConsistencyStatement = { v: 1, log: signer.peerId, first, second, proof }
  return { statement, signature: signPayload(signer, CONSISTENCY_DOMAIN, statement) }
}

function parseBounded<T> (schema: z.ZodType<T>, value: unknown, code: ErrorCode, what: string): T {
  let size: number
  try {
    size = canonicalJson(value).length
  } catch (err) {
    throw new PlexusError(code, [`${what} is not plain JSON: ${(err as Error).message}`])
  }
  if (size > MAX_HEAD_BYTES) throw new PlexusError(code, [`${what} is larger than ${MAX_HEAD_BYTES} bytes`])
  const r = schema.safeParse(value)
  if (!r.success) throw new PlexusError(code, [`malformed ${what}: ${z.prettifyError(r.error).replace(/\n/g, ' ')}`])
  return r.data
}

/** Validates a signed tree head from anywhere; throws `PLX_ERR_LEDGER_HEAD_INVALID`. */
export function verifyTreeHead (value: unknown): SignedTreeHead {
  const sth = parseBounded(SignedTreeHeadSchema, value, 'PLX_ERR_LEDGER_HEAD_INVALID', 'tree head')
  if (!isEd25519PeerId(sth.head.log)) throw new PlexusError('PLX_ERR_LEDGER_HEAD_INVALID', [`'${sth.head.log}' is not an Ed25519 peer id`])
  if (!verifyByPeer(sth.head.log, TREE_HEAD_DOMAIN, sth.head, sth.signature)) {
    throw new PlexusError('PLX_ERR_LEDGER_HEAD_INVALID', [`the signature of ${sth.head.log}'s head at size ${sth.head.size} does not verify`])
  }
  return sth
}

/**
 * Validates the form and signature of a signed consistency proof (not whether the proof holds:
 * that is `consistencyHolds`). Throws `PLX_ERR_LEDGER_PROOF_INVALID`.
 */
export function verifyConsistencySignature (value: unknown): SignedConsistencyProof {
  const scp = parseBounded(SignedConsistencyProofSchema, value, 'PLX_ERR_LEDGER_PROOF_INVALID', 'consistency proof')
  if (!verifyByPeer(scp.statement.log, CONSISTENCY_DOMAIN, scp.statement, scp.signature)) {
    throw new PlexusError('PLX_ERR_LEDGER_PROOF_INVALID', [`the consistency proof is not signed by the log ${scp.statement.log}`])
  }
  return scp
}

/** Does the statement's RFC 9162 proof hold? */
export function consistencyHolds (s: ConsistencyStatement): boolean {
  return verifyConsistency(s.first.size, s.second.size, s.proof.map(fromHex), fromHex(s.first.root), fromHex(s.second.root))
}

export function headRef (h: TreeHead): HeadRef {
  return { size: h.size, root: h.root }
}
