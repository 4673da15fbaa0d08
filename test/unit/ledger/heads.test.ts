import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { isPlexusError } from '../../../src/errors.js'
import { LedgerLog } from '../../../src/ledger/log.js'
import { HeadBook, verifyEquivocation, type Equivocation } from '../../../src/ledger/heads.js'
import { openLedgerDb } from '../../../src/ledger/store.js'
import { signConsistency, signTreeHead } from '../../../src/ledger/tree-head.js'
import { tempDir } from '../../helpers/node.js'
import { makePeer, makeReceipt } from '../../helpers/ledger.js'

const provider = makePeer()
const requester = makePeer()

describe('seen heads and equivocation evidence', () => {
  let dir: string
  let n = 0
  before(() => { dir = tempDir('plexus-heads-') })
  after(() => { rmSync(dir, { recursive: true, force: true }) })
  const book = (): HeadBook => new HeadBook(openLedgerDb(join(dir, `book-${n++}.db`)))
  const logOf = (signer = makePeer(), name = `log-${n++}.db`): LedgerLog => LedgerLog.open({ file: join(dir, name), signer })
  const grow = (log: LedgerLog, k: number): void => { log.appendMany(Array.from({ length: k }, () => makeReceipt(provider, requester))) }

  it('an honest log: every head becomes trusted once proven consistent, in any order', () => {
    // Prepare
    const log = logOf()
    const heads = []
    for (const k of [3, 4, 5, 1]) { grow(log, k); heads.push(log.signHead()) }
    const b = book()

    // Execute: see them out of order, fetch the proofs the book asks for.
    const results = [heads[2], heads[0], heads[3], heads[1]].map(h => b.observe(JSON.parse(JSON.stringify(h))))
    for (const p of b.pending()) {
      assert.deepEqual(b.resolve(log.signedConsistency(p.first.size, p.second.size)), { status: 'consistent' })
    }

    // Assert
    assert.equal(results[0]!.status, 'trusted')
    assert.deepEqual(results.slice(1).map(r => r.status), ['pending', 'pending', 'pending'])
    assert.deepEqual(b.pending(), [])
    assert.deepEqual(b.heads(log.owner).map(h => h.status), ['trusted', 'trusted', 'trusted', 'trusted'])
    assert.deepEqual(b.latest(log.owner), heads[3])
    assert.equal(b.observe(heads[1]).status, 'known')
    assert.equal(b.isFlagged(log.owner), false)
    assert.deepEqual(b.verify(), { ok: true, heads: 4, evidence: 0, problems: [] })
  })

  it('two heads of the same size with different roots convict the signer, and anyone can check it', () => {
    // Prepare: one key, two histories (what a log shows two different peers).
    const signer = makePeer()
    const a = logOf(signer)
    const b = logOf(signer)
    grow(a, 6); grow(b, 6)
    const headA = a.signHead()
    const headB = b.signHead()
    const seen = book()

    // Execute
    assert.equal(seen.observe(headA).status, 'trusted')
    const r = seen.observe(headB)

    // Assert
    assert.equal(r.status, 'equivocation')
    const evidence = (r as { evidence: Equivocation }).evidence
    assert.equal(evidence.kind, 'conflicting-roots')
    assert.equal(seen.isFlagged(signer.peerId), true)
    // A third node that never saw either head checks the evidence on its own and flags the signer.
    const third = book()
    assert.deepEqual(third.addEvidence(JSON.parse(JSON.stringify(evidence))), evidence)
    assert.equal(third.isFlagged(signer.peerId), true)
    assert.deepEqual(third.equivocations(signer.peerId), [evidence])
  })

  it('two histories of different sizes are caught through the consistency proof the signer must sign', () => {
    const signer = makePeer()
    const a = logOf(signer)
    const b = logOf(signer)
    grow(a, 5); grow(b, 8)
    const headA = a.signHead()
    const headB = b.signHead()
    const seen = book()
    seen.observe(headA)
    const p = seen.observe(headB)
    assert.equal(p.status, 'pending')

    // The signer answers from history B: its signed root at size 5 contradicts head A.
    const fromB = seen.resolve(b.signedConsistency(5, 8))
    assert.equal(fromB.status, 'equivocation')
    assert.equal((fromB as { evidence: Equivocation }).evidence.kind, 'conflicting-roots')
    assert.equal(verifyEquivocation((fromB as { evidence: Equivocation }).evidence).kind, 'conflicting-roots')

    // Or it signs a statement about exactly the two heads asked for: the proof cannot verify.
    const fresh = book()
    fresh.observe(headA); fresh.observe(headB)
    const lie = signConsistency(signer, { size: 5, root: headA.head.root }, { size: 8, root: headB.head.root }, b.consistencyProof(5, 8))
    const r = fresh.resolve(lie)
    assert.equal(r.status, 'equivocation')
    assert.equal((r as { evidence: Equivocation }).evidence.kind, 'bad-proof')
    assert.equal(fresh.isFlagged(signer.peerId), true)
    assert.equal(fresh.heads(signer.peerId).find(h => h.sth.head.size === 8)?.status, 'pending')
  })

  it('refuses malformed, forged and future heads, bad proofs and false evidence', () => {
    const log = logOf()
    grow(log, 4)
    const sth = log.signHead()
    const seen = book()
    const headInvalid = (e: unknown): boolean => isPlexusError(e, 'PLX_ERR_LEDGER_HEAD_INVALID')
    const proofInvalid = (e: unknown): boolean => isPlexusError(e, 'PLX_ERR_LEDGER_PROOF_INVALID')
    assert.throws(() => seen.observe({ head: sth.head }), headInvalid)
    assert.throws(() => seen.observe('head'), headInvalid)
    assert.throws(() => seen.observe({ ...sth, head: { ...sth.head, size: 5 } }), headInvalid)
    assert.throws(() => seen.observe({ ...sth, head: { ...sth.head, root: 'ab'.repeat(1000) } }), headInvalid)
    const mallory = makePeer()
    assert.throws(() => seen.observe({ ...signTreeHead(mallory, sth.head), head: sth.head }), headInvalid)
    assert.throws(() => seen.observe(signTreeHead(mallory, { size: 1, root: sth.head.root, timestamp: Date.now() + 3_600_000 })), headInvalid)
    assert.deepEqual(seen.heads(), [])

    // Proofs: unsigned, or signed by someone other than the log they speak for.
    const signed = log.signedConsistency(2, 4)
    assert.throws(() => seen.resolve({ statement: signed.statement }), proofInvalid)
    assert.throws(() => seen.resolve({ ...signed, statement: { ...signed.statement, log: mallory.peerId } }), proofInvalid)

    // Evidence that does not prove anything.
    const honest = signConsistency(mallory, { size: 1, root: sth.head.root }, { size: 1, root: sth.head.root }, [])
    assert.throws(() => verifyEquivocation({ v: 1, kind: 'bad-proof', signer: mallory.peerId, statement: honest }), proofInvalid)
    assert.throws(() => verifyEquivocation({ v: 1, kind: 'conflicting-roots', signer: log.owner, claims: [{ head: sth }, { head: sth }] }), proofInvalid)
    const other = signTreeHead(mallory, { size: 4, root: '00'.repeat(32), timestamp: 1 })
    assert.throws(() => verifyEquivocation({ v: 1, kind: 'conflicting-roots', signer: log.owner, claims: [{ head: sth }, { head: other }] }), proofInvalid)
    assert.throws(() => verifyEquivocation({ kind: 'bad-proof' }), proofInvalid)
    assert.equal(seen.isFlagged(log.owner), false)
  })
})
