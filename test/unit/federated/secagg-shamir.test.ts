import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  PRIME, SHARE_BYTES, bigintToBytes, bytesToBigint, combineShares, decodeShare, encodeShare, interpolateAtZero,
  lagrangeAtZero, splitSecret, type Share
} from '../../../src/federated/secagg/shamir.js'
import { isPlexusError } from '../../../src/errors.js'

/** Every k-subset of `items`, in order. */
function subsets<T> (items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]]
  if (items.length < k) return []
  const [first, ...rest] = items
  return [...subsets(rest, k - 1).map(s => [first!, ...s]), ...subsets(rest, k)]
}

function sharesOf (secret: Uint8Array, t: number, xs: number[]): Share[] {
  return splitSecret(secret, t, xs).map((y, i) => ({ x: xs[i]!, y }))
}

describe('Shamir sharing over GF(2^256 + 297)', () => {
  it('reconstructs the secret from every subset of t shares (5 holders, t = 3)', () => {
    // Prepare
    const secret = new Uint8Array(randomBytes(32))
    const shares = sharesOf(secret, 3, [1, 2, 3, 4, 5])

    // Execute / Assert
    const all = subsets(shares, 3)
    assert.equal(all.length, 10)
    for (const subset of all) assert.deepEqual(combineShares(subset), secret, `holders ${subset.map(s => s.x).join(',')}`)
  })

  it('reconstructs from any t of 100 shares and from more than t', () => {
    // Prepare
    const secret = new Uint8Array(randomBytes(32))
    const xs = Array.from({ length: 100 }, (_, i) => i + 1)
    const shares = sharesOf(secret, 67, xs)

    // Execute / Assert: a few different subsets, including the highest x coordinates
    for (const offset of [0, 10, 33]) assert.deepEqual(combineShares(shares.slice(offset, offset + 67)), secret)
    assert.deepEqual(combineShares([...shares].reverse().slice(0, 67)), secret)
    assert.deepEqual(combineShares(shares), secret)
  })

  it('shares the all-zero and the all-one secrets like any other', () => {
    for (const fill of [0, 0xff]) {
      const secret = new Uint8Array(32).fill(fill)
      assert.deepEqual(combineShares(sharesOf(secret, 4, [3, 9, 11, 20, 21]).slice(1)), secret)
    }
  })

  it('t − 1 shares do not determine the secret: they fit every candidate secret equally', () => {
    // Prepare: t − 1 = 3 shares of a secret
    const t = 4
    const secret = new Uint8Array(randomBytes(32))
    const known = sharesOf(secret, t, [1, 2, 3, 4, 5]).slice(0, t - 1)

    for (let trial = 0; trial < 5; trial++) {
      // Execute: the unique polynomial of degree t − 1 through (0, candidate) and the known shares
      const candidate = bytesToBigint(randomBytes(32))
      const points: Share[] = [{ x: 0, y: candidate }, ...known]
      const atFive = lagrangeEval(points, 5n)

      // Assert: the known shares plus that point reconstruct the candidate, not the secret —
      // so the t − 1 shares are consistent with any secret.
      assert.equal(interpolateAtZero([...known, { x: 5, y: atFive }]), candidate)
    }
    // And interpolating the t − 1 shares alone gives an unrelated value.
    assert.notDeepEqual(bigintToBytes(interpolateAtZero(known) % (1n << 256n), 32), secret)
  })

  it('t − 1 shares of two different secrets are distributed alike (no share byte is biased by the secret)', () => {
    // Prepare: many sharings of two fixed secrets; look at the top byte of share 1 with t = 2
    const a = new Uint8Array(32)
    const b = new Uint8Array(32).fill(0xff)
    const top = (secret: Uint8Array): number => {
      let sum = 0
      for (let i = 0; i < 400; i++) sum += encodeShare(splitSecret(secret, 2, [1, 2])[0]!)[1]!
      return sum / 400
    }

    // Execute / Assert: both means are near 127.5 (uniform bytes), whatever the secret
    for (const mean of [top(a), top(b)]) assert.ok(Math.abs(mean - 127.5) < 20, `mean ${mean}`)
  })

  it('Lagrange coefficients at 0 sum to 1 and are cached', () => {
    // Execute
    const xs = [2, 5, 7, 11]
    const lambda = lagrangeAtZero(xs)

    // Assert: interpolating the constant polynomial 1 gives 1
    assert.equal(lambda.reduce((s, l) => (s + l) % PRIME, 0n), 1n)
    assert.equal(lagrangeAtZero([2, 5, 7, 11]), lambda)
  })

  it('encodes shares in 33 bytes and refuses non-field elements', () => {
    // Prepare
    const y = PRIME - 1n

    // Execute
    const bytes = encodeShare(y)

    // Assert
    assert.equal(bytes.length, SHARE_BYTES)
    assert.equal(decodeShare(bytes), y)
    assert.equal(decodeShare(bigintToBytes(PRIME, SHARE_BYTES)), null)
    assert.equal(decodeShare(new Uint8Array(32)), null)
  })

  it('refuses shares that interpolate to no 32-byte secret', () => {
    // Prepare: a line whose constant term is 2^256 + 5, a field element but no 32-byte string
    const c0 = (1n << 256n) + 5n
    const shares = [1n, 2n].map(x => ({ x: Number(x), y: (c0 + 7n * x) % PRIME }))

    // Execute / Assert
    assert.throws(() => combineShares(shares, 'client-7'), (err: unknown) => isPlexusError(err, 'PLX_ERR_SECAGG_SHARE') && err.message.includes('client-7'))
  })

  it('refuses bad arguments', () => {
    const secret = new Uint8Array(32)
    assert.throws(() => splitSecret(new Uint8Array(31), 2, [1, 2]), RangeError)
    assert.throws(() => splitSecret(secret, 3, [1, 2]), RangeError)
    assert.throws(() => splitSecret(secret, 0, [1, 2]), RangeError)
    assert.throws(() => splitSecret(secret, 2, [1, 1]), RangeError)
    assert.throws(() => splitSecret(secret, 2, [0, 1]), RangeError)
    assert.throws(() => interpolateAtZero([]), RangeError)
    assert.throws(() => interpolateAtZero([{ x: 1, y: 1n }, { x: 1, y: 2n }]), RangeError)
  })
})

/** Evaluates the polynomial through `points` at x (plain Lagrange, independent of the module's code). */
function lagrangeEval (points: readonly Share[], x: bigint): bigint {
  const mod = (a: bigint): bigint => ((a % PRIME) + PRIME) % PRIME
  const pow = (b: bigint, e: bigint): bigint => {
    let r = 1n
    b = mod(b)
    while (e > 0n) {
      if ((e & 1n) === 1n) r = (r * b) % PRIME
      b = (b * b) % PRIME
      e >>= 1n
    }
    return r
  }
  let sum = 0n
  for (const pi of points) {
    let num = 1n
    let den = 1n
    for (const pj of points) {
      if (pj === pi) continue
      num = mod(num * (x - BigInt(pj.x)))
      den = mod(den * (BigInt(pi.x) - BigInt(pj.x)))
    }
    sum = mod(sum + pi.y * num * pow(den, PRIME - 2n))
  }
  return sum
}
