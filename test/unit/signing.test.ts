import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { rmSync } from 'node:fs'
import { canonicalJson, signPayload, verifyPayload, signingBytes } from '../../src/crypto/signing.js'
import { createIdentity } from '../../src/node/identity.js'
import { tempDir } from '../helpers/node.js'

describe('canonical JSON and domain-separated signatures', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' }, u: undefined }), '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}')
    assert.equal(canonicalJson({ b: 1, a: 2 }), canonicalJson({ a: 2, b: 1 }))
  })

  it('refuses values without one canonical form', () => {
    assert.throws(() => canonicalJson(Number.NaN), TypeError)
    assert.throws(() => canonicalJson({ x: 1n }), TypeError)
    assert.throws(() => canonicalJson(() => 1), TypeError)
  })

  it('a signature holds only for the same payload, key and domain', () => {
    const dir = tempDir()
    const id = createIdentity(join(dir, 'id.json'))
    const other = createIdentity(join(dir, 'other.json'))
    rmSync(dir, { recursive: true, force: true })
    const sig = signPayload(id, 'advert', { a: 1 })
    assert.equal(verifyPayload(id.publicKey, 'advert', { a: 1 }, sig), true)
    assert.equal(verifyPayload(id.publicKey, 'receipt', { a: 1 }, sig), false)
    assert.equal(verifyPayload(id.publicKey, 'advert', { a: 2 }, sig), false)
    assert.equal(verifyPayload(other.publicKey, 'advert', { a: 1 }, sig), false)
    assert.equal(verifyPayload(id.publicKey, 'advert', { a: 1 }, 'short'), false)
    assert.equal(verifyPayload(new Uint8Array(5), 'advert', { a: 1 }, sig), false)
    assert.throws(() => signingBytes('Bad Domain', {}), TypeError)
  })
})
