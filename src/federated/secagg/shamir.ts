/**
 * Shamir secret sharing of 32-byte secrets over GF(p), p = 2²⁵⁶ + 297 (the smallest prime above
 * 2²⁵⁶), so that any 32-byte string is one field element and a share is one element (33 bytes).
 *
 * A secret s is the constant term of a random polynomial f of degree t − 1; holder x gets f(x).
 * Any t shares determine f (Lagrange interpolation at 0); any t − 1 are uniformly distributed
 * whatever s is, so they say nothing about it.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import { PlexusError } from '../../errors.js'

/** The field modulus, 2²⁵⁶ + 297. */
export const PRIME = (1n << 256n) + 297n
/** Bytes of an encoded share (big-endian, < PRIME). */
export const SHARE_BYTES = 33
/** Bytes of a secret. */
export const SECRET_BYTES = 32

/** One holder's share: its x coordinate (≥ 1) and f(x). */
export interface Share {
  x: number
  y: bigint
}

function mod (a: bigint): bigint {
  const r = a % PRIME
  return r < 0n ? r + PRIME : r
}

/** a⁻¹ mod p by the extended Euclidean algorithm (a ≠ 0 mod p). */
function inverse (a: bigint): bigint {
  let [r0, r1] = [mod(a), PRIME]
  let [s0, s1] = [1n, 0n]
  while (r1 !== 0n) {
    const q = r0 / r1
    ;[r0, r1] = [r1, r0 - q * r1]
    ;[s0, s1] = [s1, s0 - q * s1]
  }
  return mod(s0)
}

/** Big-endian bytes → integer. */
export function bytesToBigint (bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt('0x' + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'))
}

/** Integer (0 ≤ n < 256^length) → big-endian bytes of the given length. */
export function bigintToBytes (n: bigint, length: number): Uint8Array {
  const hex = n.toString(16).padStart(length * 2, '0')
  if (hex.length > length * 2) throw new RangeError(`${n} does not fit in ${length} bytes`)
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

/** Random field elements, each from 48 random bytes reduced mod p (bias below 2⁻¹²⁸). */
function randomElements (count: number): bigint[] {
  const bytes = randomBytes(48 * count)
  const out: bigint[] = []
  for (let i = 0; i < count; i++) out.push(mod(bytesToBigint(bytes.subarray(48 * i, 48 * (i + 1)))))
  return out
}

/**
 * Splits a 32-byte secret into shares for the holders at `xs`, any `threshold` of which recover it.
 *
 * @param secret - 32 bytes
 * @param threshold - shares needed, 1 ≤ threshold ≤ xs.length
 * @param xs - distinct x coordinates ≥ 1, one per holder
 * @returns f(x) for each x, in the order of `xs`
 */
export function splitSecret (secret: Uint8Array, threshold: number, xs: readonly number[]): bigint[] {
  if (secret.length !== SECRET_BYTES) throw new RangeError(`a secret has ${SECRET_BYTES} bytes, not ${secret.length}`)
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > xs.length) {
    throw new RangeError(`threshold ${threshold} is not within 1..${xs.length}`)
  }
  if (new Set(xs).size !== xs.length || xs.some(x => !Number.isSafeInteger(x) || x < 1)) {
    throw new RangeError('x coordinates must be distinct positive integers')
  }
  // f(x) = s + a₁x + … + a_{t−1}x^{t−1}, evaluated by Horner's rule from the top coefficient.
  const coefficients = [bytesToBigint(secret), ...randomElements(threshold - 1)]
  return xs.map(xNumber => {
    const x = BigInt(xNumber)
    let y = 0n
    for (let j = coefficients.length - 1; j >= 0; j--) y = (y * x + coefficients[j]!) % PRIME
    return y
  })
}

const lagrangeCache = new Map<string, bigint[]>()
const LAGRANGE_CACHE_SIZE = 256

/**
 * Lagrange coefficients λᵢ = Π_{j≠i} xⱼ / (xⱼ − xᵢ) for interpolating at 0, cached: a coordinator
 * reconstructs every client's secret from the same set of holders when none misbehaves.
 */
export function lagrangeAtZero (xs: readonly number[]): bigint[] {
  const key = xs.join(',')
  const cached = lagrangeCache.get(key)
  if (cached != null) return cached
  const big = xs.map(BigInt)
  const numerators: bigint[] = []
  const denominators: bigint[] = []
  for (let i = 0; i < big.length; i++) {
    let num = 1n
    let den = 1n
    for (let j = 0; j < big.length; j++) {
      if (j === i) continue
      num = (num * big[j]!) % PRIME
      den = mod(den * (big[j]! - big[i]!))
    }
    numerators.push(num)
    denominators.push(den)
  }
  // One inversion for all denominators (Montgomery's trick).
  const prefix: bigint[] = []
  let acc = 1n
  for (const d of denominators) { prefix.push(acc); acc = (acc * d) % PRIME }
  let inv = inverse(acc)
  const coefficients = new Array<bigint>(big.length)
  for (let i = big.length - 1; i >= 0; i--) {
    coefficients[i] = (numerators[i]! * ((inv * prefix[i]!) % PRIME)) % PRIME
    inv = (inv * denominators[i]!) % PRIME
  }
  if (lagrangeCache.size >= LAGRANGE_CACHE_SIZE) lagrangeCache.delete(lagrangeCache.keys().next().value as string)
  lagrangeCache.set(key, coefficients)
  return coefficients
}

/**
 * Interpolates f(0) from shares at distinct x. With at least `threshold` correct shares of one
 * secret this is the secret; with fewer it is a value unrelated to it.
 *
 * @returns f(0) as a field element (a genuine secret is < 2²⁵⁶)
 */
export function interpolateAtZero (shares: readonly Share[]): bigint {
  if (shares.length === 0) throw new RangeError('no shares')
  const xs = shares.map(s => s.x)
  if (new Set(xs).size !== xs.length) throw new RangeError('shares must have distinct x coordinates')
  const lambda = lagrangeAtZero(xs)
  let s = 0n
  for (let i = 0; i < shares.length; i++) s = (s + lambda[i]! * shares[i]!.y) % PRIME
  return s
}

/**
 * Recovers a 32-byte secret from shares (pass exactly the threshold count, or more).
 *
 * @throws PlexusError `PLX_ERR_SECAGG_SHARE` when the shares interpolate to a value that is no
 *   32-byte secret (they do not belong to one polynomial of low enough degree)
 */
export function combineShares (shares: readonly Share[], owner = 'unknown'): Uint8Array {
  const s = interpolateAtZero(shares)
  if (s >= 1n << 256n) throw new PlexusError('PLX_ERR_SECAGG_SHARE', [owner, 'the shares do not interpolate to a 32-byte secret'])
  return bigintToBytes(s, SECRET_BYTES)
}

/** A share as 33 big-endian bytes. */
export function encodeShare (y: bigint): Uint8Array {
  return bigintToBytes(y, SHARE_BYTES)
}

/** Reads 33 big-endian bytes; null unless it is a field element. */
export function decodeShare (bytes: Uint8Array): bigint | null {
  if (bytes.length !== SHARE_BYTES) return null
  const y = bytesToBigint(bytes)
  return y < PRIME ? y : null
}
