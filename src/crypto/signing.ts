/**
 * Canonical encoding and domain-separated Ed25519 signatures, shared by everything a node signs
 * (capability adverts now; receipts, log heads and votes later).
 *
 * A signature covers `plexus:<domain>:v1\n` followed by the canonical JSON of the payload, so a
 * signature made for one purpose can never be replayed as another.
 *
 * @packageDocumentation
 */
import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto'

/**
 * JSON with object keys sorted (recursively) and no whitespace. Only plain JSON values are
 * allowed: `undefined`, functions, non-finite numbers and bigints are refused, so two parties
 * always produce the same bytes for the same value.
 */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number')
    return JSON.stringify(value)
  }
  // Plain loops and string concatenation: this runs on every receipt a ledger appends.
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i])
    return `${out}]`
  }
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>
    // The default sort orders by UTF-16 code units, the same order as `<` on strings.
    const keys = Object.keys(record).sort()
    let out = '{'
    for (const k of keys) {
      const v = record[k]
      if (v === undefined) continue
      out += `${out.length === 1 ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`
    }
    return `${out}}`
  }
  throw new TypeError(`canonicalJson: cannot encode a ${typeof value}`)
}

/** The exact bytes signed for `payload` in `domain`. */
export function signingBytes (domain: string, payload: unknown): Uint8Array {
  return signingBytesOfJson(domain, canonicalJson(payload))
}

/**
 * `signingBytes` for a payload whose canonical JSON the caller already has (a hot path that
 * signs or checks several nested parts of one object encodes it once).
 */
export function signingBytesOfJson (domain: string, json: string): Uint8Array {
  if (!checkedDomains.has(domain)) {
    if (!/^[a-z][a-z0-9-]*$/.test(domain)) throw new TypeError(`signing domain '${domain}' must be lowercase letters, digits and dashes`)
    if (checkedDomains.size < 256) checkedDomains.add(domain)
  }
  return encoder.encode(`${signingPrefix(domain)}${json}`)
}

/** What a signature in `domain` covers before the payload's canonical JSON. */
export function signingPrefix (domain: string): string {
  return `plexus:${domain}:v1\n`
}

/** Domains already found well formed (a few constants: checked once, not per signature). */
const checkedDomains = new Set<string>()
const encoder = new TextEncoder()

/** Anything that can sign with the node's Ed25519 key (the NodeIdentity does). */
export interface Signer {
  sign: (data: Uint8Array) => Uint8Array
}

export function signPayload (signer: Signer, domain: string, payload: unknown): string {
  return Buffer.from(signer.sign(signingBytes(domain, payload))).toString('base64url')
}

/** A raw 32-byte Ed25519 public key as a KeyObject (worth caching: building one costs about as much as a verification). */
export function ed25519PublicKey (publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== 32) throw new TypeError('an Ed25519 public key has 32 bytes')
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' })
}

/** Verifies a base64url signature by an Ed25519 KeyObject. Never throws. */
export function verifyPayloadWithKey (key: KeyObject, domain: string, payload: unknown, signature: string): boolean {
  try {
    return verifyBytesWithKey(key, signingBytes(domain, payload), signature)
  } catch {
    return false
  }
}

/** Verifies a base64url signature over bytes from `signingBytes`/`signingBytesOfJson`. Never throws. */
export function verifyBytesWithKey (key: KeyObject, bytes: Uint8Array, signature: string): boolean {
  try {
    const sig = decodeSignature(signature)
    return sig != null && verifySignature(null, bytes, key, sig)
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// Signatures are decoded in plain JavaScript rather than with `Buffer.from(s, 'base64url')`.
// Measured on the ledger's append path (bench/ledger.ts, x86-64 with AVX-512): a call into Node's
// base64 decoder between two Ed25519 verifications made each verification about 5 µs slower,
// although the decoding itself takes a fraction of a microsecond (most likely the vector unit
// the decoder wakes slows the scalar arithmetic that follows); this loop costs the same and does
// not. It is also strict: exactly 86 base64url characters, no padding, nothing skipped.

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const SEXTETS = new Int8Array(128).fill(-1)
for (let i = 0; i < BASE64URL.length; i++) SEXTETS[BASE64URL.charCodeAt(i)] = i
/** Characters of a 64-byte signature in unpadded base64url. */
export const SIGNATURE_CHARS = 86

/**
 * The 64 bytes of an unpadded base64url Ed25519 signature (written into `out`, a new buffer
 * unless given), or null if it is not one.
 */
export function decodeSignature (signature: string, out: Buffer = Buffer.allocUnsafe(64)): Buffer | null {
  if (signature.length !== SIGNATURE_CHARS || out.length !== 64) return null
  let o = 0
  let acc = 0
  let bits = 0
  for (let i = 0; i < SIGNATURE_CHARS; i++) {
    const c = signature.charCodeAt(i)
    const v = c < 128 ? SEXTETS[c]! : -1
    if (v < 0) return null
    acc = ((acc << 6) | v) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[o++] = (acc >> bits) & 0xff
    }
  }
  return out
}

/** Verifies a base64url signature by the raw 32-byte Ed25519 public key. Never throws. */
export function verifyPayload (publicKey: Uint8Array, domain: string, payload: unknown, signature: string): boolean {
  try {
    if (publicKey.length !== 32) return false
    return verifyPayloadWithKey(ed25519PublicKey(publicKey), domain, payload, signature)
  } catch {
    return false
  }
}
