import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { createHost, type PlexusLibp2p } from '../../src/p2p/host.js'
import { NetworkConfigSchema } from '../../src/node/config.js'
import { encodeFrame, readFrames } from '../../src/p2p/framing.js'
import { silentLogger } from '../../src/logger.js'
import { isPlexusError } from '../../src/errors.js'
import { LedgerLog } from '../../src/ledger/log.js'
import { HeadBook } from '../../src/ledger/heads.js'
import { entryId } from '../../src/ledger/records.js'
import { LEDGER_PROTOCOL, LedgerService, answer, ledgerTopic, serveStream, type LedgerResponse } from '../../src/ledger/protocol.js'
import { fromHex, verifyInclusion } from '../../src/ledger/merkle.js'
import { signTreeHead } from '../../src/ledger/tree-head.js'
import { signPayload } from '../../src/crypto/signing.js'
import { tempDir, waitFor } from '../helpers/node.js'
import { makePeer, makeReceipt, type TestPeer } from '../helpers/ledger.js'

const NETWORK = 'plexus-ledger-test'
const TOPIC = ledgerTopic(NETWORK)
const provider = makePeer()
const requester = makePeer()

interface LedgerNode { peer: TestPeer, host: PlexusLibp2p, log: LedgerLog, book: HeadBook, svc: LedgerService, id: string }

async function host (peer: TestPeer): Promise<PlexusLibp2p> {
  return await createHost(peer.seed, NetworkConfigSchema.parse({ host: '127.0.0.1', port: 0, mdns: false, networkId: NETWORK }), 'ledger-test')
}

async function connect (a: PlexusLibp2p, b: PlexusLibp2p, topic = true): Promise<void> {
  await a.dial(multiaddr(b.getMultiaddrs()[0]!))
  if (!topic) return
  await waitFor('both ends to see each other on the ledger topic', () =>
    a.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(b.peerId)) && b.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(a.peerId)))
}

function grow (log: LedgerLog, n: number): void {
  log.appendMany(Array.from({ length: n }, () => makeReceipt(provider, requester)))
}

describe('ledger over libp2p (real hosts on 127.0.0.1)', () => {
  let dir: string
  const nodes: LedgerNode[] = []
  const extra: PlexusLibp2p[] = []
  let seq = 0

  async function node (): Promise<LedgerNode> {
    const peer = makePeer()
    const h = await host(peer)
    const log = LedgerLog.open({ file: join(dir, `n${seq++}.db`), signer: peer })
    const book = new HeadBook(log.db)
    const svc = new LedgerService({ libp2p: h, log, book, logger: silentLogger() }, { networkId: NETWORK })
    await svc.start()
    const n = { peer, host: h, log, book, svc, id: peer.peerId }
    nodes.push(n)
    return n
  }

  before(() => { dir = tempDir('plexus-ledger-net-') })
  after(async () => {
    for (const n of nodes) { await n.svc.stop(); await n.host.stop(); n.log.close() }
    for (const h of extra) await h.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('honest heads spread by gossip, are proven consistent, and proofs and receipts verify', async () => {
    // Prepare: three nodes in a line A — B — C.
    const [a, b, c] = [await node(), await node(), await node()]
    await connect(a.host, b.host)
    await connect(b.host, c.host)
    grow(b.log, 7)

    // Execute: B publishes two heads of its growing log.
    const first = await b.svc.publishHead()
    await waitFor('A and C to trust B\'s first head', () => a.book.latest(b.id)?.head.size === 7 && c.book.latest(b.id)?.head.size === 7)
    grow(b.log, 5)
    const second = await b.svc.publishHead()
    await waitFor('A and C to prove B\'s second head consistent', () => a.book.latest(b.id)?.head.size === 12 && c.book.latest(b.id)?.head.size === 12)

    // Assert
    assert.deepEqual(a.book.latest(b.id), second)
    assert.deepEqual(a.book.heads(b.id).map(h => [h.sth.head.size, h.status]), [[7, 'trusted'], [12, 'trusted']])
    assert.equal(a.book.isFlagged(b.id), false)
    const fetched = await a.svc.fetchHead(b.id)
    assert.deepEqual(fetched, second)
    const receipts = await a.svc.fetchReceipts(b.id, 0, 12)
    assert.equal(receipts.length, 12)
    const p = await a.svc.fetchInclusion(b.id, entryId(receipts[9]!.receipt))
    assert.equal(verifyInclusion(fromHex(p.leafHash), p.index, second.head.size, p.path.map(fromHex), fromHex(second.head.root)), true)
    const scp = await a.svc.fetchConsistency(b.id, first.head.size, second.head.size)
    assert.equal(a.book.resolve(scp).status, 'consistent')
    assert.equal(b.svc.stats.served >= 4, true)
  })

  it('a node that shows two histories to two peers is caught, and every peer flags it', async () => {
    // Prepare: A, B, C connected to each other; E holds two logs under one key and answers A from
    // history X and everyone else from history Y.
    const [a, b, c] = [await node(), await node(), await node()]
    await connect(a.host, b.host)
    await connect(b.host, c.host)
    await connect(a.host, c.host)
    const evil = makePeer()
    const e = await host(evil)
    extra.push(e)
    const x = LedgerLog.open({ file: join(dir, 'x.db'), signer: evil })
    const y = LedgerLog.open({ file: join(dir, 'y.db'), signer: evil })
    grow(x, 6); x.signHead(); grow(x, 6)
    grow(y, 9); y.signHead()
    await e.handle(LEDGER_PROTOCOL, async (stream, connection) => {
      await serveStream(stream, (req, from) => answer(from.equals(a.host.peerId) ? x : y, req), connection)
    })
    await connect(e, a.host, false)
    await connect(e, b.host, false)

    // Execute: A and B each fetch E's head; they gossip what they saw.
    const seenByA = await a.svc.fetchHead(evil.peerId)
    const seenByB = await b.svc.fetchHead(evil.peerId)
    await waitFor('A, B and C to flag E', () => a.book.isFlagged(evil.peerId) && b.book.isFlagged(evil.peerId) && c.book.isFlagged(evil.peerId))

    // Assert
    assert.equal(seenByA?.head.size, 6)
    assert.equal(seenByB?.head.size, 9)
    for (const n of [a, b, c]) {
      const evidence = n.book.equivocations(evil.peerId)
      assert.ok(evidence.length >= 1)
      assert.equal(evidence[0]!.signer, evil.peerId)
    }
    // C never fetched from E: it holds the evidence from gossip, checked on its own.
    assert.equal(c.book.verify().ok, true)
    assert.ok(a.svc.stats.evidencePublished + b.svc.stats.evidencePublished >= 1)
    x.close(); y.close()
  })

  it('malformed gossip, requests and answers from a peer are refused and the node stays healthy', async () => {
    const a = await node()
    const honest = await node()
    await connect(a.host, honest.host)
    grow(honest.log, 3)
    await honest.svc.publishHead()
    const mallory = makePeer()
    const rogue = await host(mallory)
    extra.push(rogue)
    rogue.services.pubsub.subscribe(TOPIC)
    await connect(rogue, a.host)

    // Gossip: not JSON, wrong shape, a forged head, evidence that proves nothing, too large.
    const enc = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v))
    const real = honest.log.latestHead()!
    const forged = { type: 'head', head: { ...real, head: { ...real.head, size: 99 } } }
    const falseEvidence = { type: 'evidence', evidence: { v: 1, kind: 'conflicting-roots', signer: real.head.log, claims: [{ head: real }, { head: real }] } }
    for (const m of ['{not json', { type: 'head' }, forged, falseEvidence, 'x'.repeat(20_000), { type: 'vote', head: real }]) {
      await rogue.services.pubsub.publish(TOPIC, enc(m))
    }
    await waitFor('A to reject the rogue\'s gossip', () => Object.values(a.svc.stats.gossip.rejected).reduce((s, n) => s + n, 0) >= 6)
    // A well-signed head dated a day ahead passes the validator; the book refuses it, quietly.
    const accepted = a.svc.stats.gossip.accepted
    await rogue.services.pubsub.publish(TOPIC, enc({ type: 'head', head: signTreeHead(mallory, { size: 1, root: '11'.repeat(32), timestamp: Date.now() + 86_400_000 }) }))
    await waitFor('A to take the future head off the topic', () => a.svc.stats.gossip.accepted > accepted)
    assert.deepEqual(a.book.heads(mallory.peerId), [])
    assert.equal(a.book.isFlagged(real.head.log), false)
    assert.equal(a.book.heads(real.head.log).every(h => h.sth.head.size === 3), true)

    // Requests: bad JSON, an oversized frame, an unknown type, too many receipts, an unknown id.
    const ask = async (bytes: Uint8Array): Promise<LedgerResponse | 'reset'> => {
      const stream = await rogue.dialProtocol(a.host.peerId, LEDGER_PROTOCOL)
      stream.send(bytes)
      try {
        for await (const f of readFrames(stream, 1_000_000)) return f as LedgerResponse
        return 'reset'
      } catch {
        return 'reset'
      }
    }
    const lengthPrefixed = (text: string): Uint8Array => { const b = new TextEncoder().encode(text); const out = new Uint8Array(4 + b.length); new DataView(out.buffer).setUint32(0, b.length); out.set(b, 4); return out }
    assert.equal(await ask(lengthPrefixed('{"type":')), 'reset')
    const huge = new Uint8Array(8); new DataView(huge.buffer).setUint32(0, 50_000_000)
    assert.equal(await ask(huge), 'reset')
    const unknown = await ask(encodeFrame({ type: 'delete-log' }, 1024))
    assert.equal(unknown !== 'reset' && unknown.type, 'error')
    const many = await ask(encodeFrame({ type: 'get-receipts', start: 0, end: 100_000 }, 1024))
    assert.equal(many !== 'reset' && many.type, 'error')
    const missing = await ask(encodeFrame({ type: 'get-inclusion', id: 'no-such-receipt' }, 1024))
    assert.deepEqual(missing !== 'reset' && missing.type === 'error' ? missing.code : null, 'PLX_ERR_LEDGER_RECEIPT_NOT_FOUND')

    // Answers: a rogue log that sends forged heads and receipts is refused by the client.
    let mode = 'forged-head'
    await rogue.handle(LEDGER_PROTOCOL, async (stream, connection) => {
      await serveStream(stream, () => {
        if (mode === 'forged-head') return { type: 'head', head: { ...signTreeHead(mallory, { size: 1, root: '00'.repeat(32), timestamp: Date.now() }), signature: signPayload(mallory, 'advert', {}) } }
        if (mode === 'other-log') return { type: 'head', head: real }
        const r = makeReceipt(provider, requester)
        return { type: 'receipts', receipts: [{ index: 0, receipt: { ...r, body: { ...r.body, completionTokens: 9999 } } }] }
      }, connection)
    })
    await assert.rejects(a.svc.fetchHead(mallory.peerId), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_HEAD_INVALID'))
    mode = 'other-log'
    await assert.rejects(a.svc.fetchHead(mallory.peerId), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_PROTOCOL'))
    mode = 'receipts'
    await assert.rejects(a.svc.fetchReceipts(mallory.peerId, 0, 1), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_RECEIPT_INVALID'))
    await assert.rejects(a.svc.fetchHead('not-a-peer'), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_PROTOCOL'))

    // Still healthy: A serves and fetches as before.
    assert.deepEqual(await a.svc.fetchHead(honest.id), real)
    assert.deepEqual(await honest.svc.fetchHead(a.id), null)
    assert.equal(a.book.isFlagged(mallory.peerId), false)
    assert.equal(peerIdFromString(a.id).equals(a.host.peerId), true)
  })
})
