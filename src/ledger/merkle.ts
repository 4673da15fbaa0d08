/**
 * Merkle tree hashing, inclusion proofs and consistency proofs exactly as RFC 9162 (Certificate
 * Transparency version 2.0) §2.1 defines them:
 *
 * - the hash of an empty tree is SHA-256 of the empty string;
 * - a leaf hashes as SHA-256(0x00 || leaf), an interior node as SHA-256(0x01 || left || right);
 * - MTH(D[n]) for n > 1 splits at k, the largest power of two smaller than n (so trees whose size
 *   is not a power of two are unbalanced on the right, never padded);
 * - PATH (§2.1.3.1) and PROOF/SUBPROOF (§2.1.4.1) generate proofs; the verifiers follow the
 *   algorithms of §2.1.3.2 and §2.1.4.2 step by step.
 *
 * A tree is kept as its complete subtrees: level 0 holds the leaf hashes, level ℓ entry j the hash
 * of leaves [j·2^ℓ, (j+1)·2^ℓ). Appending a leaf writes its hash and the (amortised one) complete
 * nodes it closes, so a tree of n leaves stores fewer than 2n hashes, and the hash of any range the
 * RFC's recursions ask for — an aligned complete subtree, or one ending at the tree's right edge —
 * costs O(log n) lookups. Proofs are therefore O(log n) to build, in memory or from SQLite
 * (`HashStore` is the seam).
 *
 * @packageDocumentation
 */
import * as cryptoModule from 'node:crypto'
import { createHash } from 'node:crypto'

export const HASH_BYTES = 32
const LEAF_PREFIX = Buffer.from([0x00])
const NODE_PREFIX = Buffer.from([0x01])

/** A digest as a plain Uint8Array over the same memory (hashes are Uint8Arrays throughout; no copy). */
function asBytes (digest: Buffer): Uint8Array {
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength)
}

/** SHA-256 of the empty string: the root of a tree with no leaves. */
export const EMPTY_ROOT: Uint8Array = new Uint8Array(createHash('sha256').digest())

/** One-shot SHA-256 (node:crypto `hash`, Node ≥ 20.12): no Hash object per call. Null on older Node. */
const oneShot = (cryptoModule as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'buffer') => Buffer }).hash ?? null
const nodeInput = Buffer.alloc(1 + 2 * HASH_BYTES, 0x01)

/** SHA-256(0x00 || leaf); a string leaf is its UTF-8 bytes (hashed without copying them first). */
export function leafHash (leaf: Uint8Array | string): Uint8Array {
  if (oneShot != null && typeof leaf === 'string') return asBytes(oneShot('sha256', `\u0000${leaf}`, 'buffer'))
  const h = createHash('sha256').update(LEAF_PREFIX)
  return new Uint8Array(typeof leaf === 'string' ? h.update(leaf, 'utf8').digest() : h.update(leaf).digest())
}

/**
 * `leafHash` of bytes the caller has already laid out behind a 0x00 byte (a hot path that keeps
 * the leaf in a buffer with room in front saves the copy).
 */
export function leafHashOfFramed (framed: Uint8Array): Uint8Array {
  if (framed[0] !== 0x00) throw new RangeError('a framed leaf starts with the 0x00 leaf prefix')
  return asBytes(oneShot != null ? oneShot('sha256', framed, 'buffer') : createHash('sha256').update(framed).digest())
}

/** SHA-256(0x01 || left || right). */
export function nodeHash (left: Uint8Array, right: Uint8Array): Uint8Array {
  if (oneShot != null && left.length === HASH_BYTES && right.length === HASH_BYTES) {
    nodeInput.set(left, 1)
    nodeInput.set(right, 1 + HASH_BYTES)
    return asBytes(oneShot('sha256', nodeInput, 'buffer'))
  }
  return new Uint8Array(createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest())
}

export function equalHashes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

/** The largest power of two strictly smaller than `n` (n ≥ 2). */
export function splitPoint (n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

function isPowerOfTwo (n: number): boolean {
  let k = 1
  while (k < n) k *= 2
  return k === n
}

/** Where a tree keeps its complete-subtree hashes (memory, SQLite, ...). */
export interface HashStore {
  /** The hash of complete subtree `index` at `level` (level 0: leaf hashes). Must exist. */
  get: (level: number, index: number) => Uint8Array
  put: (level: number, index: number, hash: Uint8Array) => void
}

/** Complete-subtree hashes in memory: one flat buffer per level (≈ 64 bytes per leaf in all). */
export class MemoryHashStore implements HashStore {
  readonly #levels: Buffer[] = []
  readonly #counts: number[] = []

  get (level: number, index: number): Uint8Array {
    const buf = this.#levels[level]
    if (buf == null || index >= (this.#counts[level] ?? 0)) throw new RangeError(`no hash at level ${level} index ${index}`)
    // A plain view (not a Buffer) of immutable bytes: a level that grows moves to a new buffer.
    return new Uint8Array(buf.buffer, buf.byteOffset + index * HASH_BYTES, HASH_BYTES)
  }

  put (level: number, index: number, hash: Uint8Array): void {
    let buf = this.#levels[level]
    if (buf == null) {
      buf = Buffer.alloc(HASH_BYTES * 1024)
      this.#levels[level] = buf
      this.#counts[level] = 0
    }
    if (index !== this.#counts[level]) throw new RangeError(`hashes are appended in order (level ${level}: expected ${this.#counts[level]}, got ${index})`)
    if ((index + 1) * HASH_BYTES > buf.length) {
      const bigger = Buffer.alloc(buf.length * 2)
      buf.copy(bigger)
      buf = bigger
      this.#levels[level] = buf
    }
    buf.set(hash, index * HASH_BYTES)
    this.#counts[level] = index + 1
  }
}

/**
 * An append-only Merkle tree over a `HashStore`. Only the leaf hashes go in; the leaves themselves
 * live wherever the caller keeps them.
 */
export class MerkleTree {
  readonly #store: HashStore
  #size: number
  /** The last hash written at each level (the right edge of the tree), saving store reads. */
  readonly #recent: Uint8Array[] = []
  readonly #recentIndex: number[] = []

  /** `size`: how many leaves `store` already holds (when reopening a stored tree). */
  constructor (store: HashStore = new MemoryHashStore(), size = 0) {
    this.#store = store
    this.#size = size
  }

  get size (): number { return this.#size }

  /** Appends one leaf hash (already `leafHash(leaf)`) and the complete nodes it closes. */
  appendLeafHash (hash: Uint8Array): number {
    const index = this.#size
    let h = hash
    let i = index
    let level = 0
    while (i % 2 === 1) {
      // The left sibling is the last node written at this level (read before this one is written):
      // in #recent, except after the tree was reopened.
      const left = this.#recentIndex[level] === i - 1 ? this.#recent[level]! : this.#store.get(level, i - 1)
      this.#put(level, i, h)
      h = nodeHash(left, h)
      level++
      i = Math.floor(i / 2)
    }
    this.#put(level, i, h)
    this.#size = index + 1
    return index
  }

  #put (level: number, index: number, hash: Uint8Array): void {
    this.#store.put(level, index, hash)
    this.#recent[level] = hash
    this.#recentIndex[level] = index
  }

  /** Appends a leaf (hashing it) and returns its index. */
  append (leaf: Uint8Array): number {
    return this.appendLeafHash(leafHash(leaf))
  }

  leafHashAt (index: number): Uint8Array {
    this.#checkSize(index + 1)
    return this.#store.get(0, index)
  }

  /** MTH(D[start:end]) for a range the RFC's recursions produce (aligned, or ending at a tree edge). */
  subtreeHash (start: number, end: number): Uint8Array {
    const n = end - start
    if (n === 0) return EMPTY_ROOT
    if (n === 1) return this.#store.get(0, start)
    if (isPowerOfTwo(n) && start % n === 0) return this.#store.get(Math.log2(n), start / n)
    const k = splitPoint(n)
    return nodeHash(this.subtreeHash(start, start + k), this.subtreeHash(start + k, end))
  }

  /** The root of the tree as it was at `size` leaves (default: now). */
  root (size = this.#size): Uint8Array {
    this.#checkSize(size)
    return this.subtreeHash(0, size)
  }

  /** PATH(index, D[size]) of RFC 9162 §2.1.3.1. */
  inclusionProof (index: number, size = this.#size): Uint8Array[] {
    this.#checkSize(size)
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new RangeError(`leaf ${index} is not in a tree of ${size}`)
    const proof: Uint8Array[] = []
    // Iterative PATH: walk down from the whole range, collecting siblings, then reverse.
    let start = 0
    let end = size
    let m = index
    while (end - start > 1) {
      const k = splitPoint(end - start)
      if (m < k) {
        proof.push(this.subtreeHash(start + k, end))
        end = start + k
      } else {
        proof.push(this.subtreeHash(start, start + k))
        start += k
        m -= k
      }
    }
    return proof.reverse()
  }

  /** PROOF(m, D[n]) of RFC 9162 §2.1.4.1 (empty when m = n or m = 0). */
  consistencyProof (m: number, n = this.#size): Uint8Array[] {
    this.#checkSize(n)
    if (!Number.isSafeInteger(m) || m < 0 || m > n) throw new RangeError(`no consistency proof from ${m} to ${n}`)
    if (m === 0 || m === n) return []
    const proof: Uint8Array[] = []
    // Iterative SUBPROOF(m, D[start:end], b): nodes are found top-down and emitted bottom-up.
    let start = 0
    let end = n
    let mm = m
    let complete = true
    while (mm !== end - start) {
      const k = splitPoint(end - start)
      if (mm <= k) {
        proof.push(this.subtreeHash(start + k, end))
        end = start + k
      } else {
        proof.push(this.subtreeHash(start, start + k))
        start += k
        mm -= k
        complete = false
      }
    }
    if (!complete) proof.push(this.subtreeHash(start, end))
    return proof.reverse()
  }

  #checkSize (size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.#size) throw new RangeError(`the tree has ${this.#size} leaves, not ${size}`)
  }
}

/** RFC 9162 §2.1.3.2: does `proof` show leaf hash `hash` at `index` in the tree of `size` with `root`? */
export function verifyInclusion (hash: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false
  if (proof.length > 64) return false
  // fn and sn can exceed 2^32, so no bitwise operators on them.
  let fn = index
  let sn = size - 1
  let r = hash
  for (const p of proof) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2) }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && equalHashes(r, root)
}

/**
 * RFC 9162 §2.1.4.2: does `proof` show that the tree of `first` leaves with root `firstRoot` is a
 * prefix of the tree of `second` leaves with root `secondRoot`? Sizes equal: the proof must be
 * empty and the roots equal. First size 0: the proof must be empty and `firstRoot` the empty root.
 */
export function verifyConsistency (first: number, second: number, proof: readonly Uint8Array[], firstRoot: Uint8Array, secondRoot: Uint8Array): boolean {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || first > second) return false
  if (proof.length > 64) return false
  if (first === second) return proof.length === 0 && equalHashes(firstRoot, secondRoot)
  if (first === 0) return proof.length === 0 && equalHashes(firstRoot, EMPTY_ROOT)
  // 1. An empty path fails.
  if (proof.length === 0) return false
  // 2. If first is an exact power of two, prepend first_hash.
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : proof
  // 3.
  let fn = first - 1
  let sn = second - 1
  // 4.
  while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2) }
  // 5.
  let fr = path[0]!
  let sr = path[0]!
  // 6.
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2) }
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  // 7.
  return equalHashes(fr, firstRoot) && equalHashes(sr, secondRoot) && sn === 0
}

/** Hex for the wire. */
export function toHex (hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex')
}

export function fromHex (hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'))
}
