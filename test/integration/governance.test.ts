import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { startTestNode, tempDir, waitFor, type TestNode } from '../helpers/node.js'
import { makePeer, makeReceipt } from '../helpers/ledger.js'
import { loadDiabetes, DIABETES_COLUMNS } from '../../src/analytics/diabetes.js'
import { initDataDir } from '../../src/node/node.js'
import { peerSigner } from '../../src/ledger/peer-keys.js'
import { signRecord, type SignedRecord } from '../../src/ledger/records.js'
import { contentId, GOV_PROTOCOL, govTopic } from '../../src/governance/index.js'
import { encodeFrame, readFrames } from '../../src/p2p/framing.js'

const NETWORK = 'gov-test'
type Row = Record<string, number>

async function call (method: string, url: string, body?: unknown): Promise<{ status: number, body: any }> {
  const res = await fetch(url, { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) })
  return { status: res.status, body: await res.json() }
}

/** A filter over the diabetes rows whose sex table has a smallest cell of exactly 4. */
function cellOfFour (rows: Row[]): string {
  for (let a = 79; a >= 19; a--) {
    for (let b = 45; b >= 18; b--) {
      const kept = rows.filter(r => r.age! >= a && r.bmi! >= b)
      const c = [1, 2].map(s => kept.filter(r => r.sex === s).length)
      if (kept.length >= 8 && Math.min(...c) === 4) return `age >= ${a} AND bmi >= ${b}`
    }
  }
  throw new Error('the data has no such filter')
}

describe('community governance on four real nodes', { timeout: 600_000 }, () => {
  const root = tempDir('plexus-gov-')
  const dirs = ['a', 'b', 'c', 'd'].map(n => join(root, n))
  const ids = dirs.map(d => peerSigner(initDataDir(d).identity).peerId)
  const nodes: Array<TestNode | null> = [null, null, null, null]
  const rows = loadDiabetes().rows as unknown as Row[]
  const csv = join(root, 'diabetes.csv')
  const where = cellOfFour(rows)
  // Reward epochs of a minute from an hour ago: receipts seeded in the logs settle at once.
  const genesis = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000).toISOString()
  const n = (i: number): TestNode => nodes[i]!
  const gov = (i: number): string => `${n(i).url}/api/plexus/gov`

  async function start (i: number): Promise<void> {
    // Every node dials every other: reward settlement reads each peer's log directly.
    const bootstrap = online().flatMap(j => n(j).node.network!.multiaddrs())
    nodes[i] = await startTestNode({
      network: { networkId: NETWORK, bootstrap },
      governance: { members: ids, votingPeriodSeconds: 4, timelockSeconds: 1, ruleThreshold: 0.75, syncIntervalSeconds: 2 },
      ledger: { genesis, epochSeconds: 60 }
    }, { embeddedModel: false, dataDir: dirs[i] })
    if (i > 0) {
      const r = await call('POST', `${n(i).url}/api/plexus/data`, { name: 'diabetes', path: csv })
      assert.equal(r.status, 201, JSON.stringify(r.body))
    }
  }

  /** Node 0 asks site `i` for the sex table over the filter with a cell of 4. */
  async function tableAt (i: number): Promise<any> {
    const r = await call('POST', `${n(0).url}/api/plexus/stats/query`, { dataset: 'diabetes', fn: 'table', columns: ['sex'], where, peers: [ids[i]] })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    return r.body.sites[0]
  }

  const online = (): number[] => nodes.flatMap((x, i) => x != null ? [i] : [])

  async function propose (i: number, change: unknown, title = 'test', extra: Record<string, unknown> = {}): Promise<string> {
    const r = await call('POST', `${gov(i)}/proposals`, { title, change, ...extra })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    const id = r.body.id as string
    for (const j of online()) await waitFor(`node ${j} to learn ${id}`, () => n(j).node.governance!.list().some(p => p.id === id))
    return id
  }

  async function vote (i: number, id: string, choice: string): Promise<void> {
    const r = await call('POST', `${gov(i)}/proposals/${id}/votes`, { choice })
    assert.equal(r.status, 200, JSON.stringify(r.body))
  }

  async function settled (id: string, status: string, who = online()): Promise<void> {
    for (const j of who) await waitFor(`${id} ${status} on node ${j}`, () => n(j).node.governance!.list().find(p => p.id === id)?.status === status, 30_000)
  }

  before(async () => {
    writeFileSync(csv, [DIABETES_COLUMNS.join(','), ...rows.map(r => DIABETES_COLUMNS.map(c => r[c]).join(','))].join('\n') + '\n')
    for (const i of [0, 1, 2]) await start(i)
    await waitFor('adverts', () => n(0).node.network!.table.size === 2)
    const topic = govTopic(NETWORK)
    // Nodes 1 and 2 may only know node 0, which relays between them.
    for (const i of [0, 1, 2]) await waitFor('the governance gossip mesh', () => n(i).node.network!.libp2p.services.pubsub.getSubscribers(topic).length >= (i === 0 ? 2 : 1))
  })

  after(async () => {
    for (const x of nodes) await x?.close()
    rmSync(root, { recursive: true, force: true })
  })

  let tabProposal = ''

  it('refuses invalid changes at submission', async () => {
    const unknown = await call('POST', `${gov(0)}/proposals`, { title: 'x', change: { type: 'set', param: 'api.port', value: 1 } })
    assert.equal(unknown.status, 400)
    assert.equal(unknown.body.error.code, 'PLX_ERR_GOV_CHANGE_INVALID')
    const bounds = await call('POST', `${gov(0)}/proposals`, { title: 'x', change: { type: 'set', param: 'stats.disclosure.tab', value: -2 } })
    assert.equal(bounds.body.error.code, 'PLX_ERR_GOV_CHANGE_INVALID')
    assert.deepEqual((await call('GET', `${gov(0)}/proposals`)).body.proposals, [])
  })

  it('passes nfilter.tab 3 → 5; every node then refuses a cell of 4, and a node that was offline applies it on rejoining', async () => {
    assert.equal((await tableAt(1)).status, 'ok', 'a cell of 4 is released under tab = 3')
    tabProposal = await propose(0, { type: 'set', param: 'stats.disclosure.tab', value: 5 }, 'Stricter tables')
    await vote(0, tabProposal, 'yes')
    await vote(1, tabProposal, 'no')
    await vote(1, tabProposal, 'yes') // replaces the no
    await vote(2, tabProposal, 'yes')
    await settled(tabProposal, 'applied')
    for (const i of [0, 1, 2]) assert.equal(n(i).node.config.stats.disclosure.tab, 5)
    for (const i of [1, 2]) {
      const site = await tableAt(i)
      assert.equal(site.status, 'refused')
      assert.equal(site.code, 'PLX_ERR_STATS_DISCLOSURE')
      assert.match(site.message, /nfilter\.tab/)
    }
    const t = (await call('GET', `${gov(2)}/proposals/${tabProposal}/tally`)).body.tally
    assert.deepEqual([t.yes, t.no, t.abstain, t.eligible, t.passed], ['3', '0', '0', '4', true])
    assert.equal(t.ignored.replaced, 1)
    // Recorded in each log: the proposal, the votes, the outcome and the change applied.
    const kinds: string[] = n(2).node.books!.log.receipts(0).flatMap(e => 'record' in e.receipt ? [e.receipt.record.kind] : [])
    for (const k of ['proposal', 'vote', 'outcome', 'applied']) assert.ok(kinds.includes(k), `${k} in ${kinds.join()}`)

    // Node 3 was offline throughout; it catches up from its peers and applies the change.
    await start(3)
    await settled(tabProposal, 'applied', [3])
    assert.equal(n(3).node.config.stats.disclosure.tab, 5)
    assert.deepEqual(n(3).node.governance!.tally(tabProposal), n(0).node.governance!.tally(tabProposal))
    await waitFor('node 3 to serve stats', () => n(0).node.network!.table.size === 3)
    const site = await tableAt(3)
    assert.equal(site.status, 'refused')
    assert.equal(site.code, 'PLX_ERR_STATS_DISCLOSURE')
  })

  it('a proposal that misses quorum changes nothing', async () => {
    const topic = govTopic(NETWORK)
    await waitFor('node 3 in the mesh', () => n(3).node.network!.libp2p.services.pubsub.getSubscribers(topic).length >= 1)
    const before = n(0).node.config.ledger.weights.uptime
    const id = await propose(0, { type: 'set', param: 'ledger.weights.uptime', value: before + 1 })
    await vote(0, id, 'yes')
    await settled(id, 'rejected')
    const t = n(3).node.governance!.view(id).outcome!
    assert.equal(t.quorumMet, false)
    for (const i of online()) assert.equal(n(i).node.config.ledger.weights.uptime, before)
  })

  it('ignores forged, replayed, late and non-member votes and survives malformed messages', async () => {
    const id = await propose(0, { type: 'set', param: 'router.defaultPrivacy', value: 'community' })
    await vote(1, id, 'no')
    const records = (await call('GET', `${gov(0)}/proposals/${id}/tally`)).body.records
    const real: SignedRecord = records.votes[0]
    // Replayed: the same signed vote again, over HTTP and gossip.
    assert.deepEqual((await call('POST', `${gov(2)}/records`, real)).body, { result: 'duplicate' })
    await n(0).node.governance!.net!.publishRaw(new TextEncoder().encode(JSON.stringify(real)))
    // Forged: node 1's vote claimed by node 2, and a choice changed under node 1's signature.
    const forged = { record: { ...real.record, author: ids[2] }, signature: real.signature }
    const tampered = { record: { ...real.record, data: { ...real.record.data, choice: 'yes' } }, signature: real.signature }
    assert.deepEqual((await call('POST', `${gov(3)}/records`, forged)).body, { result: 'invalid' })
    assert.deepEqual((await call('POST', `${gov(3)}/records`, tampered)).body, { result: 'invalid' })
    // A stranger's correctly signed vote: not in the electorate.
    const stranger = makePeer()
    const data = { proposal: id, choice: 'yes' }
    const time = Date.now()
    const strangerVote = signRecord(stranger, { kind: 'vote', id: contentId('vote', stranger.peerId, time, data), time, data })
    assert.deepEqual((await call('POST', `${gov(3)}/records`, strangerVote)).body, { result: 'not-eligible' })
    // Malformed gossip and a malformed catch-up request.
    const rejectedBefore = n(3).node.governance!.net!.stats.gossip.rejected
    const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0)
    const before = sum(rejectedBefore)
    for (const bytes of ['not json', '{"record":{"v":1}}', JSON.stringify(forged), JSON.stringify({ record: { ...strangerVote.record, kind: 'spot-check' }, signature: strangerVote.signature })]) {
      await n(0).node.governance!.net!.publishRaw(new TextEncoder().encode(bytes))
    }
    await waitFor('malformed gossip rejected', () => sum(n(3).node.governance!.net!.stats.gossip.rejected) >= before + 4)
    const stream = await n(0).node.network!.libp2p.dialProtocol(peerIdFromString(ids[3]!), GOV_PROTOCOL)
    stream.send(encodeFrame({ type: 'give me everything', limit: 1e9 }, 1024))
    const answer = (await readFrames(stream, 1 << 20).next()).value as { type: string, code: string }
    assert.deepEqual([answer.type, answer.code], ['error', 'PLX_ERR_GOV_PROTOCOL'])
    assert.equal((await fetch(`${n(3).url}/health`)).status, 200)
    // A late vote: refused by the API after the end, and a vote signed after the end is ignored.
    await settled(id, 'rejected', [0, 3])
    const late = await call('POST', `${gov(2)}/proposals/${id}/votes`, { choice: 'yes' })
    assert.equal(late.status, 409)
    assert.equal(late.body.error.code, 'PLX_ERR_GOV_CLOSED')
    const member = peerSigner(n(2).node.identity)
    const lateTime = Date.now()
    const lateRecord = signRecord(member, { kind: 'vote', id: contentId('vote', member.peerId, lateTime, data), time: lateTime, data })
    assert.deepEqual((await call('POST', `${gov(3)}/records`, lateRecord)).body, { result: 'late' })
    // Every node recomputes the same tally: node 1's no, nothing else.
    await settled(id, 'rejected')
    const tallies = await Promise.all(online().map(async i => (await call('GET', `${gov(i)}/proposals/${id}/tally`)).body.tally))
    for (const t of tallies) assert.deepEqual({ ...t, ignored: {} }, { ...tallies[0], ignored: {} })
    assert.deepEqual([tallies[0].yes, tallies[0].no], ['0', '1'])
    assert.equal(n(0).node.config.router.defaultPrivacy, 'private')
  })

  it('a rule change needs the higher threshold; token mode then weighs votes by the balances at the proposal\'s start', async () => {
    const toToken = { type: 'set', param: 'governance.mode', value: 'token' }
    const first = await propose(0, toToken, 'Token-weighted votes')
    assert.equal(n(0).node.governance!.view(first).threshold, 0.75)
    await vote(0, first, 'yes')
    await vote(1, first, 'yes')
    await vote(2, first, 'no')
    await settled(first, 'rejected') // 2 of 3 is below 0.75
    const second = await propose(0, toToken, 'Token-weighted votes, again')
    for (const i of [0, 1, 2]) await vote(i, second, 'yes')
    await settled(second, 'applied')
    for (const i of online()) assert.equal(n(i).node.config.governance.mode, 'token')

    // Seed balances: node 1 answered 100 statistics queries of node 0, node 2 one, in epoch 1.
    const signer = (i: number) => Object.assign(peerSigner(n(i).node.identity), { publicKey: n(i).node.identity.publicKey, seed: new Uint8Array(32) })
    const at = Date.parse(genesis) + 90_000
    n(0).node.books!.record(makeReceipt(signer(1), signer(0), 'stats-query', { queries: 100, startedAt: at, endedAt: at + 1 }))
    n(0).node.books!.record(makeReceipt(signer(2), signer(0), 'stats-query', { queries: 1, startedAt: at, endedAt: at + 1 }))
    // Peers read a log up to its latest signed head.
    await n(0).node.books!.publishHead()
    const balances = (await call('GET', `${n(0).url}/api/plexus/rewards`)).body.balances as Record<string, string>
    assert.ok(BigInt(balances[ids[1]!]!) > BigInt(balances[ids[2]!]!) && BigInt(balances[ids[2]!]!) > 0n, JSON.stringify(balances))

    const id = await propose(0, { type: 'set', param: 'stats.disclosure.subset', value: 4 }, 'Larger subsets', { votingPeriodSeconds: 20 })
    const view = n(3).node.governance!.view(id)
    assert.deepEqual(view.electorate, [{ peer: ids[1]!, weight: balances[ids[1]!]! }, { peer: ids[2]!, weight: balances[ids[2]!]! }].sort((a, b) => a.peer < b.peer ? -1 : 1))
    const notHolder = await call('POST', `${gov(0)}/proposals/${id}/votes`, { choice: 'yes' })
    assert.equal(notHolder.status, 403)
    assert.equal(notHolder.body.error.code, 'PLX_ERR_GOV_NOT_ELIGIBLE')
    // Balances earned after the start do not count: node 2 now earns more, in a later epoch.
    n(0).node.books!.record(makeReceipt(signer(2), signer(0), 'stats-query', { queries: 10_000, startedAt: at + 60_000, endedAt: at + 60_001 }))
    await vote(2, id, 'yes')
    await vote(1, id, 'no')
    await settled(id, 'rejected')
    const t = n(3).node.governance!.view(id).outcome!
    assert.deepEqual([t.yes, t.no], [balances[ids[2]!], balances[ids[1]!]])
    for (const i of online()) assert.equal(n(i).node.config.stats.disclosure.subset, 3)
  })

  it('removing a member puts it on every node\'s deny list and disconnects it', async () => {
    const id = await propose(0, { type: 'member', action: 'remove', peer: ids[3] }, 'Remove node 3', { votingPeriodSeconds: 12 })
    await vote(1, id, 'yes')
    await vote(2, id, 'yes')
    await settled(id, 'applied', [0, 1, 2])
    for (const i of [0, 1, 2]) {
      assert.ok(n(i).node.config.network.denyPeers.includes(ids[3]!))
      assert.ok(!n(i).node.config.governance.members.includes(ids[3]!))
      await waitFor(`node ${i} to drop node 3`, () => !n(i).node.network!.isConnected(ids[3]!))
    }
    await assert.rejects(n(0).node.network!.libp2p.dial(n(3).node.network!.libp2p.getMultiaddrs()[0]!))
  })
})
