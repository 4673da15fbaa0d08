import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { signRecord, type SignedRecord } from '../../../src/ledger/records.js'
import { addUptime, settleEpoch, settlementTime, type RewardParams } from '../../../src/ledger/rewards.js'
import {
  MAX_SCORED_PEERS, SCORE_OUTCOMES, scoreCommitment, scoreCommitRecord, scoreRecordIds, scoreRevealRecord, scoreSalt, tallyScores,
  type ScoreOutcome, type UptimeScores
} from '../../../src/ledger/scores.js'
import { makePeer, type TestPeer } from '../../helpers/ledger.js'

/** Epoch 0 is [0, 10 s); its commit window [10 s, 12 s), its reveal window [12 s, 15 s). */
const P: RewardParams = { genesisMs: 0, epochSeconds: 10, emissionSeconds: 3600, commitSeconds: 2, revealSeconds: 3 }
const END = 10_000
const IN_COMMIT = END + 500
const IN_REVEAL = END + 2500

function commit (peer: TestPeer, scores: UptimeScores, time = IN_COMMIT, epoch = 0): SignedRecord {
  return signRecord(peer, scoreCommitRecord(peer, epoch, scores, time))
}

function reveal (peer: TestPeer, scores: UptimeScores, time = IN_REVEAL, epoch = 0): SignedRecord {
  return signRecord(peer, scoreRevealRecord(peer, epoch, scores, time))
}

/** A record of the scorer's with its own id suffix and data (what a dishonest scorer can write). */
function custom (peer: TestPeer, kind: 'score-commit' | 'score-reveal', suffix: string, time: number, data: Record<string, unknown>): SignedRecord {
  return signRecord(peer, { kind, id: `${kind}:0:${peer.peerId}:${suffix}`, time, data })
}

function ignored (over: Partial<Record<ScoreOutcome, number>> = {}): Record<ScoreOutcome, number> {
  return { ...Object.fromEntries(SCORE_OUTCOMES.map(o => [o, 0])) as Record<ScoreOutcome, number>, ...over }
}

describe('uptime scores by commit-then-reveal', () => {
  const [alice, bob, carol, dave, subject] = Array.from({ length: 5 }, () => makePeer()) as [TestPeer, TestPeer, TestPeer, TestPeer, TestPeer]
  const s = subject.peerId

  it('the uptime of a subject is the lower median of the scores revealed for it', () => {
    // Prepare: three honest scorers; one of them also scores a second subject.
    const records = [
      commit(alice, { [s]: 900, [bob.peerId]: 1000 }), reveal(alice, { [s]: 900, [bob.peerId]: 1000 }),
      commit(bob, { [s]: 800 }), reveal(bob, { [s]: 800 }),
      commit(carol, { [s]: 100 }), reveal(carol, { [s]: 100 })
    ]

    // Execute
    const t = tallyScores(P, records).get(0)!

    // Assert
    assert.deepEqual([...t.uptime], [[s, 800], [bob.peerId, 1000]].sort(([a], [b]) => (a! < b! ? -1 : 1)))
    assert.deepEqual(t.scorers, [alice.peerId, bob.peerId, carol.peerId].sort())
    assert.deepEqual(t.ignored, ignored())
    // Four scores: the lower of the two middle ones; one liar among honest scores cannot pull it down.
    const four = tallyScores(P, [...records, commit(dave, { [s]: 500 }), reveal(dave, { [s]: 500 })]).get(0)!
    assert.equal(four.uptime.get(s), 500)
    const liar = tallyScores(P, [
      commit(alice, { [s]: 1000 }), reveal(alice, { [s]: 1000 }), commit(bob, { [s]: 990 }), reveal(bob, { [s]: 990 }),
      commit(carol, { [s]: 0 }), reveal(carol, { [s]: 0 })
    ]).get(0)!
    assert.equal(liar.uptime.get(s), 990)
  })

  it('ignores, and counts, commitments outside the window, early, late, unmatched, uncommitted and duplicate reveals, and self-scores', () => {
    // Prepare
    const scores = { [s]: 700 }
    const records = [
      // Alice: a second commitment in the window is a duplicate; her reveal opens the first, twice.
      commit(alice, scores), custom(alice, 'score-commit', 'again', IN_COMMIT + 100, { epoch: 0, commitment: 'ab'.repeat(32) }),
      reveal(alice, scores), custom(alice, 'score-reveal', 'again', IN_REVEAL + 100, reveal(alice, scores).record.data),
      // Bob commits before the epoch ended, and reveals anyway: no commitment counts.
      commit(bob, scores, END - 1), reveal(bob, scores),
      // Carol commits after the commit window closed.
      commit(carol, scores, END + 2000),
      // Dave reveals during the commit window, then after the reveal window.
      commit(dave, scores), reveal(dave, scores, END + 1999), custom(dave, 'score-reveal', 'late', END + 5000, reveal(dave, scores).record.data)
    ]

    // Execute
    const t = tallyScores(P, records).get(0)!

    // Assert
    assert.deepEqual(t.scorers, [alice.peerId])
    assert.equal(t.uptime.get(s), 700)
    assert.deepEqual(t.ignored, ignored({ duplicate: 2, 'commit-outside-window': 2, 'no-commit': 1, early: 1, late: 1 }))

    // A reveal that does not open its commitment (other scores), and a scorer scoring itself.
    const self = { [alice.peerId]: 1000, [s]: 300 }
    const salt = scoreSalt(bob, 0)
    const t2 = tallyScores(P, [
      commit(alice, { [s]: 300 }), custom(alice, 'score-reveal', 'other', IN_REVEAL, { epoch: 0, scores: { [s]: 999 }, salt: scoreSalt(alice, 0) }),
      custom(bob, 'score-commit', 'self', IN_COMMIT, { epoch: 0, commitment: scoreCommitment(bob.peerId, 0, { [bob.peerId]: 1000, [s]: 300 }, salt) }),
      custom(bob, 'score-reveal', 'self', IN_REVEAL, { epoch: 0, scores: { [bob.peerId]: 1000, [s]: 300 }, salt })
    ]).get(0)!
    assert.deepEqual(t2.ignored, ignored({ mismatch: 1, self: 1 }))
    assert.deepEqual([...t2.uptime], [[s, 300]])
    // The record builders leave the scorer out of its own scores.
    assert.deepEqual(reveal(alice, self).record.data.scores, { [s]: 300 })
  })

  it('copying another scorer\'s commitment is useless: it opens only for the scorer it names', () => {
    // Prepare: Dave copies Alice's commitment into his own record, then her revealed scores and salt.
    const a = commit(alice, { [s]: 100 })
    const copied = custom(dave, 'score-commit', 'copy', IN_COMMIT + 1, { epoch: 0, commitment: a.record.data.commitment as string })
    const r = reveal(alice, { [s]: 100 })
    const replay = custom(dave, 'score-reveal', 'copy', IN_REVEAL + 1, r.record.data)

    // Execute
    const t = tallyScores(P, [a, copied, r, replay]).get(0)!

    // Assert: Dave's reveal does not open the copied hash (the scorer is inside it); only Alice counts.
    assert.deepEqual(t.scorers, [alice.peerId])
    assert.deepEqual(t.ignored, ignored({ mismatch: 1 }))
    assert.notEqual(scoreCommitment(dave.peerId, 0, { [s]: 100 }, scoreSalt(alice, 0)), a.record.data.commitment)
  })

  it('malformed or forged score records are refused as invalid; other entries are left out', () => {
    const good = commit(alice, { [s]: 500 })
    const forged = { ...good, record: { ...good.record, data: { epoch: 0, commitment: 'cd'.repeat(32) } } }
    const malformed = signRecord(bob, { kind: 'score-reveal', id: scoreRecordIds(bob.peerId, 0).reveal, time: IN_REVEAL, data: { epoch: 0, scores: { 'not a peer': 5 }, salt: 'x' } })
    const tooMany = Object.fromEntries(Array.from({ length: MAX_SCORED_PEERS + 1 }, () => [makePeer().peerId, 1]))
    const big = signRecord(carol, { kind: 'score-reveal', id: scoreRecordIds(carol.peerId, 0).reveal, time: IN_REVEAL, data: { epoch: 0, scores: tooMany, salt: scoreSalt(carol, 0) } })
    const vote = signRecord(alice, { kind: 'vote', id: 'vote-00000001', time: 1, data: {} })
    const t = tallyScores(P, [good, forged, malformed, big, vote, { record: { kind: 'score-commit' } }, null]).get(0)!
    assert.equal(t.ignored.invalid, 4)
    assert.equal(t.uptime.size, 0, 'a commitment alone gives no score')
  })

  it('is deterministic: the same records in any order, copied from several logs, give the same tally', () => {
    // Prepare
    const peers = [alice, bob, carol, dave]
    const records = peers.flatMap((p, i) => {
      const scores = Object.fromEntries(peers.filter(q => q !== p).map((q, j) => [q.peerId, (i * 137 + j * 291) % 1001]))
      return [commit(p, scores, IN_COMMIT + i), reveal(p, scores, IN_REVEAL + i), reveal(p, { ...scores, [s]: 1 }, END + 5000 + i)]
    })
    const expected = tallyScores(P, records)

    // Execute + Assert
    let seed = 7
    for (let k = 0; k < 20; k++) {
      const copy = [...records, ...records.slice(0, k % records.length)].map(r => structuredClone(r))
      for (let i = copy.length - 1; i > 0; i--) { seed = (seed * 1103515245 + 12345) % 2 ** 31; const j = seed % (i + 1); [copy[i], copy[j]] = [copy[j]!, copy[i]!] }
      assert.deepEqual(tallyScores(P, copy), expected)
    }
    assert.equal(expected.get(0)!.scorers.length, 4)
    assert.equal(expected.get(0)!.ignored.late, 4)
  })

  it('the salt is the scorer\'s secret per epoch, and the same after a restart', () => {
    assert.equal(scoreSalt(alice, 3), scoreSalt(alice, 3))
    assert.notEqual(scoreSalt(alice, 3), scoreSalt(alice, 4))
    assert.notEqual(scoreSalt(alice, 3), scoreSalt(bob, 3))
    assert.match(scoreSalt(alice, 3), /^[A-Za-z0-9_-]{43}$/)
  })

  it('medians become uptime points and the rows\' uptime column; settlement waits for both windows', () => {
    const t = tallyScores(P, [commit(alice, { [s]: 800, [bob.peerId]: 50 }), reveal(alice, { [s]: 800, [bob.peerId]: 50 })]).get(0)!
    const points = addUptime({ ...P, weights: { promptToken: 1, completionToken: 1, flSample: 1, statsQuery: 1, uptime: 10 } }, 0, { points: new Map([[carol.peerId, 5n]]), counted: 1, rejected: 0 }, t.uptime).points
    assert.equal(points.get(s), 8000n)
    assert.equal(points.get(bob.peerId), 500n)
    const table = settleEpoch(P, 0, points, t.uptime)
    assert.deepEqual(table.rows.map(r => [r.peer, r.uptime]).sort(), [[s, 800], [bob.peerId, 50], [carol.peerId, null]].sort())
    assert.equal(table.settledAt, END + 5000)
    assert.equal(settlementTime(P, 1), 20_000 + 5000)
    const r0 = table.rows.find(r => r.peer === s)!
    const r1 = table.rows.find(r => r.peer === bob.peerId)!
    assert.ok(BigInt(r0.rewardMicro) > BigInt(r1.rewardMicro))
  })
})
