import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isPlexusError } from '../../../src/errors.js'
import {
  EMISSION_SECONDS, MICRO_PER_TOKEN, balances, emissionEpochs, epochBounds, epochOf, nodeCap,
  pointsFromReceipts, settleEpoch, tallyReceipts, type RewardParams, type RewardTable
} from '../../../src/ledger/rewards.js'
import type { SignedReceipt } from '../../../src/ledger/receipts.js'
import { makePeer, makeReceipt, type TestPeer } from '../../helpers/ledger.js'

const LIMIT = 1500n * MICRO_PER_TOKEN
const WEEK = 7 * 86_400

/** Deterministic pseudo-random numbers (xorshift32), so a failure can be replayed. */
function rng (seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32 }
}

function shuffle<T> (items: T[], rand: () => number): T[] {
  const a = [...items]
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [a[i], a[j]] = [a[j]!, a[i]!] }
  return a
}

function checkTable (t: RewardTable): void {
  const cap = BigInt(t.capMicro)
  let paid = 0n
  for (const row of t.rows) {
    assert.ok(BigInt(row.rewardMicro) <= cap, `epoch ${t.epoch}: ${row.rewardMicro} > cap ${cap}`)
    assert.ok(BigInt(row.rewardMicro) >= 0n)
    paid += BigInt(row.rewardMicro)
  }
  assert.equal(paid.toString(), t.paidMicro)
  assert.ok(paid <= BigInt(t.poolMicro), `epoch ${t.epoch} pays ${paid} of a pool of ${t.poolMicro}`)
}

describe('rewards', () => {
  it('releases exactly 1,500 tokens per node over 36 months, evenly, whatever the epoch length', () => {
    for (const epochSeconds of [1, 3600, 86_400, WEEK, 30 * 86_400, 7_777_777]) {
      const p: RewardParams = { genesisMs: 1_700_000_000_000, epochSeconds }
      const n = emissionEpochs(p)
      if (n > 200_000) continue // one-second epochs: checked on a shorter emission below
      let sum = 0n
      let min = LIMIT
      let max = 0n
      for (let e = 0; e < n; e++) {
        const c = nodeCap(p, e)
        sum += c
        if (e < n - 1) { if (c < min) min = c; if (c > max) max = c }
      }
      assert.equal(sum, LIMIT, `epochs of ${epochSeconds} s`)
      assert.ok(max - min <= 1n, 'full epochs differ by at most one micro-token')
      assert.equal(nodeCap(p, n), 0n)
      assert.equal(nodeCap(p, -1), 0n)
    }
    const short: RewardParams = { genesisMs: 0, epochSeconds: 1, emissionSeconds: 36 }
    assert.equal(Array.from({ length: 40 }, (_, e) => nodeCap(short, e)).reduce((a, b) => a + b), LIMIT)
    assert.equal(EMISSION_SECONDS, 94_672_800)
  })

  it('over a simulated 36 months no node exceeds 1,500 tokens and no epoch exceeds its pool', () => {
    // Prepare: 12 nodes joining and leaving at random, with random contributions, weekly epochs.
    const p: RewardParams = { genesisMs: 1_700_000_000_000, epochSeconds: WEEK }
    const rand = rng(20261123)
    const nodes = Array.from({ length: 12 }, (_, i) => `node-${String(i).padStart(2, '0')}`)
    const steady = 'node-00'
    const tables: RewardTable[] = []

    // Execute
    for (let e = 0; e < emissionEpochs(p) + 3; e++) {
      const points = new Map<string, bigint>()
      for (const node of nodes) {
        if (node !== steady && rand() < 0.3) continue // offline this epoch
        const big = rand() < 0.05 ? 1_000_000_000n : 1n
        points.set(node, BigInt(Math.floor(rand() * 50_000)) * big)
      }
      points.set(steady, 10n ** 15n) // always far above the average
      tables.push(settleEpoch(p, e, points))
    }

    // Assert
    for (const t of tables) checkTable(t)
    const b = balances(tables)
    for (const [node, micro] of b) assert.ok(micro <= LIMIT, `${node} earned ${micro}`)
    assert.equal(b.get(steady), LIMIT)
    assert.ok([...b.values()].some(v => v > 0n && v < LIMIT))
    assert.deepEqual(tables.at(-1)?.rows.map(r => r.rewardMicro), tables.at(-1)?.rows.map(() => '0'))
    // Settled epochs are counted once.
    assert.deepEqual(balances([...tables, ...tables]), b)
  })

  it('the same receipts in any order give the same table and root (receipts verified, copies counted once)', () => {
    // Prepare: 36 monthly epochs, 4 providers, receipts of every kind, duplicated copies and forgeries.
    const p: RewardParams = { genesisMs: 1_700_000_000_000, epochSeconds: 30 * 86_400 }
    const rand = rng(7)
    const peers: TestPeer[] = Array.from({ length: 5 }, () => makePeer())
    const receipts: unknown[] = []
    const kinds = ['inference', 'fl-round', 'stats-query'] as const
    for (let e = 0; e < 37; e++) {
      const { start } = epochBounds(p, e)
      for (let i = 0; i < 6; i++) {
        const provider = peers[Math.floor(rand() * 4)]!
        const requester = peers[4]!
        const at = start + Math.floor(rand() * 30 * 86_400_000)
        const kind = kinds[i % 3]!
        const amount = kind === 'inference' ? { completionTokens: 10 + Math.floor(rand() * 500) } : kind === 'fl-round' ? { samples: Math.floor(rand() * 1000) } : {}
        const r = makeReceipt(provider, requester, kind, { startedAt: at - 1000, endedAt: at, ...amount })
        receipts.push(r)
        if (rand() < 0.3) receipts.push(JSON.parse(JSON.stringify(r))) // the requester's log has it too
        if (rand() < 0.1) receipts.push({ ...r, body: { ...r.body, jobId: 'tampered' } }) // tampered copy
      }
    }
    const settle = (list: unknown[]): RewardTable[] => {
      const tally = tallyReceipts(p, list)
      return Array.from({ length: 37 }, (_, e) => settleEpoch(p, e, tally.get(e)?.points ?? new Map()))
    }

    // Execute: two independent computations from shuffled copies.
    const one = settle(shuffle(receipts, rng(1)))
    const two = settle(shuffle(receipts, rng(2)).map(r => JSON.parse(JSON.stringify(r)) as SignedReceipt))

    // Assert
    assert.deepEqual(one, two)
    assert.deepEqual(one.map(t => t.root), two.map(t => t.root))
    for (const t of one) checkTable(t)
    assert.ok(one.some(t => t.rows.length >= 2))
    const e0 = pointsFromReceipts(p, 0, receipts)
    assert.equal(e0.counted, 6)
    assert.equal(e0.rejected, receipts.length - 37 * 6 - receipts.filter((r, i) => receipts.findIndex(q => JSON.stringify(q) === JSON.stringify(r)) !== i).length)
    assert.equal(epochOf(p, epochBounds(p, 5).start), 5)
    assert.equal(epochOf(p, epochBounds(p, 5).start - 1), 4)
  })

  it('pays each epoch at its own weights when they changed over time', () => {
    // Prepare: one inference receipt (10 + 100 tokens) in each of epochs 0 and 1; the completion
    // weight doubles, and uptime weight triples, from epoch 1 on.
    const base: RewardParams = { genesisMs: 1_700_000_000_000, epochSeconds: WEEK }
    const weights = { promptToken: 1, completionToken: 3, flSample: 1, statsQuery: 5, uptime: 1 }
    const p: RewardParams = { ...base, weights, weightsFor: e => e >= 1 ? { ...weights, completionToken: 6, uptime: 3 } : weights }
    const [provider, requester] = [makePeer(), makePeer()]
    const receipts = [0, 1].map(e => {
      const at = epochBounds(base, e).start + 60_000
      return makeReceipt(provider!, requester!, 'inference', { startedAt: at - 1000, endedAt: at, promptTokens: 10, completionTokens: 100 })
    })

    // Execute
    const tally = tallyReceipts(p, receipts)
    const uptime = new Map([[provider!.peerId, 500]])

    // Assert
    assert.equal(tally.get(0)!.points.get(provider!.peerId), 10n + 300n)
    assert.equal(tally.get(1)!.points.get(provider!.peerId), 10n + 600n)
    assert.equal(pointsFromReceipts(p, 0, receipts, uptime).points.get(provider!.peerId), 310n + 500n)
    assert.equal(pointsFromReceipts(p, 1, receipts, uptime).points.get(provider!.peerId), 610n + 1500n)
    // Without a schedule, every epoch at `weights`.
    assert.equal(tallyReceipts({ ...base, weights }, receipts).get(1)!.points.get(provider!.peerId), 310n)
  })

  it('two receipts with one id count for neither', () => {
    const p: RewardParams = { genesisMs: 0, epochSeconds: 10, emissionSeconds: 3600 }
    const [a, b] = [makePeer(), makePeer()]
    const r1 = makeReceipt(a, b, 'inference', { id: 'same-id-0001', startedAt: 1000, endedAt: 2000 })
    const r2 = makeReceipt(a, b, 'inference', { id: 'same-id-0001', startedAt: 1000, endedAt: 2000, completionTokens: 1 })
    const other = makeReceipt(b, a, 'stats-query', { startedAt: 1000, endedAt: 9999 })
    const pts = pointsFromReceipts(p, 0, [r1, r2, other])
    assert.deepEqual([...pts.points.keys()], [b.peerId])
    assert.equal(pts.counted, 1)
    assert.equal(pts.rejected, 1)
    // Seconds-long epochs: a receipt ending at 10 s belongs to epoch 1.
    assert.equal(pointsFromReceipts(p, 1, [makeReceipt(a, b, 'fl-round', { startedAt: 9000, endedAt: 10_000 })]).counted, 1)
  })

  it('refuses bad parameters', () => {
    const bad = (p: RewardParams): void => assert.throws(() => nodeCap(p, 0), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_REWARDS_CONFIG'))
    bad({ genesisMs: 0, epochSeconds: 0 })
    bad({ genesisMs: 0, epochSeconds: 1.5 })
    bad({ genesisMs: -1, epochSeconds: 10 })
    bad({ genesisMs: 0, epochSeconds: EMISSION_SECONDS + 1 })
    bad({ genesisMs: 0, epochSeconds: 10, weights: { promptToken: -1, completionToken: 1, flSample: 1, statsQuery: 1, uptime: 1 } })
  })
})
