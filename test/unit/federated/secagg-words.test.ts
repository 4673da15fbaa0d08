import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createCipheriv, randomBytes } from 'node:crypto'
import { WordVector } from '../../../src/federated/secagg/words.js'

/** The AES-256-CTR keystream of `key` (zero IV) as `n` little-endian 32-bit words, computed directly. */
function keystream (key: Uint8Array, n: number): Uint32Array {
  const bytes = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n * 4))
  return new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n * 4))
}

function randomWords (n: number): Uint32Array {
  const b = randomBytes(n * 4)
  return new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + n * 4))
}

// Lengths around the 16-byte SIMD lanes and the 64 KiB (16,384-word) keystream chunks.
const LENGTHS = [1, 3, 4, 5, 17, 1000, 16_384, 16_389, 40_000]

describe('WordVector', () => {
  for (const simd of [true, false]) {
    it(`adds and subtracts the AES-256-CTR keystream mod 2^32 (${simd ? 'WebAssembly SIMD' : 'JavaScript'})`, () => {
      for (const n of LENGTHS) {
        // Prepare
        const key = randomBytes(32)
        const start = randomWords(n)
        const v = new WordVector(n, false, simd)
        v.words.set(start)

        // Execute
        v.applyMask(key, 1)
        const added = v.words.slice()
        v.applyMask(key, -1)

        // Assert
        const ks = keystream(key, n)
        for (let i = 0; i < n; i++) assert.equal(added[i], (start[i]! + ks[i]!) >>> 0, `n=${n} i=${i}`)
        assert.deepEqual(v.words, start, `n=${n}`)
      }
    })
  }

  it('gives the same results with and without SIMD', () => {
    const key = randomBytes(32)
    const a = new WordVector(9999, true)
    const b = new WordVector(9999, true, false)
    const y = randomWords(9999)
    const encoded = Buffer.from(y.buffer).toString('base64url')
    for (const v of [a, b]) {
      v.applyMask(key, -1)
      assert.equal(v.addEncoded(encoded), true)
    }
    assert.deepEqual(a.words, b.words)
  })

  it('adds a base64url vector of exactly its length and refuses anything else', () => {
    // Prepare
    const v = new WordVector(10, true)
    const y = randomWords(10)
    const encoded = Buffer.from(y.buffer).toString('base64url')

    // Execute / Assert
    assert.equal(v.addEncoded(encoded.slice(1)), false)
    assert.equal(v.addEncoded(encoded + 'A'), false)
    assert.equal(v.addEncoded('!' + encoded.slice(1)), false)
    assert.deepEqual(v.words, new Uint32Array(10))
    assert.equal(v.addEncoded(encoded), true)
    assert.equal(v.addEncoded(encoded), true)
    for (let i = 0; i < 10; i++) assert.equal(v.words[i], (2 * y[i]!) >>> 0)
    // Without a whole-vector scratch area, a vector larger than one keystream chunk cannot decode into it.
    assert.throws(() => new WordVector(20_000).addEncoded(''), RangeError)
  })
})
