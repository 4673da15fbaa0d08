/**
 * Random numbers for federated learning: a small seeded generator (reproducible shuffles,
 * splits, client sampling and simulations) and a cryptographic one (differential-privacy noise
 * in production). Both expose the same {@link Rng} methods.
 *
 * The seeded generator is sfc32 (Chris Doty-Humphrey's Small Fast Counting generator), seeded
 * through splitmix32; it passes PractRand to many terabytes and is more than enough for
 * shuffling, but it is **not** a source for privacy noise: an observer who learns the seed can
 * subtract the noise. Use {@link Rng.crypto} there.
 *
 * @packageDocumentation
 */

import { randomFillSync } from 'node:crypto'

const TWO_32 = 4294967296
const CRYPTO_BUFFER_WORDS = 1024

/** Mixes 32-bit integers into one seed (murmur3's finaliser over each part). */
export function deriveSeed (...parts: number[]): number {
  let h = 0x9e3779b9
  for (const part of parts) {
    let k = Math.imul((part | 0) ^ Math.floor(part / TWO_32), 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    h ^= Math.imul(k, 0x1b873593)
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A source of uniformly distributed 32-bit unsigned integers. */
export type Uint32Source = () => number

function sfc32 (seed: number): Uint32Source {
  // splitmix32 expands the seed into the four words of state.
  let s = seed >>> 0
  const next = (): number => {
    s = (s + 0x9e3779b9) | 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = next()
  let b = next()
  let c = next()
  let d = next()
  const step = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  for (let i = 0; i < 12; i++) step()
  return step
}

function cryptoSource (): Uint32Source {
  const buf = new Uint32Array(CRYPTO_BUFFER_WORDS)
  let i = CRYPTO_BUFFER_WORDS
  return () => {
    if (i === CRYPTO_BUFFER_WORDS) {
      randomFillSync(buf)
      i = 0
    }
    return buf[i++]!
  }
}

/** Uniform, integer and Gaussian draws over a 32-bit source. */
export class Rng {
  readonly #next: Uint32Source
  #spareNormal: number | null = null

  constructor (source: Uint32Source) {
    this.#next = source
  }

  /** A reproducible generator: the same seed gives the same sequence on every platform. */
  static seeded (seed: number): Rng {
    return new Rng(sfc32(deriveSeed(seed)))
  }

  /** A generator over the operating system's CSPRNG (`crypto.randomFillSync`). */
  static crypto (): Rng {
    return new Rng(cryptoSource())
  }

  /** A uniform 32-bit unsigned integer. */
  uint32 (): number {
    return this.#next()
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  float (): number {
    const hi = this.#next() >>> 5 // 27 bits
    const lo = this.#next() >>> 6 // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992
  }

  /** A uniform integer in [0, n), without modulo bias. */
  int (n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_32) throw new RangeError(`Rng.int needs an integer bound in [1, 2^32], got ${n}`)
    const limit = TWO_32 - (TWO_32 % n)
    for (;;) {
      const r = this.#next()
      if (r < limit) return r % n
    }
  }

  /** A standard normal draw (Box–Muller; the second value of each pair is kept for the next call). */
  normal (): number {
    if (this.#spareNormal != null) {
      const s = this.#spareNormal
      this.#spareNormal = null
      return s
    }
    let u = 0
    while (u === 0) u = this.float()
    const v = this.float()
    const r = Math.sqrt(-2 * Math.log(u))
    this.#spareNormal = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }

  /** Shuffles an array (or typed array) in place, Fisher–Yates. */
  shuffle<E> (items: { length: number, [i: number]: E }): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = items[i]!
      items[i] = items[j]!
      items[j] = t
    }
  }

  /** A random permutation of 0 … n−1. */
  permutation (n: number): Int32Array {
    const p = new Int32Array(n)
    for (let i = 0; i < n; i++) p[i] = i
    this.shuffle(p)
    return p
  }

  /** A gamma(shape, 1) draw (Marsaglia–Tsang), for Dirichlet splits. */
  gamma (shape: number): number {
    if (!(shape > 0)) throw new RangeError(`gamma shape must be positive, got ${shape}`)
    if (shape < 1) return this.gamma(shape + 1) * Math.pow(this.float() || Number.MIN_VALUE, 1 / shape)
    const d = shape - 1 / 3
    const c = 1 / Math.sqrt(9 * d)
    for (;;) {
      let x: number
      let v: number
      do {
        x = this.normal()
        v = 1 + c * x
      } while (v <= 0)
      v = v * v * v
      const u = this.float()
      if (u < 1 - 0.0331 * x * x * x * x) return d * v
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v
    }
  }
}
