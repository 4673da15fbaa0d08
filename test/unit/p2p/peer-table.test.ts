import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { PeerTable, REPUTATION_MIN, REPUTATION_MAX } from '../../../src/p2p/peer-table.js'
import { peerCost } from '../../../src/router/router.js'
import type { AdvertPayload } from '../../../src/p2p/adverts.js'

function advert (peerId: string, seq: number, over: Partial<AdvertPayload> = {}): AdvertPayload {
  return {
    v: 1, network: 'n', peerId, seq, issuedAt: seq, ttlSeconds: 10, version: '0',
    models: [{ name: 'm', sha256: 'a'.repeat(64), contextLength: 512, quantization: null, parameters: null, tokensPerSecond: 100 }],
    load: { active: 0, waiting: 0, parallel: 2 },
    community: { accepts: true, maxConcurrentJobs: 2, maxTokens: 100, requestsPerMinute: 60 },
    ...over
  }
}

describe('peer table', () => {
  it('keeps the newest advert per peer and forgets it after its ttl', () => {
    let now = 1_000
    const t = new PeerTable({ now: () => now })
    assert.equal(t.upsert(advert('p', 5)), true)
    assert.equal(t.upsert(advert('p', 5)), false, 'a replay is not newer')
    assert.equal(t.upsert(advert('p', 4)), false)
    assert.equal(t.upsert(advert('p', 6, { version: 'new' })), true)
    assert.equal(t.get('p')?.advert.version, 'new')
    now += 9_999
    assert.equal(t.size, 1)
    now += 1
    assert.equal(t.get('p'), null)
    assert.equal(t.size, 0)
  })

  it('averages latency and bounds reputation; statistics outlive adverts', () => {
    let now = 0
    const t = new PeerTable({ now: () => now })
    t.upsert(advert('p', 1))
    t.recordLatency('p', 10)
    t.recordLatency('p', 20)
    assert.equal(t.get('p')?.latencyMs, 13)
    for (let i = 0; i < 50; i++) t.recordOutcome('p', false)
    assert.equal(t.get('p')?.reputation, REPUTATION_MIN)
    for (let i = 0; i < 100; i++) t.recordOutcome('p', true)
    assert.equal(t.get('p')?.reputation, REPUTATION_MAX)
    now += 20_000
    assert.equal(t.get('p'), null)
    t.upsert(advert('p', 2))
    assert.equal(t.get('p')?.reputation, REPUTATION_MAX)
    assert.equal(t.get('p')?.served, 100)
  })

  it('saves outcomes, not spot checks: a restored table replays checks on top of them', () => {
    // Prepare: outcomes and a spot-check mismatch on one table.
    const first = new PeerTable()
    for (let i = 0; i < 4; i++) first.recordOutcome('p', true)
    first.recordOutcome('p', false)
    first.recordCheck('p', false, 3)
    first.recordOutcome('q', true)
    const changes = first.changes

    // Execute: a new table (a restart) takes the snapshot back, and the mismatch is replayed (as the spot checker does from the ledger).
    const saved = first.snapshot()
    const second = new PeerTable()
    second.restore(JSON.parse(JSON.stringify(saved)) as typeof saved)
    second.recordCheck('p', false, 3)
    second.upsert(advert('p', 1))

    // Assert
    assert.deepEqual(saved, { p: { served: 4, failed: 1, outcomes: 1 }, q: { served: 1, failed: 0, outcomes: 1 } })
    assert.ok(changes >= 6)
    const p = second.get('p')!
    assert.deepEqual([p.served, p.failed, p.mismatches, p.reputation], [4, 1, 1, first.snapshot().p!.outcomes - 5])
    assert.equal('outcomes' in p, false, 'the saved part is not part of an entry')
  })

  it('scores peers: idle, fast, close and reliable first; shunned peers last', () => {
    const t = new PeerTable({ now: () => 0 })
    t.upsert(advert('idle', 1))
    t.upsert(advert('busy', 1, { load: { active: 2, waiting: 4, parallel: 2 } }))
    t.upsert(advert('slow', 1, { models: [{ name: 'm', sha256: 'a'.repeat(64), contextLength: 512, quantization: null, parameters: null, tokensPerSecond: 10 }] }))
    t.upsert(advert('bad', 1))
    for (let i = 0; i < 5; i++) t.recordOutcome('bad', false)
    const order = t.list().sort((x, y) => peerCost(x, 'm') - peerCost(y, 'm')).map(e => e.peerId)
    assert.deepEqual(order, ['idle', 'busy', 'slow', 'bad'])
  })
})
