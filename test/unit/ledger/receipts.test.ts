import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isPlexusError } from '../../../src/errors.js'
import { countersignReceipt, signReceipt, verifyReceipt, receiptBytes } from '../../../src/ledger/receipts.js'
import { signPayload } from '../../../src/crypto/signing.js'
import { makePeer, makeReceipt, receiptBody } from '../../helpers/ledger.js'

const provider = makePeer()
const requester = makePeer()
const mallory = makePeer()

function refused (fn: () => unknown, mention: RegExp): void {
  assert.throws(fn, (err: unknown) => isPlexusError(err, 'PLX_ERR_LEDGER_RECEIPT_INVALID') && mention.test(err.message))
}

describe('receipts', () => {
  it('a receipt signed by both parties verifies, for every kind', () => {
    for (const kind of ['inference', 'fl-round', 'stats-query'] as const) {
      // Prepare
      const r = makeReceipt(provider, requester, kind)
      // Execute
      const back = verifyReceipt(JSON.parse(JSON.stringify(r)))
      // Assert
      assert.deepEqual(back, r)
      assert.equal(back.body.kind, kind)
    }
  })

  it('canonical bytes do not depend on key order', () => {
    const r = makeReceipt(provider, requester)
    const reordered = JSON.parse(JSON.stringify({ requesterSignature: r.requesterSignature, providerSignature: r.providerSignature, body: Object.fromEntries(Object.entries(r.body).reverse()) }))
    assert.deepEqual(receiptBytes(verifyReceipt(reordered)), receiptBytes(r))
  })

  it('refuses a receipt without the countersignature, or with either signature forged', () => {
    const r = makeReceipt(provider, requester)
    refused(() => verifyReceipt({ body: r.body, providerSignature: r.providerSignature }), /malformed/)
    // Mallory signs in the provider's place, or countersigns in the requester's.
    const forgedProvider = signPayload(mallory, 'receipt', r.body)
    refused(() => verifyReceipt({ ...r, providerSignature: forgedProvider }), /provider's signature/)
    const forgedRequester = signPayload(mallory, 'receipt-countersign', { body: r.body, providerSignature: r.providerSignature })
    refused(() => verifyReceipt({ ...r, requesterSignature: forgedRequester }), /requester's countersignature/)
    // The provider's signature in the wrong domain (replayed as a countersignature) does not count.
    refused(() => verifyReceipt({ ...r, requesterSignature: signPayload(requester, 'receipt', r.body) }), /countersignature/)
    // Any change to the body after signing breaks both.
    refused(() => verifyReceipt({ ...r, body: { ...r.body, completionTokens: 4800 } }), /provider's signature/)
    // A countersignature over another provider signature (halves of two receipts) fails.
    const other = makeReceipt(provider, requester)
    refused(() => verifyReceipt({ ...r, requesterSignature: other.requesterSignature }), /countersignature/)
  })

  it('refuses malformed and oversized receipts with a clear reason', () => {
    const r = makeReceipt(provider, requester)
    refused(() => verifyReceipt(null), /not an object/)
    refused(() => verifyReceipt('receipt'), /not an object/)
    refused(() => verifyReceipt({ ...r, body: { ...r.body, kind: 'mining' } }), /malformed/)
    refused(() => verifyReceipt({ ...r, body: { ...r.body, extra: 1 } }), /malformed/)
    refused(() => verifyReceipt({ ...r, body: { ...r.body, inputSha256: 'ABC' } }), /malformed/)
    refused(() => verifyReceipt({ ...r, body: { ...r.body, jobId: 'x'.repeat(5000) } }), /malformed.*jobId/)
    refused(() => verifyReceipt({ ...r, body: { ...r.body, promptTokens: -1 } }), /malformed/)
    refused(() => verifyReceipt({ ...r, body: { ...r.body, provider: 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N' } }), /not an Ed25519 peer id/)
    refused(() => verifyReceipt({ ...r, extra: 'x' }), /malformed/)
    refused(() => verifyReceipt({ ...r, body: { ...r.body, completionTokens: 1n } }), /malformed/)
  })

  it('only the named parties can sign, and the provider and requester must differ', () => {
    refused(() => signReceipt(mallory, receiptBody(provider, requester)), /only the provider/)
    const partial = signReceipt(provider, receiptBody(provider, requester))
    refused(() => countersignReceipt(mallory, partial), /only the requester/)
    refused(() => countersignReceipt(requester, { ...partial, providerSignature: signPayload(mallory, 'receipt', partial.body) }), /provider's signature/)
    refused(() => signReceipt(provider, receiptBody(provider, provider)), /same peer/)
    refused(() => signReceipt(provider, receiptBody(provider, requester, 'inference', { endedAt: 1 })), /ends before it starts/)
  })
})
