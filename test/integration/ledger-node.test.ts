import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import Database from 'better-sqlite3-multiple-ciphers'
import { startTestNode, tempDir, waitFor, type TestNode } from '../helpers/node.js'
import { plexus, plexusAsync } from '../helpers/cli.js'
import { makePeer, makeReceipt } from '../helpers/ledger.js'
import { createHost, type PlexusLibp2p } from '../../src/p2p/host.js'
import { NetworkConfigSchema } from '../../src/node/config.js'
import { LedgerLog } from '../../src/ledger/log.js'
import { LEDGER_PROTOCOL, answer, ledgerTopic, serveStream } from '../../src/ledger/protocol.js'
import { isRecord } from '../../src/ledger/records.js'
import type { RewardsReport } from '../../src/ledger/books.js'

const NETWORK = 'plexus-ledger-node-test'
const MODEL = 'stories260K'
const EPOCH_SECONDS = 2
/** Genesis a minute ago, on a whole second: epochs of 2 s. */
const GENESIS_MS = Math.floor(Date.now() / 1000) * 1000 - 60_000

async function getJson<T> (url: string): Promise<T> {
  const res = await fetch(url)
  assert.equal(res.status, 200, `${url}: ${res.status}`)
  return await res.json() as T
}

interface LedgerSummary { size: number, evidence: Array<{ signer: string, kind: string }> }

describe('the books on running nodes: rewards agree, equivocation is shown, tampering is named', { timeout: 240_000 }, () => {
  const root = tempDir('plexus-ledger-node-')
  // Uptime scores are committed and revealed in 1 s windows after each epoch; uptime earns nothing here (ledger-uptime.test.ts).
  const ledger = { epochSeconds: EPOCH_SECONDS, genesis: new Date(GENESIS_MS).toISOString(), spotCheckFraction: 0, commitSeconds: 1, revealSeconds: 1, weights: { uptime: 0 } }
  let a: TestNode
  let b: TestNode
  let c: TestNode
  const extra: PlexusLibp2p[] = []
  /** The provider whose log is tampered with (one that served), and the one that stays. */
  let victim: TestNode
  let survivor: TestNode
  const nodes: TestNode[] = []

  before(async () => {
    b = await startTestNode({ network: { networkId: NETWORK }, ledger }, { dataDir: join(root, 'b') })
    c = await startTestNode({ network: { networkId: NETWORK, bootstrap: [b.node.network!.multiaddrs()[0]!] }, ledger }, { dataDir: join(root, 'c') })
    a = await startTestNode({ network: { networkId: NETWORK, bootstrap: [b.node.network!.multiaddrs()[0]!, c.node.network!.multiaddrs()[0]!] }, ledger }, { embeddedModel: false })
    for (const n of [a, b, c]) await waitFor('every node to hold both other adverts', () => n.node.network!.table.size === 2)
  })

  after(async () => {
    for (const h of extra) await h.stop()
    for (const n of [a, b, c, ...nodes]) await n?.close()
    rmSync(root, { recursive: true, force: true })
  })

  it('after community requests and an epoch boundary, every node settles the same epoch tables and roots', async () => {
    // Execute: community requests from A, served by B and C (the router picks the cheaper peer, so
    // the split between them is not fixed).
    const sent = 4
    for (let i = 0; i < sent; i++) {
      const res = await fetch(`${a.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-plexus-privacy': 'community' }, body: JSON.stringify({ model: MODEL, prompt: `Story ${i}`, max_tokens: 16, seed: i }) })
      assert.equal(res.status, 200)
    }
    const receipts = [...a.node.books!.entries()].filter(e => !isRecord(e))
    assert.equal(receipts.length, sent)
    const ids = receipts.map(r => isRecord(r) ? '' : r.body.id)
    // Every provider recorded its countersigned copy.
    await waitFor('the providers to record their receipts', () => ids.every(id => b.node.books!.log.receipt(id) != null || c.node.books!.log.receipt(id) != null))
    const lastEnded = Math.max(...receipts.map(r => isRecord(r) ? 0 : r.body.endedAt))
    const boundary = GENESIS_MS + (Math.floor((lastEnded - GENESIS_MS) / (EPOCH_SECONDS * 1000)) + 1) * EPOCH_SECONDS * 1000
    // The epoch settles when its commit and reveal windows (1 s each) have passed too.
    await new Promise(resolve => setTimeout(resolve, Math.max(0, boundary + 2000 - Date.now()) + 50))
    // A peer's log is read up to its latest signed head: every node signs one now (they also do every headIntervalSeconds).
    for (const n of [a, b, c]) assert.equal((await fetch(`${n.url}/api/plexus/ledger/heads`, { method: 'POST' })).status, 200)

    // Assert: the same tables and roots from every node.
    const reports = await Promise.all([a, b, c].map(n => getJson<RewardsReport>(`${n.url}/api/plexus/rewards`)))
    for (const r of reports) {
      assert.equal(r.logs.length, 3, 'each node read all three logs')
      assert.deepEqual(r.unreachable, [])
      assert.equal(r.counted, sent, 'each receipt counts once, however many logs hold it')
      assert.equal(r.rejected, 0)
    }
    assert.ok(reports[0]!.epochs.length >= 1)
    for (const r of reports.slice(1)) {
      assert.deepEqual(r.epochs, reports[0]!.epochs)
      assert.deepEqual(r.balances, reports[0]!.balances)
    }
    const paid = new Set(reports[0]!.epochs.flatMap(t => t.rows.filter(row => BigInt(row.rewardMicro) > 0n).map(row => row.peer)))
    for (const p of paid) assert.ok([b.node.network!.peerId, c.node.network!.peerId].includes(p), 'only providers earn')
    for (const t of reports[0]!.epochs) assert.ok(BigInt(t.paidMicro) <= BigInt(t.poolMicro))
  })

  it('a tampered stored receipt: `plexus ledger verify --data-dir` on the file fails with exit 1 and names it', async () => {
    // Prepare: a provider that served stops; one of its receipts is edited in the SQLite file.
    const servedBy = (n: TestNode): boolean => n.node.books!.log.receipts(0).some(e => !isRecord(e.receipt) && e.receipt.body.provider === n.node.network!.peerId)
    victim = servedBy(b) ? b : c
    survivor = victim === b ? c : b
    const dataDir = victim.dataDir
    await victim.close()
    assert.equal(plexus(['ledger', 'verify', '--data-dir', dataDir]).code, 0, 'the untouched log verifies')
    const db = new Database(join(dataDir, 'ledger.db'))
    const row = db.prepare('SELECT id, data FROM entries ORDER BY idx LIMIT 1').get() as { id: string, data: string }
    const forged = row.data.replace(/"completionTokens":(\d+)/, (_m, n: string) => `"completionTokens":${Number(n) + 100}`)
    assert.notEqual(forged, row.data)
    db.prepare('UPDATE entries SET data = ? WHERE id = ?').run(forged, row.id)
    db.close()

    // Execute
    const run = plexus(['ledger', 'verify', '--data-dir', dataDir])

    // Assert
    assert.equal(run.code, 1, run.stdout + run.stderr)
    assert.match(run.stdout, /Log: FAILED/)
    assert.ok(run.stdout.includes(row.id), `the output names receipt ${row.id}: ${run.stdout}`)
  })

  it('a peer that shows two histories to two nodes is flagged on all three, in /api/plexus/ledger and by `plexus ledger verify`', async () => {
    // Prepare: one provider is gone (previous test): D joins, so the network has three nodes again. E holds
    // two logs under one key and answers A from history X, everyone else from Y.
    const d = await startTestNode({ network: { networkId: NETWORK, bootstrap: [a.node.network!.multiaddrs()[0]!, survivor.node.network!.multiaddrs()[0]!] }, ledger }, { embeddedModel: false })
    nodes.push(d)
    const evil = makePeer()
    const other = makePeer()
    const e = await createHost(evil.seed, NetworkConfigSchema.parse({ host: '127.0.0.1', port: 0, mdns: false, networkId: NETWORK }), 'evil')
    extra.push(e)
    const x = LedgerLog.open({ file: join(root, 'x.db'), signer: evil })
    const y = LedgerLog.open({ file: join(root, 'y.db'), signer: evil })
    try {
      const grow = (log: LedgerLog, n: number): void => { log.appendMany(Array.from({ length: n }, () => makeReceipt(evil, other))) }
      grow(x, 5); x.signHead()
      grow(y, 8); y.signHead()
      await e.handle(LEDGER_PROTOCOL, async (stream, connection) => {
        await serveStream(stream, (req, from) => answer(from.equals(a.node.network!.libp2p.peerId) ? x : y, req), connection)
      })
      await e.dial(multiaddr(a.node.network!.multiaddrs()[0]!))
      await e.dial(multiaddr(d.node.network!.multiaddrs()[0]!))

      const topic = ledgerTopic(NETWORK)
      const onTopic = (n: TestNode, m: TestNode): boolean => n.node.network!.libp2p.services.pubsub.getSubscribers(topic).some(p => p.equals(m.node.network!.libp2p.peerId))
      await waitFor('A, the remaining provider and D to meet on the ledger topic', () => onTopic(survivor, a) && onTopic(survivor, d) && onTopic(a, d))

      // Execute: A and D each read E's head; what they saw is gossiped.
      assert.equal((await a.node.books!.service!.fetchHead(evil.peerId))?.head.size, 5)
      assert.equal((await d.node.books!.service!.fetchHead(evil.peerId))?.head.size, 8)
      await waitFor('A, C and D to flag E', () => [a, survivor, d].every(n => n.node.books!.book.isFlagged(evil.peerId)))

      // Assert: every node's HTTP API lists the evidence; the CLI exits 1 and names it.
      for (const n of [a, survivor, d]) {
        const s = await getJson<LedgerSummary>(`${n.url}/api/plexus/ledger`)
        assert.ok(s.evidence.some(ev => ev.signer === evil.peerId), 'the evidence names E')
      }
      const run = await plexusAsync(['ledger', 'verify', '--url', survivor.url])
      assert.equal(run.code, 1, run.stdout + run.stderr)
      assert.match(run.stdout, new RegExp(`EQUIVOCATION by ${evil.peerId}`))
      const json = await plexusAsync(['ledger', 'verify', '--url', survivor.url, '--json'])
      assert.equal(json.code, 1)
      assert.equal((JSON.parse(json.stdout) as { evidence: Array<{ signer: string }> }).evidence[0]?.signer, evil.peerId)
    } finally {
      x.close(); y.close()
    }
  })
})
