/**
 * The cryptographic building blocks of secure aggregation, all from node:crypto: X25519 key
 * agreement, HKDF-SHA256, AES-256-GCM for the secret shares and SHA-256 commitments (the
 * AES-256-CTR mask PRG is in words.ts).
 *
 * @packageDocumentation
 */
import {
  createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman,
  generateKeyPairSync, hkdfSync, randomBytes, type JsonWebKey, type KeyObject
} from 'node:crypto'
const LABEL = 'plexus-secagg/v1'
/** Raw X25519 key size. */
export const KEY_BYTES = 32
/** Bytes of the IV and the tag AES-256-GCM adds to a share ciphertext. */
const GCM_IV = 12
const GCM_TAG = 16
/** Bytes of a per-share commitment (truncated SHA-256). */
export const SHARE_COMMITMENT_BYTES = 16
/** Bytes of a secret commitment (SHA-256). */
export const SECRET_COMMITMENT_BYTES = 32

export interface X25519KeyPair {
  privateKey: KeyObject
  /** Raw 32-byte private key (the secret a client shares). */
  privateRaw: Uint8Array
  /** Raw 32-byte public key. */
  publicKey: Uint8Array
}

function fromJwkField (value: unknown): Uint8Array {
  const raw = typeof value === 'string' ? Buffer.from(value, 'base64url') : Buffer.alloc(0)
  if (raw.length !== KEY_BYTES) throw new Error('unexpected JWK of an X25519 key')
  return new Uint8Array(raw)
}

/**
 * A fresh X25519 key pair. The keys leave generateKeyPairSync as JWK and the private key is
 * imported again, so that no key object made by generateKeyPairSync is ever exported: Node 20
 * deadlocks exporting such a key as JWK when a garbage collection runs meanwhile (the collected
 * key-generation job locks the key's mutex, which the export holds) — this module's benchmark hit
 * it. (JWK rather than DER: OpenSSL 3's DER decoder costs ~0.35 ms per private key, JWK ~35 µs.)
 */
export function generateX25519 (): X25519KeyPair {
  // @types/node has no overload for JWK encodings; Node returns the two JWK objects.
  const { privateKey, publicKey } = generateKeyPairSync('x25519', { publicKeyEncoding: { format: 'jwk' }, privateKeyEncoding: { format: 'jwk' } } as never) as unknown as { privateKey: JsonWebKey, publicKey: JsonWebKey }
  return {
    privateKey: createPrivateKey({ key: privateKey, format: 'jwk' }),
    privateRaw: fromJwkField(privateKey.d),
    publicKey: fromJwkField(publicKey.x)
  }
}

/** The raw 32-byte public key that belongs to an X25519 private key object. */
export function publicKeyOf (privateKey: KeyObject): Uint8Array {
  return fromJwkField(createPublicKey(privateKey).export({ format: 'jwk' }).x)
}

/**
 * An X25519 private key object from its raw 32 bytes. JWK import wants the public key too but
 * does not check it against the private key: compare {@link publicKeyOf} when that matters.
 */
export function privateKeyFromRaw (raw: Uint8Array, publicRaw: Uint8Array): KeyObject {
  const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url')
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64(raw), x: b64(publicRaw) }, format: 'jwk' })
}

/** An X25519 public key object from its raw 32 bytes. */
export function publicKeyFromRaw (raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url') }, format: 'jwk' })
}

/**
 * X25519 shared secret. Throws for a public key of small order (the shared secret would be all
 * zeros, which OpenSSL refuses).
 */
export function agree (privateKey: KeyObject, publicKey: KeyObject): Buffer {
  return diffieHellman({ privateKey, publicKey })
}

/** HKDF-SHA256 of a shared secret into a 32-byte key bound to the session, a purpose and a pair. */
export function deriveKey (secret: Uint8Array, session: string, purpose: string, a: string, b: string): Buffer {
  const [lo, hi] = a < b ? [a, b] : [b, a]
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from(session), JSON.stringify([LABEL, purpose, lo, hi]), 32))
}

/** The key that expands a client's self-mask from its seed b_u. */
export function selfMaskKey (seed: Uint8Array, session: string, client: string): Buffer {
  return Buffer.from(hkdfSync('sha256', seed, Buffer.from(session), JSON.stringify([LABEL, 'self-mask', client]), 32))
}

function shareAad (session: string, from: string, to: string): Buffer {
  return Buffer.from(JSON.stringify([LABEL, 'share', session, from, to]))
}

/** Bytes of a share ciphertext for a plaintext of `n` bytes. */
export function sealedLength (n: number): number {
  return GCM_IV + n + GCM_TAG
}

/** AES-256-GCM with a random IV; the session and both ends are authenticated. Returns iv ‖ ct ‖ tag. */
export function seal (key: Uint8Array, plaintext: Uint8Array, session: string, from: string, to: string): Uint8Array {
  const iv = randomBytes(GCM_IV)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(shareAad(session, from, to))
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return new Uint8Array(Buffer.concat([iv, body, cipher.getAuthTag()]))
}

/** Opens what {@link seal} made; null when it was altered, truncated or made for someone else. */
export function open (key: Uint8Array, sealed: Uint8Array, session: string, from: string, to: string): Uint8Array | null {
  if (sealed.length < GCM_IV + GCM_TAG) return null
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, GCM_IV))
    decipher.setAAD(shareAad(session, from, to))
    decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG))
    return new Uint8Array(Buffer.concat([decipher.update(sealed.subarray(GCM_IV, sealed.length - GCM_TAG)), decipher.final()]))
  } catch {
    return null
  }
}

/**
 * Commitment to one share that a dealer gives the coordinator, so that a holder who reports a
 * different share in the unmasking round is caught and named. The share is a uniformly random
 * 257-bit field element to anyone holding fewer than t shares, so the hash hides it.
 */
export function commitShare (session: string, dealer: string, holder: string, kind: 'b' | 's', share: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(JSON.stringify([LABEL, 'share-commitment', session, dealer, holder, kind]))
    .update(share).digest().subarray(0, SHARE_COMMITMENT_BYTES))
}

/** Commitment to a client's self-mask seed b_u (32 random bytes, so the hash hides it). */
export function commitSeed (session: string, client: string, seed: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(JSON.stringify([LABEL, 'seed-commitment', session, client])).update(seed).digest())
}

/** Constant-size equality check of two byte strings. */
export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}
