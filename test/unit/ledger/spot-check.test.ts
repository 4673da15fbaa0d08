import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { PeerTable, MISMATCH_PENALTY } from '../../../src/p2p/peer-table.js'
import { SpotChecker, type SpotCheckData } from '../../../src/ledger/spot-check.js'
import { signRecord, type SignedRecord } from '../../../src/ledger/records.js'
import type { PlexusNetwork } from '../../../src/p2p/network.js'
import type { AdvertPayload } from '../../../src/p2p/adverts.js'
import { silentLogger } from '../../../src/logger.js'
import { makePeer } from '../../helpers/ledger.js'

function advert (peerId: string, sha256: string): AdvertPayload {
  return {
    v: 1, network: 'n', peerId, seq: 1, issuedAt: 1, ttlSeconds: 600, version: '0',
    models: [{ name: 'm', sha256, contextLength: 512, quantization: null, parameters: null, tokensPerSecond: 100 }],
    load: { active: 0, waiting: 0, parallel: 2 },
    community: { accepts: true, maxConcurrentJobs: 2, maxTokens: 100, requestsPerMinute: 60 }
  }
}

function checkRecord (author: ReturnType<typeof makePeer>, provider: string, verdict: SpotCheckData['verdict'], n: number): SignedRecord {
  return signRecord(author, { kind: 'spot-check', id: `chk:inf:test:${n}`, time: 1_700_000_000_000 + n, data: { receipt: `inf:test:${n}`, provider, verifier: 'v', match: verdict === 'match', verdict } })
}

describe('spot checks: the peer table and the checker', () => {
  it('a mismatch costs reputation; the maxMismatches-th excludes the peer, with the reason', () => {
    const t = new PeerTable()
    t.upsert(advert('p', 'a'.repeat(64)))
    t.recordCheck('p', true, 2)
    assert.equal(t.get('p')!.checksMatched, 1)
    assert.equal(t.get('p')!.reputation, 0, 'a match changes nothing else')
    t.recordCheck('p', false, 2, 'receipt r1')
    assert.equal(t.get('p')!.reputation, -MISMATCH_PENALTY)
    assert.equal(t.get('p')!.excluded, null)
    t.recordCheck('p', false, 2, 'receipt r2')
    assert.equal(t.get('p')!.mismatches, 2)
    assert.match(t.excludedWhy('p') ?? '', /^2 spot-check mismatches: .*receipt r2/)
  })

  it('restores exclusions from its own signed records only; picks verifiers among third peers with the same model file', () => {
    const self = makePeer()
    const stranger = makePeer()
    const table = new PeerTable()
    const sha = 'b'.repeat(64)
    for (const p of ['provider', 'honest', 'other-file']) table.upsert(advert(p, p === 'other-file' ? 'c'.repeat(64) : sha))
    const network = { table, peerId: self.peerId, run: async () => { throw new Error('no network in this test') } } as unknown as Pick<PlexusNetwork, 'run' | 'table' | 'peerId'>
    const checker = new SpotChecker({ network, note: () => { throw new Error('not called') }, logger: silentLogger(), settings: () => ({ fraction: 1, maxMismatches: 2 }) })
    const replayed = checker.restore([
      checkRecord(self, 'provider', 'mismatch', 1),
      checkRecord(stranger, 'honest', 'mismatch', 2),
      checkRecord(stranger, 'honest', 'mismatch', 3),
      checkRecord(self, 'provider', 'inconclusive', 4),
      checkRecord(self, 'provider', 'mismatch', 5)
    ], self.peerId)
    assert.equal(replayed, 3)
    assert.notEqual(table.excludedWhy('provider'), null)
    assert.equal(table.excludedWhy('honest'), null, 'another node\'s records do not count here')
    assert.deepEqual(checker.stats, { scheduled: 0, active: 0, matched: 0, mismatched: 2, inconclusive: 1, noVerifier: 0, failed: 0 })
    const job = { model: 'm', sha256: sha, prompt: 'x', maxTokens: 10, sampling: { seed: 1 } }
    assert.deepEqual(checker.verifiers('honest', sha, job).map(e => e.peerId), [], 'the excluded provider and a peer with another file never verify')
    assert.deepEqual(checker.verifiers('provider', sha, job).map(e => e.peerId), ['honest'])
    assert.deepEqual(checker.verifiers('provider', sha, { ...job, maxTokens: 1000 }).map(e => e.peerId), [], 'a peer whose limit is below the job is not asked')
  })
})
