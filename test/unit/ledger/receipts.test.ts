import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isPlexusError } from '../../../src/errors.js'
import { SignedReceiptSchema, countersignReceipt, isWellFormedReceipt, signReceipt, verifyReceipt, verifyReceiptWithJson, receiptBytes } from '../../../src/ledger/receipts.js'
import { canonicalJson, decodeSignature, signPayload } from '../../../src/crypto/signing.js'
import { leafHash } from '../../../src/ledger/merkle.js'
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

  it('receipts travel in canonical key order, and any order gives the same bytes and leaf hash', () => {
    for (const kind of ['inference', 'fl-round', 'stats-query'] as const) {
      // Prepare: as signed (canonical order), and as a peer might send it (reversed order), with
      // a job id outside ASCII so that characters and UTF-8 bytes differ.
      const r = makeReceipt(provider, requester, kind, { jobId: `tâche-✓-${kind}` })
      const reversed = JSON.parse(JSON.stringify(r, [...Object.keys(r.body), ...Object.keys(r), 'seed', 'temperature', 'topP', 'maxTokens'].reverse())) as unknown

      // Execute
      const inOrder = verifyReceiptWithJson(JSON.parse(JSON.stringify(r)))
      const outOfOrder = verifyReceiptWithJson(reversed)

      // Assert
      assert.deepEqual(Object.keys(r.body), Object.keys(r.body).sort())
      assert.equal(inOrder.json, canonicalJson(r))
      assert.equal(outOfOrder.json, canonicalJson(r))
      assert.deepEqual(inOrder.leafHash, leafHash(canonicalJson(r)))
      assert.deepEqual(outOfOrder.leafHash, inOrder.leafHash)
    }
  })

  it('signatures decode strictly: exactly 86 base64url characters', () => {
    for (let i = 0; i < 50; i++) {
      const bytes = Buffer.from(Array.from({ length: 64 }, (_, k) => (i * 37 + k * 101) % 256))
      const text = bytes.toString('base64url')
      assert.deepEqual(decodeSignature(text), bytes)
    }
    const good = Buffer.alloc(64, 7).toString('base64url')
    assert.equal(decodeSignature(`${good}==`), null)
    assert.equal(decodeSignature(good.slice(1)), null)
    assert.equal(decodeSignature(`${good.slice(1)}+`), null)
    assert.equal(decodeSignature(`${good.slice(1)}é`), null)
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

  it('the schema fast path accepts only what the zod schema accepts, and encodes the same bytes', () => {
    // Prepare: valid receipts of each kind (one with a job id that JSON must escape), then many mutations of each.
    const base = [
      makeReceipt(provider, requester, 'inference'), makeReceipt(provider, requester, 'fl-round'), makeReceipt(provider, requester, 'stats-query'),
      makeReceipt(provider, requester, 'inference', { jobId: 'job "quoted" \\ \u00e9\u2028 \ud83d\ude00', params: { seed: 0, temperature: 0.1, topP: 1, maxTokens: 1 } })
    ]
    const odd: unknown[] = [undefined, null, -1, 0, 0.5, 1.5, 2 ** 32, 1e6 + 1, 8.64e15 + 1, Number.MAX_SAFE_INTEGER + 2, NaN, Infinity, '', 'x', 'x'.repeat(129), 'ab'.repeat(32), [], {}, true, '1']
    const mutants: unknown[] = []
    for (const r of base) {
      const wire = JSON.parse(JSON.stringify(r)) as Record<string, Record<string, unknown>>
      mutants.push(wire)
      for (const top of ['body', 'providerSignature', 'requesterSignature', 'extra']) {
        for (const v of odd) mutants.push({ ...wire, [top]: v })
        const { [top]: _gone, ...rest } = wire
        mutants.push(rest)
      }
      for (const key of [...Object.keys(wire.body!), 'extra', 'rows', 'samples', 'params']) {
        for (const v of odd) mutants.push({ ...wire, body: { ...wire.body, [key]: v } })
        const { [key]: _gone, ...rest } = wire.body!
        mutants.push({ ...wire, body: rest })
      }
      if (wire.body!.params != null) {
        for (const key of ['seed', 'temperature', 'topP', 'maxTokens', 'extra']) {
          for (const v of odd) mutants.push({ ...wire, body: { ...wire.body, params: { ...(wire.body!.params as object), [key]: v } } })
        }
      }
      mutants.push({ ...wire, body: Object.assign(Object.create({ inherited: 1 }) as object, wire.body) })
    }

    // Execute + Assert
    let accepted = 0
    for (const m of mutants) {
      const fast = isWellFormedReceipt(m)
      const zod = SignedReceiptSchema.safeParse(m).success
      if (fast) {
        accepted++
        assert.ok(zod, `the fast path accepted what zod refuses: ${JSON.stringify(m)}`)
      }
    }
    assert.ok(accepted >= base.length, 'every valid receipt takes the fast path')
    // The fast encoding is the canonical one, whatever the key order a peer sent.
    for (const r of base) {
      const shuffled = JSON.parse(JSON.stringify(r, Object.keys(r.body).concat(Object.keys(r), ['seed', 'temperature', 'topP', 'maxTokens']).reverse())) as unknown
      assert.ok(isWellFormedReceipt(shuffled))
      assert.equal(verifyReceiptWithJson(shuffled).json, canonicalJson(r))
    }
  })
})
