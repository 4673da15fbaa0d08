import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { startTestNode, tempDir, waitFor, type TestNode } from '../helpers/node.js'
import { isRecord } from '../../src/ledger/records.js'
import { scoreRecordIds } from '../../src/ledger/scores.js'
import type { RewardsReport } from '../../src/ledger/books.js'
import type { RewardTable } from '../../src/ledger/rewards.js'

const NETWORK = 'plexus-ledger-uptime-test'
const EPOCH_SECONDS = 8
// Long enough for the restarted node to start and commit inside it.
const COMMIT_SECONDS = 4
const REVEAL_SECONDS = 2
/** Genesis a minute ago, on a whole second. */
const GENESIS_MS = Math.floor(Date.now() / 1000) * 1000 - 64_000
const EPOCH_MS = EPOCH_SECONDS * 1000

async function sleepUntil (timeMs: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, Math.max(0, timeMs - Date.now())))
}

async function getJson<T> (url: string): Promise<T> {
  const res = await fetch(url)
  assert.equal(res.status, 200, `${url}: ${res.status}`)
  return await res.json() as T
}

describe('uptime scored by commit-then-reveal on four real nodes', { timeout: 180_000 }, () => {
  const root = tempDir('plexus-ledger-uptime-')
  const dirs = ['a', 'b', 'c', 'd'].map(n => join(root, n))
  const ledger = {
    epochSeconds: EPOCH_SECONDS, genesis: new Date(GENESIS_MS).toISOString(), commitSeconds: COMMIT_SECONDS, revealSeconds: REVEAL_SECONDS,
    uptime: { probeIntervalSeconds: 1 }, headIntervalSeconds: 3600
  }
  const nodes: Array<TestNode | null> = [null, null, null, null]
  const n = (i: number): TestNode => nodes[i]!

  async function start (i: number): Promise<void> {
    const bootstrap = nodes.filter((x): x is TestNode => x != null).flatMap(x => x.node.network!.multiaddrs())
    nodes[i] = await startTestNode({ network: { networkId: NETWORK, bootstrap }, ledger }, { embeddedModel: false, dataDir: dirs[i] })
  }

  before(async () => {
    for (let i = 0; i < 4; i++) await start(i)
    for (let i = 0; i < 4; i++) await waitFor('every node to hold the three other adverts', () => n(i).node.network!.table.size === 3)
  })

  after(async () => {
    for (const x of nodes) await x?.close()
    rmSync(root, { recursive: true, force: true })
  })

  it('a node stopped during an epoch scores lower and earns less; every node settles the same tables and roots', async () => {
    // Prepare: the first whole epoch with all four up.
    const epoch = Math.floor((Date.now() - GENESIS_MS) / EPOCH_MS) + 1
    const begins = GENESIS_MS + epoch * EPOCH_MS
    const end = begins + EPOCH_MS
    const settledAt = end + (COMMIT_SECONDS + REVEAL_SECONDS) * 1000
    const ids = nodes.map(x => x!.node.network!.peerId)

    // Execute: D is stopped 3 s into the 8 s epoch and comes back after it, in the commit window.
    await sleepUntil(begins + 3000)
    await n(3).close()
    nodes[3] = null
    await sleepUntil(end + 200)
    await start(3)
    for (let i = 0; i < 4; i++) await waitFor('every node to hold the three other adverts again', () => n(i).node.network!.table.size === 3)
    await sleepUntil(settledAt + 300)
    // A peer's log is read up to its latest signed head: every node signs one now.
    for (let i = 0; i < 4; i++) assert.equal((await fetch(`${n(i).url}/api/plexus/ledger/heads`, { method: 'POST' })).status, 200)
    const reports = await Promise.all(nodes.map(async x => await getJson<RewardsReport>(`${x!.url}/api/plexus/rewards`)))

    // Assert: every node committed and revealed its scores for the epoch in its own log — D too:
    // it counted its probes for 3 s, saved them when it stopped, and took them back when it started.
    for (let i = 0; i < 4; i++) {
      const own = scoreRecordIds(ids[i]!, epoch)
      const commit = n(i).node.books!.log.receipt(own.commit)
      const reveal = n(i).node.books!.log.receipt(own.reveal)
      assert.ok(commit != null && reveal != null && commit.index < reveal.index, `node ${i} committed, then revealed`)
      assert.ok(isRecord(reveal.receipt) && Object.keys(reveal.receipt.record.data.scores as object).length === 3, 'each scores the three others')
    }
    // Every node read all four logs and settled the same tables (rows, uptime column, roots).
    for (const r of reports) {
      assert.equal(r.logs.length, 4)
      assert.deepEqual(r.unreachable, [])
    }
    const table = (r: RewardsReport): RewardTable => r.epochs.find(t => t.epoch === epoch)!
    for (const r of reports) {
      assert.ok(table(r) != null, `epoch ${epoch} settled`)
      assert.deepEqual(table(r), table(reports[0]!))
      assert.deepEqual(r.epochs, reports[0]!.epochs)
      assert.deepEqual(r.balances, reports[0]!.balances)
    }
    const t = table(reports[0]!)
    assert.equal(t.settledAt, settledAt)
    const row = (i: number): RewardTable['rows'][number] => t.rows.find(x => x.peer === ids[i])!
    for (let i = 0; i < 4; i++) assert.ok(row(i) != null && row(i).uptime != null, `node ${i} has an uptime score`)
    const upD = row(3).uptime!
    for (let i = 0; i < 3; i++) {
      assert.ok(row(i).uptime! > upD, `node ${i} (${row(i).uptime}) scores above the stopped node (${upD})`)
      assert.ok(BigInt(row(i).rewardMicro) > BigInt(row(3).rewardMicro), `node ${i} earns more than the stopped node`)
    }
    // D was down for five eighths of the epoch: its peers saw at most about three eighths of their probes answered.
    assert.ok(upD < 500, `the stopped node's uptime ${upD}`)
    assert.ok(BigInt(t.paidMicro) <= BigInt(t.poolMicro))
    // No record was ignored: every commitment and reveal landed inside its window.
    for (const r of reports) for (const [why, count] of Object.entries(r.scoresIgnored)) if (why !== 'late') assert.equal(count, 0, `${why}: ${count}`)
  })
})
