import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { Books } from '../../../src/ledger/books.js'
import { signRecord } from '../../../src/ledger/records.js'
import { ConfigSchema, type PlexusConfig } from '../../../src/node/config.js'
import { silentLogger } from '../../../src/logger.js'
import { GovernanceService } from '../../../src/governance/service.js'
import { contentId, proposalOf } from '../../../src/governance/proposals.js'
import { makePeer, type TestPeer } from '../../helpers/ledger.js'
import { tempDir } from '../../helpers/node.js'

const dirs: string[] = []
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

function open (identity: TestPeer, config: PlexusConfig, balancesAt: (t: number) => Promise<Map<string, bigint>> = async () => new Map(), dir = tempDir('plexus-gov-')): { books: Books, gov: GovernanceService, dir: string } {
  dirs.push(dir)
  const books = new Books({ dir, identity, logger: silentLogger(), config: () => config.ledger })
  const gov = new GovernanceService({ books, config, logger: silentLogger(), hooks: { deny: () => {}, allow: () => {} }, network: null, balancesAt })
  return { books, gov, dir }
}

const fast = { governance: { votingPeriodSeconds: 1, timelockSeconds: 5 } }

describe('governance service (one node, no network)', () => {
  it('refuses invalid changes at submission and signs nothing', async () => {
    const { books, gov } = open(makePeer(), ConfigSchema.parse(fast))
    await gov.start()
    await assert.rejects(gov.propose({ title: 'x', change: { type: 'set', param: 'nope', value: 1 } }), { code: 'PLX_ERR_GOV_CHANGE_INVALID' })
    await assert.rejects(gov.propose({ title: 'x', change: { type: 'set', param: 'stats.disclosure.tab', value: 2_000_000 } }), { code: 'PLX_ERR_GOV_CHANGE_INVALID' })
    await assert.rejects(gov.propose({ title: 'x', change: { type: 'set', param: 'stats.disclosure.tab', value: 5 }, votingPeriodSeconds: 0 }), { code: 'PLX_ERR_GOV_PROPOSAL_INVALID' })
    await assert.rejects(gov.propose({ change: { type: 'set', param: 'stats.disclosure.tab', value: 5 } }), { code: 'PLX_ERR_GOV_PROPOSAL_INVALID' })
    assert.equal(books.log.size, 0)
    assert.equal(await gov.receive({ record: 'garbage' }), 'invalid')
    assert.equal(await gov.receive(null), 'invalid')
    await gov.stop()
    await books.stop()
  })

  it('tallies, applies after the timelock, records both, and applies again after a restart', async () => {
    const me = makePeer()
    const config = ConfigSchema.parse(fast)
    const { books, gov, dir } = open(me, config)
    await gov.start()
    const p = await gov.propose({ title: 'Stricter tables', change: { type: 'set', param: 'stats.disclosure.tab', value: 5 } })
    assert.equal(p.status, 'voting')
    assert.deepEqual(p.electorate, [{ peer: me.peerId, weight: '1' }])
    await gov.vote(p.id, 'no')
    await gov.vote(p.id, 'yes')
    const end = Date.parse(p.end)
    await gov.tick(end + 2000)
    assert.equal(gov.view(p.id).status, 'passed')
    assert.equal(config.stats.disclosure.tab, 3, 'not before the timelock')
    await gov.tick(Date.parse(p.applyAt))
    assert.equal(gov.view(p.id).status, 'applied')
    assert.equal(config.stats.disclosure.tab, 5)
    const kinds = books.log.receipts(0).map(e => 'record' in e.receipt ? e.receipt.record.kind : 'receipt')
    assert.deepEqual(kinds, ['proposal', 'vote', 'vote', 'outcome', 'applied'])
    await assert.rejects(gov.vote(p.id, 'no'), { code: 'PLX_ERR_GOV_CLOSED' })
    await gov.stop()
    await books.stop()

    const fresh = ConfigSchema.parse(fast)
    const again = open(me, fresh, undefined, dir)
    await again.gov.start()
    assert.equal(fresh.stats.disclosure.tab, 5, 'the applied change is applied again from the log')
    assert.equal(again.gov.view(p.id).status, 'applied')
    assert.equal(again.gov.tally(p.id).yes, '1')
    assert.deepEqual(again.gov.view(p.id).outcome, gov.view(p.id).outcome)
    await again.gov.stop()
    await again.books.stop()
  })

  it('a reward weight changed by a vote is in force from its apply time on, also after a restart', async () => {
    // Prepare
    const me = makePeer()
    const config = ConfigSchema.parse(fast)
    const old = config.ledger.weights.completionToken
    const { books, gov, dir } = open(me, config)
    await gov.start()
    const p = await gov.propose({ title: 'Pay completions more', change: { type: 'set', param: 'ledger.weights.completionToken', value: old + 4 } })
    await gov.vote(p.id, 'yes')

    // Execute
    await gov.tick(Date.parse(p.end) + 2000)
    await gov.tick(Date.parse(p.applyAt))

    // Assert: the running value changed; before the apply time the old one is in force.
    const applyAt = Date.parse(p.applyAt)
    assert.equal(config.ledger.weights.completionToken, old + 4)
    assert.equal(gov.weightsAt(applyAt - 1).completionToken, old)
    assert.equal(gov.weightsAt(applyAt).completionToken, old + 4)
    assert.deepEqual(gov.weightsAt(0), { ...config.ledger.weights, completionToken: old })
    await gov.stop()
    await books.stop()

    // After a restart, from the log.
    const fresh = ConfigSchema.parse(fast)
    const again = open(me, fresh, undefined, dir)
    await again.gov.start()
    assert.equal(again.gov.weightsAt(applyAt - 1).completionToken, old)
    assert.equal(again.gov.weightsAt(applyAt).completionToken, old + 4)
    await again.gov.stop()
    await again.books.stop()
  })

  it('a peer catching up receives only the proposals it lacks, or holds with other votes', async () => {
    // Prepare: two open proposals, one vote on the first.
    const { books, gov } = open(makePeer(), ConfigSchema.parse({ governance: { votingPeriodSeconds: 600, timelockSeconds: 5 } }))
    await gov.start()
    const a = await gov.propose({ title: 'A', change: { type: 'set', param: 'stats.disclosure.tab', value: 5 } })
    const b = await gov.propose({ title: 'B', change: { type: 'set', param: 'router.defaultPrivacy', value: 'community' } })
    await gov.vote(a.id, 'yes')
    const ids = (records: Array<{ record: { id: string, kind: string } }>): string[] => records.map(r => `${r.record.kind}:${r.record.kind === 'vote' ? 'v' : r.record.id}`)
    const have = gov.have()

    // Execute + Assert: nothing said, everything (proposals first); everything held, nothing.
    const all = ids(gov.shareable(null))
    assert.deepEqual(all.slice(0, 2).sort(), [`proposal:${a.id}`, `proposal:${b.id}`].sort())
    assert.deepEqual(all.slice(2), ['vote:v'])
    assert.deepEqual(Object.keys(have).sort(), [a.id, b.id].sort())
    assert.deepEqual(gov.shareable(have), [])
    // B held, A not: A and its vote. A held with other votes (another digest): A and its vote again.
    assert.deepEqual(ids(gov.shareable({ [b.id]: have[b.id]! })), [`proposal:${a.id}`, 'vote:v'])
    assert.deepEqual(ids(gov.shareable({ ...have, [a.id]: '0'.repeat(16) })), [`proposal:${a.id}`, 'vote:v'])
    await gov.stop()
    await books.stop()
  })

  it('token mode weighs by the balances at the proposal\'s start, not later ones', async () => {
    const me = makePeer()
    const whale = makePeer()
    const members = [me.peerId, whale.peerId].sort()
    const config = ConfigSchema.parse({ governance: { ...fast.governance, mode: 'token', members } })
    // A deterministic balance source: the whale only earns after t0.
    let t0 = Number.MAX_SAFE_INTEGER
    const balancesAt = async (t: number): Promise<Map<string, bigint>> => new Map([[me.peerId, 100n], [whale.peerId, t > t0 ? 1_000_000n : 10n]])
    const { books, gov } = open(me, config, balancesAt)
    await gov.start()
    const p = await gov.propose({ title: 'Community models', change: { type: 'set', param: 'router.defaultPrivacy', value: 'community' } })
    t0 = Date.parse(p.start)
    assert.deepEqual(p.electorate.find(v => v.peer === whale.peerId)?.weight, '10')
    assert.deepEqual(p.electorate.find(v => v.peer === me.peerId)?.weight, '100')
    await gov.vote(p.id, 'yes')
    const data = { proposal: p.id, choice: 'no' }
    const time = Date.now()
    assert.equal(await gov.receive(signRecord(whale, { kind: 'vote', id: contentId('vote', whale.peerId, time, data), time, data })), 'accepted')
    const t = gov.tally(p.id)
    assert.equal(t.yes, '100')
    assert.equal(t.no, '10')
    assert.equal(t.passed, true)

    // A peer's proposal whose snapshot disagrees with this node's balances is refused.
    const start = Date.now()
    const forged = { network: 'local', title: 'x', description: '', change: { type: 'set', param: 'stats.disclosure.tab', value: 9 }, end: start + 1000, applyAt: start + 6000, mode: 'token', quorum: 0.5, threshold: 0.5, electorate: members.map(peer => ({ peer, weight: peer === whale.peerId ? '1000000' : '100' })) }
    t0 = start + 10_000
    const rec = signRecord(whale, { kind: 'proposal', id: contentId('gov', whale.peerId, start, forged), time: start, data: forged })
    assert.ok(proposalOf(rec))
    assert.equal(await gov.receive(rec), 'snapshot-mismatch')
    await gov.stop()
    await books.stop()
  })
})
