import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { signRecord, type SignedRecord } from '../../../src/ledger/records.js'
import { contentId, proposalOf, type ProposalData } from '../../../src/governance/proposals.js'
import { tally } from '../../../src/governance/tally.js'
import { makePeer, type TestPeer } from '../../helpers/ledger.js'

const START = 1_800_000_000_000
const END = START + 10_000

function propose (author: TestPeer, electorate: Array<{ peer: string, weight: string }>, over: Partial<ProposalData> = {}): ReturnType<typeof proposalOf> {
  const data = {
    network: 'test', title: 'Stricter tables', description: '', change: { type: 'set', param: 'stats.disclosure.tab', value: 5 },
    end: END, applyAt: END + 1000, mode: 'member', quorum: 0.5, threshold: 0.5,
    electorate: [...electorate].sort((a, b) => a.peer < b.peer ? -1 : 1),
    ...over
  }
  return proposalOf(signRecord(author, { kind: 'proposal', id: contentId('gov', author.peerId, START, data), time: START, data }))
}

function vote (voter: TestPeer, proposal: string, choice: string, time: number): SignedRecord {
  const data = { proposal, choice }
  return signRecord(voter, { kind: 'vote', id: contentId('vote', voter.peerId, time, data), time, data })
}

function shuffle<T> (a: T[], seed: number): T[] {
  const out = [...a]
  let s = seed
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

describe('governance tally', () => {
  const peers = Array.from({ length: 5 }, () => makePeer())
  const members = peers.map(p => ({ peer: p.peerId, weight: '1' }))

  it('gives the same result for the same votes in any order, counting each voter\'s latest vote', () => {
    const p = propose(peers[0]!, members)
    const votes = [
      vote(peers[0]!, p.id, 'yes', START + 1),
      vote(peers[1]!, p.id, 'yes', START + 2),
      vote(peers[2]!, p.id, 'yes', START + 3),
      vote(peers[2]!, p.id, 'no', START + 4), // replaces peer 2's yes
      vote(peers[3]!, p.id, 'abstain', START + 5)
    ]
    const first = tally(p, votes)
    assert.equal(first.yes, '2')
    assert.equal(first.no, '1')
    assert.equal(first.abstain, '1')
    assert.equal(first.eligible, '5')
    assert.equal(first.ignored.replaced, 1)
    assert.equal(first.passed, true)
    for (let seed = 1; seed <= 20; seed++) assert.deepEqual(tally(p, shuffle([...votes, votes[1]!], seed)), tally(p, shuffle([...votes, votes[1]!], seed + 100)))
    assert.equal(tally(p, [...votes, votes[1]!]).ignored.duplicate, 1)
  })

  it('ignores forged, replayed, late, early, foreign and non-member votes', () => {
    const p = propose(peers[0]!, members.slice(0, 3))
    const other = propose(peers[1]!, members.slice(0, 3), { title: 'another' })
    const good = vote(peers[1]!, p.id, 'yes', START + 100)
    const forged = { record: { ...good.record, author: peers[2]!.peerId }, signature: good.signature }
    const tampered = { record: { ...good.record, data: { ...good.record.data, choice: 'no' } }, signature: good.signature }
    const t = tally(p, [
      good, good, forged, tampered,
      vote(peers[0]!, p.id, 'no', END + 1),
      vote(peers[2]!, p.id, 'no', START - 1),
      vote(peers[2]!, other.id, 'no', START + 50),
      vote(peers[4]!, p.id, 'no', START + 50)
    ])
    assert.equal(t.yes, '1')
    assert.equal(t.no, '0')
    assert.deepEqual(t.ignored, { duplicate: 1, invalid: 2, 'after-end': 1, 'before-start': 1, 'other-proposal': 1, 'not-eligible': 1 })
    // 1 of 3 voted: no quorum at 0.5.
    assert.equal(t.quorumMet, false)
    assert.equal(t.passed, false)
  })

  it('checks the quorum and a strict threshold', () => {
    const p = propose(peers[0]!, members.slice(0, 4))
    const tie = tally(p, [vote(peers[0]!, p.id, 'yes', START + 1), vote(peers[1]!, p.id, 'no', START + 1)])
    assert.equal(tie.quorumMet, true)
    assert.equal(tie.thresholdMet, false, 'a tie does not pass a 0.5 threshold')
    const abstainOnly = tally(p, [vote(peers[0]!, p.id, 'yes', START + 1), vote(peers[1]!, p.id, 'abstain', START + 1)])
    assert.equal(abstainOnly.passed, true, 'abstentions count for the quorum, not the threshold')
    const rule = propose(peers[0]!, members.slice(0, 3), { threshold: 0.66 })
    const twoOfThree = tally(rule, [vote(peers[0]!, rule.id, 'yes', START + 1), vote(peers[1]!, rule.id, 'yes', START + 1), vote(peers[2]!, rule.id, 'no', START + 1)])
    assert.equal(twoOfThree.passed, true)
    const higher = propose(peers[0]!, members.slice(0, 3), { threshold: 0.67 })
    assert.equal(tally(higher, [vote(peers[0]!, higher.id, 'yes', START + 1), vote(peers[1]!, higher.id, 'yes', START + 1), vote(peers[2]!, higher.id, 'no', START + 1)]).passed, false)
  })

  it('weighs votes by the balances in the proposal (token mode)', () => {
    const p = propose(peers[0]!, [{ peer: peers[0]!.peerId, weight: '900' }, { peer: peers[1]!.peerId, weight: '50' }, { peer: peers[2]!.peerId, weight: '50' }], { mode: 'token' })
    const t = tally(p, [vote(peers[0]!, p.id, 'no', START + 1), vote(peers[1]!, p.id, 'yes', START + 1), vote(peers[2]!, p.id, 'yes', START + 1)])
    assert.equal(t.eligible, '1000')
    assert.equal(t.yes, '100')
    assert.equal(t.no, '900')
    assert.equal(t.passed, false)
  })

  it('refuses proposals whose id, change or times do not hold', () => {
    const data = { network: 'test', title: 't', description: '', change: { type: 'set', param: 'stats.disclosure.tab', value: 5 }, end: END, applyAt: END, mode: 'member', quorum: 0.5, threshold: 0.5, electorate: members.slice(0, 1) }
    const author = peers[0]!
    assert.throws(() => proposalOf(signRecord(author, { kind: 'proposal', id: 'gov-00000000000000000000000000000000', time: START, data })), { code: 'PLX_ERR_GOV_PROPOSAL_INVALID' })
    const bad = { ...data, change: { type: 'set', param: 'api.port', value: 1 } }
    assert.throws(() => proposalOf(signRecord(author, { kind: 'proposal', id: contentId('gov', author.peerId, START, bad), time: START, data: bad })), /unknown parameter/)
    const backwards = { ...data, end: START - 1 }
    assert.throws(() => proposalOf(signRecord(author, { kind: 'proposal', id: contentId('gov', author.peerId, START, backwards), time: START, data: backwards })), /end after it starts/)
  })
})
