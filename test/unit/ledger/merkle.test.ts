import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import {
  EMPTY_ROOT, MemoryHashStore, MerkleTree, leafHash, nodeHash, toHex, verifyConsistency, verifyInclusion
} from '../../../src/ledger/merkle.js'

// Reference implementations written straight from the RFC 9162 §2.1 definitions, on arrays of
// leaves, with no stored levels and no iteration tricks.
const sha = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}
function k (n: number): number { let x = 1; while (x * 2 < n) x *= 2; return x }
function mth (d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha()
  if (d.length === 1) return sha(Uint8Array.of(0), d[0]!)
  const s = k(d.length)
  return sha(Uint8Array.of(1), mth(d.slice(0, s)), mth(d.slice(s)))
}
function path (m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length === 1) return []
  const s = k(d.length)
  return m < s ? [...path(m, d.slice(0, s)), mth(d.slice(s))] : [...path(m - s, d.slice(s)), mth(d.slice(0, s))]
}
function subproof (m: number, d: Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [mth(d)]
  const s = k(d.length)
  return m <= s ? [...subproof(m, d.slice(0, s), b), mth(d.slice(s))] : [...subproof(m - s, d.slice(s), false), mth(d.slice(0, s))]
}

const leaves = Array.from({ length: 64 }, (_, i) => new TextEncoder().encode(`leaf ${i} ${'x'.repeat(i % 7)}`))
const tree = new MerkleTree()
for (const l of leaves) tree.append(l)

function flip (h: Uint8Array): Uint8Array {
  const c = Uint8Array.from(h)
  c[c.length - 1]! ^= 1
  return c
}

describe('RFC 9162 Merkle tree', () => {
  it('matches the Certificate Transparency test vectors', () => {
    // Leaves and roots of certificate-transparency-go's merkle tests (RFC 6962 hashing, as 9162).
    const hex = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f']
    const roots = [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
      'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
      '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
      'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'
    ]
    const t = new MerkleTree()
    assert.equal(toHex(t.root()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    hex.forEach((h, i) => {
      t.append(new Uint8Array(Buffer.from(h, 'hex')))
      assert.equal(toHex(t.root()), roots[i])
    })
  })

  it('a leaf given as a string hashes as its UTF-8 bytes (SHA-256 of 0x00 and the bytes)', () => {
    for (const text of ['', '{"a":1}', 'é \u2028 😀 "q"', 'x'.repeat(5000)]) {
      const bytes = new TextEncoder().encode(text)
      const expected = createHash('sha256').update(Buffer.from([0])).update(bytes).digest()
      assert.deepEqual(Buffer.from(leafHash(text)), expected)
      assert.deepEqual(Buffer.from(leafHash(bytes)), expected)
    }
  })

  it('appending reads nothing back from its store: the right edge stays in memory', () => {
    // Prepare: a store that counts reads.
    const inner = new MemoryHashStore()
    let reads = 0
    const counting = { get: (level: number, index: number) => { reads++; return inner.get(level, index) }, put: inner.put.bind(inner) }
    const tree = new MerkleTree(counting)
    const reference = new MerkleTree()

    // Execute
    for (let i = 0; i < 1000; i++) {
      tree.appendLeafHash(leafHash(`leaf ${i}`))
      reference.appendLeafHash(leafHash(`leaf ${i}`))
    }

    // Assert
    assert.equal(reads, 0)
    assert.deepEqual(tree.root(), reference.root())
  })

  it('roots equal MTH for every size 0..64', () => {
    assert.deepEqual(tree.root(0), EMPTY_ROOT)
    for (let n = 0; n <= 64; n++) assert.deepEqual(tree.root(n), mth(leaves.slice(0, n)), `size ${n}`)
    assert.deepEqual(tree.leafHashAt(5), leafHash(leaves[5]!))
    assert.deepEqual(nodeHash(leafHash(leaves[0]!), leafHash(leaves[1]!)), tree.root(2))
  })

  it('inclusion proofs equal PATH and verify, for every index and size up to 64', () => {
    for (let n = 1; n <= 64; n++) {
      const root = tree.root(n)
      for (let m = 0; m < n; m++) {
        const proof = tree.inclusionProof(m, n)
        assert.deepEqual(proof, path(m, leaves.slice(0, n)), `PATH(${m}, D[${n}])`)
        const h = leafHash(leaves[m]!)
        assert.equal(verifyInclusion(h, m, n, proof, root), true, `verify ${m} in ${n}`)
        // Wrong proofs are rejected.
        assert.equal(verifyInclusion(flip(h), m, n, proof, root), false)
        assert.equal(verifyInclusion(h, m, n, proof, flip(root)), false)
        if (n > 1) assert.equal(verifyInclusion(h, (m + 1) % n, n, proof, root), false, `index ${m + 1} of ${n}`)
        // (The same root claimed for another size can pass RFC 9162's check — a signed head binds
        // size and root together — so the mutation is the proof against the other size's root.)
        if (n < 64) assert.equal(verifyInclusion(h, m, n + 1, proof, tree.root(n + 1)), false)
        assert.equal(verifyInclusion(h, m, n, [...proof, root], root), false)
        assert.equal(verifyInclusion(h, n, n, proof, root), false)
        for (let i = 0; i < proof.length; i++) {
          const bad = proof.map((p, j) => (j === i ? flip(p) : p))
          assert.equal(verifyInclusion(h, m, n, bad, root), false)
        }
        if (proof.length > 0) assert.equal(verifyInclusion(h, m, n, proof.slice(0, -1), root), false)
      }
    }
  })

  it('consistency proofs equal PROOF and verify, for every pair of sizes up to 64', () => {
    for (let n = 1; n <= 64; n++) {
      const rootN = tree.root(n)
      for (let m = 1; m <= n; m++) {
        const proof = tree.consistencyProof(m, n)
        assert.deepEqual(proof, m === n ? [] : subproof(m, leaves.slice(0, n), true), `PROOF(${m}, D[${n}])`)
        const rootM = tree.root(m)
        assert.equal(verifyConsistency(m, n, proof, rootM, rootN), true, `${m} -> ${n}`)
        assert.equal(verifyConsistency(m, n, proof, flip(rootM), rootN), false)
        assert.equal(verifyConsistency(m, n, proof, rootM, flip(rootN)), false)
        assert.equal(verifyConsistency(n, m, proof, rootN, rootM), m === n)
        if (m < n) {
          assert.equal(verifyConsistency(m, n, [], rootM, rootN), false)
          if (n < 64) assert.equal(verifyConsistency(m, n + 1, proof, rootM, tree.root(n + 1)), false)
          if (m > 1) assert.equal(verifyConsistency(m - 1, n, proof, tree.root(m - 1), rootN), false)
          assert.equal(verifyConsistency(m, n, [...proof, rootN], rootM, rootN), false)
          for (let i = 0; i < proof.length; i++) {
            const bad = proof.map((p, j) => (j === i ? flip(p) : p))
            assert.equal(verifyConsistency(m, n, bad, rootM, rootN), false, `flipped ${i} of PROOF(${m}, ${n})`)
          }
          assert.equal(verifyConsistency(m, n, proof.slice(0, -1), rootM, rootN), false)
        }
      }
      // From the empty tree: an empty proof and the empty root.
      assert.equal(verifyConsistency(0, n, [], EMPTY_ROOT, rootN), true)
      assert.equal(verifyConsistency(0, n, [], rootN, rootN), false)
    }
  })

  it('a different history of the same size is not consistent with the first', () => {
    const other = new MerkleTree()
    for (const [i, l] of leaves.entries()) other.append(i === 3 ? new TextEncoder().encode('rewritten') : l)
    for (let m = 4; m <= 64; m++) {
      for (const n of [m, 64]) {
        assert.equal(verifyConsistency(m, n, tree.consistencyProof(m, n), tree.root(m), other.root(n)), false)
        assert.equal(verifyConsistency(m, n, other.consistencyProof(m, n), tree.root(m), other.root(n)), false)
      }
    }
  })

  it('refuses proofs for sizes and indexes the tree does not have', () => {
    assert.throws(() => tree.inclusionProof(64, 64), RangeError)
    assert.throws(() => tree.inclusionProof(0, 65), RangeError)
    assert.throws(() => tree.consistencyProof(10, 9), RangeError)
    assert.throws(() => tree.root(65), RangeError)
    assert.equal(verifyInclusion(leafHash(leaves[0]!), -1, 4, [], tree.root(4)), false)
  })

  it('stays logarithmic: 2^18 + 1 leaves (bench/ledger.ts measures a million)', () => {
    const N = 2 ** 18 + 1
    const big = new MerkleTree()
    const h = new Uint8Array(32)
    for (let i = 0; i < N; i++) {
      new DataView(h.buffer).setUint32(0, i)
      big.appendLeafHash(leafHash(h))
    }
    const root = big.root()
    new DataView(h.buffer).setUint32(0, 201_234)
    const proof = big.inclusionProof(201_234)
    assert.equal(proof.length, 19)
    assert.equal(verifyInclusion(leafHash(h), 201_234, N, proof, root), true)
    const c = big.consistencyProof(N - 1)
    assert.ok(c.length <= 40)
    assert.equal(verifyConsistency(N - 1, N, c, big.root(N - 1), root), true)
  })
})
