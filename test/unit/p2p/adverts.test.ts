import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { rmSync } from 'node:fs'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createIdentity, type NodeIdentity } from '../../../src/node/identity.js'
import { signAdvert, verifyAdvert, MAX_ADVERT_BYTES, type AdvertPayload } from '../../../src/p2p/adverts.js'
import { tempDir } from '../../helpers/node.js'

async function identityWithPeerId (): Promise<{ identity: NodeIdentity, peerId: string }> {
  const dir = tempDir()
  const identity = createIdentity(join(dir, 'id.json'))
  rmSync(dir, { recursive: true, force: true })
  const key = await generateKeyPairFromSeed('Ed25519', identity.exportSeed())
  return { identity, peerId: peerIdFromPrivateKey(key).toString() }
}

function payload (peerId: string, over: Partial<AdvertPayload> = {}): AdvertPayload {
  const now = Date.now()
  return {
    v: 1, network: 'n', peerId, seq: now, issuedAt: now, ttlSeconds: 30, version: '0.1.0',
    models: [{ name: 'm', sha256: 'a'.repeat(64), contextLength: 512, quantization: 'F32', parameters: 1000, tokensPerSecond: null }],
    load: { active: 0, waiting: 0, parallel: 2 },
    community: { accepts: true, maxConcurrentJobs: 2, maxTokens: 1024, requestsPerMinute: 60 },
    ...over
  }
}

const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v))

describe('capability adverts', () => {
  it('the node identity signs adverts that verify under its libp2p peer id', async () => {
    const { identity, peerId } = await identityWithPeerId()
    const p = payload(peerId)
    const r = verifyAdvert(bytes(signAdvert(identity, p)), peerId, 'n')
    assert.deepEqual(r, p)
  })

  it('names the reason for every refusal', async () => {
    const { identity, peerId } = await identityWithPeerId()
    const other = await identityWithPeerId()
    const signed = signAdvert(identity, payload(peerId))
    assert.equal(verifyAdvert(bytes(signed), other.peerId, 'n'), 'wrong-sender')
    assert.equal(verifyAdvert(bytes(signed), peerId, 'other'), 'wrong-network')
    assert.equal(verifyAdvert(bytes({ ...signed, payload: { ...signed.payload, version: 'x' } }), peerId, 'n'), 'bad-signature')
    assert.equal(verifyAdvert(bytes(signAdvert(other.identity, payload(peerId))), peerId, 'n'), 'bad-signature')
    assert.equal(verifyAdvert(bytes('{not json'), peerId, 'n'), 'malformed')
    assert.equal(verifyAdvert(bytes({ ...signed, extra: 1 }), peerId, 'n'), 'malformed')
    assert.equal(verifyAdvert(new Uint8Array(MAX_ADVERT_BYTES + 1), peerId, 'n'), 'too-large')
    assert.equal(verifyAdvert(new Uint8Array([0xff, 0xfe]), peerId, 'n'), 'malformed')
    const old = payload(peerId, { issuedAt: Date.now() - 120_000, seq: 1 })
    assert.equal(verifyAdvert(bytes(signAdvert(identity, old)), peerId, 'n'), 'expired')
    const future = payload(peerId, { issuedAt: Date.now() + 3_600_000 })
    assert.equal(verifyAdvert(bytes(signAdvert(identity, future)), peerId, 'n'), 'from-the-future')
    const tooMany = payload(peerId, { models: Array.from({ length: 65 }, (_, i) => ({ name: `m${i}`, sha256: 'a'.repeat(64), contextLength: null, quantization: null, parameters: null, tokensPerSecond: null })) })
    assert.equal(verifyAdvert(bytes(signAdvert(identity, tooMany)), peerId, 'n'), 'malformed')
  })
})
