/**
 * The messages of secure aggregation: plain JSON-serialisable objects (bytes as base64url without
 * padding), with zod schemas whose every string and array is bounded. Clients send the `*Message`
 * types marked "client →"; the coordinator sends those marked "→ client(s)".
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { MAX_ID_LENGTH, type ResolvedConfig } from './config.js'
import { KEY_BYTES, SECRET_COMMITMENT_BYTES, SHARE_COMMITMENT_BYTES, sealedLength } from './primitives.js'
import { SHARE_BYTES } from './shamir.js'

/** Round 0, client → coordinator: the client's two X25519 public keys. */
export interface AdvertiseKeysMessage {
  type: 'secagg/advertise-keys'
  session: string
  client: string
  /** Public key for encrypting secret shares to this client (c_u^PK). */
  cPublicKey: string
  /** Public key for agreeing pairwise masks (s_u^PK). */
  sPublicKey: string
}

export interface RosterEntry {
  client: string
  cPublicKey: string
  sPublicKey: string
}

/** Round 0, coordinator → every client of U1: the clients whose keys arrived, sorted by id. */
export interface RosterMessage {
  type: 'secagg/roster'
  session: string
  clients: RosterEntry[]
}

/**
 * Round 1, client → coordinator: the client's secret shares, each encrypted for its holder.
 * Per-holder data is packed in roster order (both sides know the order from the roster): no ids.
 */
export interface ShareKeysMessage {
  type: 'secagg/share-keys'
  session: string
  client: string
  /** SHA-256 commitment to the self-mask seed b_u (32 bytes), checked after reconstruction. */
  seedDigest: string
  /**
   * For each holder of the client's shares — its neighbours and itself, in roster order — the
   * commitments to the share of b_u and to the share of s_u^SK it got (16 + 16 bytes), concatenated.
   */
  commitments: string
  /**
   * For each neighbour, in roster order, AES-256-GCM(iv ‖ share of b_u ‖ share of s_u^SK ‖ tag),
   * 94 bytes, concatenated.
   */
  ciphertexts: string
}

/** Round 1, coordinator → one client: the ciphertexts addressed to it. Their senders form its view of U2. */
export interface EncryptedSharesMessage {
  type: 'secagg/encrypted-shares'
  session: string
  /** The recipient. */
  client: string
  /** The senders, in roster order. */
  from: string[]
  /** Their ciphertexts for the recipient (94 bytes each), concatenated in the order of `from`. */
  ciphertexts: string
}

/** Round 2, client → coordinator: y_u, the quantised input plus all masks, mod 2³² (little-endian uint32). */
export interface MaskedInputMessage {
  type: 'secagg/masked-input'
  session: string
  client: string
  vector: string
}

/** Round 3, coordinator → every client of U3: who sent a masked input, and who shared keys but did not. */
export interface UnmaskRequestMessage {
  type: 'secagg/unmask-request'
  session: string
  /** U3. */
  survivors: string[]
  /** U2 \ U3. */
  dropped: string[]
}

/**
 * Round 3, client → coordinator: its shares of b_v for the survivors v whose shares it holds (itself
 * included), and of s_v^SK for its dropped neighbours, each list in roster order, 33 bytes per
 * share, concatenated.
 */
export interface UnmaskSharesMessage {
  type: 'secagg/unmask-shares'
  session: string
  client: string
  seedShares: string
  keyShares: string
}

export type ClientMessage = AdvertiseKeysMessage | ShareKeysMessage | MaskedInputMessage | UnmaskSharesMessage

/** Base64url (no padding) of bytes. */
export function toBase64url (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

/** Characters of the base64url encoding (no padding) of `n` bytes. */
export function base64urlLength (n: number): number {
  return Math.ceil(n * 4 / 3)
}

/**
 * Decodes base64url that must hold exactly `n` bytes; null otherwise. Node's decoder skips
 * characters outside the alphabet, so a string of the right length with any such character
 * decodes to fewer bytes and is refused here.
 */
export function fromBase64url (s: string, n: number): Buffer | null {
  if (s.length !== base64urlLength(n)) return null
  const bytes = Buffer.from(s, 'base64url')
  return bytes.length === n ? bytes : null
}

const Id = z.string().min(1).max(MAX_ID_LENGTH)
const BASE64URL = /^[A-Za-z0-9_-]*$/
const b64 = (n: number): z.ZodString => z.string().length(base64urlLength(n)).regex(BASE64URL)
/** Base64url of at most `n` bytes (the exact length is checked against the roster). */
const packed = (n: number): z.ZodString => z.string().max(base64urlLength(n)).regex(BASE64URL)
const Key = b64(KEY_BYTES)
/** Plaintext of a share ciphertext: share of b_u ‖ share of s_u^SK. */
export const SHARE_PLAINTEXT_BYTES = 2 * SHARE_BYTES
export const CIPHERTEXT_BYTES = sealedLength(SHARE_PLAINTEXT_BYTES)
/** Bytes of the two share commitments one holder gets. */
export const COMMITMENT_PAIR_BYTES = 2 * SHARE_COMMITMENT_BYTES

/** Schemas for one configuration (the vector length and client bound come from it). */
export function messageSchemas (config: ResolvedConfig): {
  advertiseKeys: z.ZodType<AdvertiseKeysMessage>
  roster: z.ZodType<RosterMessage>
  shareKeys: z.ZodType<ShareKeysMessage>
  encryptedShares: z.ZodType<EncryptedSharesMessage>
  maskedInput: z.ZodType<MaskedInputMessage>
  unmaskRequest: z.ZodType<UnmaskRequestMessage>
  unmaskShares: z.ZodType<UnmaskSharesMessage>
} {
  const session = z.literal(config.session)
  const n = config.maxClients
  const many = <T extends z.ZodType>(item: T): z.ZodArray<T> => z.array(item).max(n)
  return {
    advertiseKeys: z.strictObject({ type: z.literal('secagg/advertise-keys'), session, client: Id, cPublicKey: Key, sPublicKey: Key }),
    roster: z.strictObject({
      type: z.literal('secagg/roster'),
      session,
      clients: many(z.strictObject({ client: Id, cPublicKey: Key, sPublicKey: Key }))
    }),
    shareKeys: z.strictObject({
      type: z.literal('secagg/share-keys'),
      session,
      client: Id,
      seedDigest: b64(SECRET_COMMITMENT_BYTES),
      commitments: packed(n * COMMITMENT_PAIR_BYTES),
      ciphertexts: packed(n * CIPHERTEXT_BYTES)
    }),
    encryptedShares: z.strictObject({
      type: z.literal('secagg/encrypted-shares'),
      session,
      client: Id,
      from: many(Id),
      ciphertexts: packed(n * CIPHERTEXT_BYTES)
    }),
    // The vector's characters are checked by decoding (WordVector.addEncoded): a regex over megabytes is slow.
    maskedInput: z.strictObject({ type: z.literal('secagg/masked-input'), session, client: Id, vector: z.string().length(base64urlLength(config.vectorBytes)) }),
    unmaskRequest: z.strictObject({ type: z.literal('secagg/unmask-request'), session, survivors: many(Id), dropped: many(Id) }),
    unmaskShares: z.strictObject({
      type: z.literal('secagg/unmask-shares'),
      session,
      client: Id,
      seedShares: packed(n * SHARE_BYTES),
      keyShares: packed(n * SHARE_BYTES)
    })
  }
}

/** Splits `bytes` into `count` pieces of `size` bytes; null unless it has exactly that length. */
export function unpack (bytes: Uint8Array | null, count: number, size: number): Uint8Array[] | null {
  if (bytes == null || bytes.length !== count * size) return null
  return Array.from({ length: count }, (_, i) => bytes.subarray(i * size, (i + 1) * size))
}

/** Decodes a packed base64url string of `count` items of `size` bytes; null when it is not that. */
export function unpackBase64url (s: string, count: number, size: number): Uint8Array[] | null {
  return unpack(fromBase64url(s, count * size), count, size)
}

/** The most bytes any client message of this configuration can take as JSON (for transport limits). */
export function maxClientMessageBytes (config: ResolvedConfig): number {
  const n = config.maxClients
  const shares = base64urlLength(n * COMMITMENT_PAIR_BYTES) + base64urlLength(n * CIPHERTEXT_BYTES)
  return 1024 + Math.max(base64urlLength(config.vectorBytes), shares, 2 * base64urlLength(n * SHARE_BYTES))
}

/** A short description of the first problem zod found, for error messages. */
export function describeIssue (error: z.ZodError): string {
  const issue = error.issues[0]
  if (issue == null) return 'invalid message'
  const path = issue.path.join('.')
  return path.length > 0 ? `${path}: ${issue.message}` : issue.message
}
