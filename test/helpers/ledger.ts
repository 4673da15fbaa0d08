import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type JsonWebKey } from 'node:crypto'
import { peerIdOfKey, type PeerSigner } from '../../src/ledger/peer-keys.js'
import { countersignReceipt, sha256Hex, signReceipt, type ReceiptBody, type SignedReceipt } from '../../src/ledger/receipts.js'

export interface TestPeer extends PeerSigner {
  publicKey: Uint8Array
  /** The raw 32-byte seed (for createHost). */
  seed: Uint8Array
}

/** A fresh Ed25519 key as a peer signer (no identity file). */
export function makePeer (): TestPeer {
  // JWK straight from key generation (as src/node/identity.ts: exporting a fresh KeyObject can
  // deadlock Node 20 when a garbage collection runs during the export).
  const generate = generateKeyPairSync as unknown as (type: 'ed25519', options: object) => { privateKey: JsonWebKey }
  const { privateKey: jwk } = generate('ed25519', { privateKeyEncoding: { format: 'jwk' }, publicKeyEncoding: { format: 'jwk' } })
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' })
  const pub = new Uint8Array(Buffer.from(String(jwk.x), 'base64url'))
  return {
    peerId: peerIdOfKey(pub),
    publicKey: pub,
    seed: new Uint8Array(Buffer.from(String(jwk.d), 'base64url')),
    sign: data => new Uint8Array(sign(null, data, privateKey))
  }
}

let counter = 0

/** A body of the given kind between two peers, with unique id and plausible values. */
export function receiptBody (provider: TestPeer, requester: TestPeer, kind: ReceiptBody['kind'] = 'inference', over: Partial<Record<string, unknown>> = {}): ReceiptBody {
  const id = `r-${process.pid}-${Date.now().toString(36)}-${(counter++).toString(36)}-${randomBytes(3).toString('hex')}`
  const common = {
    v: 1 as const,
    id,
    jobId: `job-${counter}`,
    provider: provider.peerId,
    requester: requester.peerId,
    inputSha256: sha256Hex(`in ${id}`),
    outputSha256: sha256Hex(`out ${id}`),
    startedAt: 1_700_000_000_000,
    endedAt: 1_700_000_001_000
  }
  const body = kind === 'inference'
    ? { ...common, kind, modelSha256: sha256Hex('model'), promptTokens: 12, completionTokens: 48, params: { seed: 11, temperature: 0.8, topP: 0.95, maxTokens: 48 } }
    : kind === 'fl-round'
      ? { ...common, kind, modelSha256: sha256Hex('model'), round: 3, samples: 600 }
      : { ...common, kind, queries: 1, rows: 442 }
  return { ...body, ...over } as ReceiptBody
}

/** A receipt signed by the provider and countersigned by the requester. */
export function makeReceipt (provider: TestPeer, requester: TestPeer, kind: ReceiptBody['kind'] = 'inference', over: Partial<Record<string, unknown>> = {}): SignedReceipt {
  return countersignReceipt(requester, signReceipt(provider, receiptBody(provider, requester, kind, over)))
}
