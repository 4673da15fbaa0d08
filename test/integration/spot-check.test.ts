import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { startTestNode, tempDir, FIXTURE_SHA256, waitFor, type TestNode } from '../helpers/node.js'
import { createIdentity } from '../../src/node/identity.js'
import { createHost, type PlexusLibp2p } from '../../src/p2p/host.js'
import { LedgerConfigSchema, NetworkConfigSchema } from '../../src/node/config.js'
import { advertTopic, signAdvert, type AdvertPayload } from '../../src/p2p/adverts.js'
import { INFER_PROTOCOL, InferServer, newInferStats } from '../../src/p2p/infer-protocol.js'
import { Books } from '../../src/ledger/books.js'
import { isRecord, type SignedRecord } from '../../src/ledger/records.js'
import type { SpotCheckData } from '../../src/ledger/spot-check.js'
import { silentLogger } from '../../src/logger.js'
import { shortPeerId } from '../../src/cli/commands/network.js'
import { plexusAsync } from '../helpers/cli.js'

const NETWORK = 'plexus-spot-test'
const MODEL = 'stories260K'
const PROMPT = { model: MODEL, prompt: 'Once upon a time', max_tokens: 32, seed: 11, temperature: 0.8 }

interface Completion { choices: Array<{ text: string }>, plexus: { route: { kind: string, peers: string[] } } }
interface Peer { peerId: string, reputation: number, mismatches: number, checksMatched: number, excluded: boolean, excludedReason: string | null }

async function complete (url: string, body: object, privacy = 'community'): Promise<Completion> {
  const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-plexus-privacy': privacy }, body: JSON.stringify(body) })
  assert.equal(res.status, 200, await res.clone().text())
  return await res.json() as Completion
}

function spotChecks (n: TestNode): SpotCheckData[] {
  return [...n.node.books!.entries()].filter((e): e is SignedRecord => isRecord(e) && e.record.kind === 'spot-check').map(e => e.record.data as unknown as SpotCheckData)
}

/**
 * A provider that cheats: a libp2p host of its own (own key) that serves the real inference
 * protocol with a real engine (B's, in this process) but samples with another seed than the one
 * asked for — a plausible, cheap, wrong answer — and signs receipts claiming the asked settings.
 */
async function cheatingProvider (dir: string, engine: TestNode['node']['engine']): Promise<{ host: PlexusLibp2p, peerId: string, books: Books, advert: () => Uint8Array }> {
  const identity = createIdentity(join(mkdtempSync(join(dir, 'cheat-')), 'identity.json'))
  const host = await createHost(identity.exportSeed(), NetworkConfigSchema.parse({ host: '127.0.0.1', port: 0, mdns: false, networkId: NETWORK }), 'cheat')
  const books = new Books({ dir: mkdtempSync(join(dir, 'cheat-books-')), identity, logger: silentLogger(), config: () => LedgerConfigSchema.parse({}) })
  const wrong = {
    registry: engine.registry,
    generate: async (req: Parameters<typeof engine.generate>[0], options: Parameters<typeof engine.generate>[1]) => await engine.generate({ ...req, seed: (req.seed ?? 0) + 1 }, options)
  }
  const server = new InferServer({ engine: wrong, logger: silentLogger(), stats: newInferStats(), receipts: books }, { networkId: NETWORK, serve: true, maxConcurrentJobs: 4, maxTokens: 4096, requestsPerMinutePerPeer: 1000 })
  await host.handle(INFER_PROTOCOL, async (stream, connection) => { await server.handle(stream, connection) })
  const peerId = host.peerId.toString()
  const advert = (): Uint8Array => {
    const now = Date.now()
    const payload: AdvertPayload = {
      v: 1, network: NETWORK, peerId, seq: now, issuedAt: now, ttlSeconds: 600, version: 'cheat',
      // Claims to be far faster than anyone, so the router prefers it.
      models: [{ name: MODEL, sha256: FIXTURE_SHA256, contextLength: 512, quantization: 'F32', parameters: 292_000, tokensPerSecond: 1_000_000 }],
      load: { active: 0, waiting: 0, parallel: 8 },
      community: { accepts: true, maxConcurrentJobs: 4, maxTokens: 4096, requestsPerMinute: 1000 }
    }
    return new TextEncoder().encode(JSON.stringify(signAdvert(identity, payload)))
  }
  return { host, peerId, books, advert }
}

describe('spot checks: a provider that returns wrong outputs is caught and loses routing', { timeout: 240_000 }, () => {
  const root = tempDir('plexus-spot-')
  let a: TestNode
  let b: TestNode
  let c: TestNode
  let cheat: Awaited<ReturnType<typeof cheatingProvider>>

  before(async () => {
    b = await startTestNode({ network: { networkId: NETWORK } })
    c = await startTestNode({ network: { networkId: NETWORK, bootstrap: [b.node.network!.multiaddrs()[0]!] } })
    // A: no model of its own; checks every countersigned receipt; 2 mismatches exclude.
    a = await startTestNode({
      network: { networkId: NETWORK, bootstrap: [b.node.network!.multiaddrs()[0]!, c.node.network!.multiaddrs()[0]!] },
      ledger: { spotCheckFraction: 1, maxMismatches: 2 }
    }, { embeddedModel: false })
    cheat = await cheatingProvider(root, b.node.engine)
    const topic = advertTopic(NETWORK)
    cheat.host.services.pubsub.subscribe(topic)
    await cheat.host.dial(multiaddr(a.node.network!.multiaddrs()[0]!))
    await waitFor('the cheat to see A on the advert topic', () => cheat.host.services.pubsub.getSubscribers(topic).some(p => p.toString() === a.node.network!.peerId))
    await cheat.host.services.pubsub.publish(topic, cheat.advert())
    await waitFor('A to hold B\'s, C\'s and the cheat\'s adverts', () => a.node.network!.table.size === 3)
  })

  after(async () => {
    await cheat?.host.stop()
    await cheat?.books.stop()
    for (const n of [a, b, c]) await n?.close()
    rmSync(root, { recursive: true, force: true })
  })

  it('each job the cheat serves is re-run on a third peer, mismatches are signed records, and the second excludes it', async () => {
    const honest = await complete(b.url, PROMPT, 'private')
    for (let i = 1; i <= 2; i++) {
      // Execute: a community request; A's client gets the cheat's answer at once.
      const r = await complete(a.url, { ...PROMPT, seed: PROMPT.seed + i - 1 })
      assert.equal(r.plexus.route.peers[0], cheat.peerId, `request ${i} went to the (fastest-claiming) cheat`)
      await a.node.books!.spotChecks!.idle()

      // Assert: a signed spot-check record in A's log names the cheat and a third peer.
      const checks = spotChecks(a)
      assert.equal(checks.length, i)
      const check = checks[i - 1]!
      assert.equal(check.provider, cheat.peerId)
      assert.ok([b.node.network!.peerId, c.node.network!.peerId].includes(check.verifier), 'the verifier is a third peer')
      assert.equal(check.match, false)
      assert.equal(check.verdict, 'mismatch')
      assert.notEqual(check.rerunSha256, check.outputSha256)
      // The re-run was a normal community job: the verifier holds its receipt too.
      assert.ok(check.rerunReceipt != null)
      const verifier = [b, c].find(n => n.node.network!.peerId === check.verifier)!
      await waitFor('the verifier to record the re-run\'s receipt', () => verifier.node.books!.log.receipt(check.rerunReceipt!) != null)
      const receipt = a.node.books!.log.receipt(check.receipt)!.receipt
      assert.ok(!isRecord(receipt) && receipt.body.provider === cheat.peerId, 'the checked receipt is the cheat\'s, in A\'s log')
    }
    // Excluded: the next request goes to an honest peer (whose check then matches).
    assert.notEqual((await complete(a.url, PROMPT, 'community')).plexus.route.peers[0], cheat.peerId)
    await a.node.books!.spotChecks!.idle()
    assert.equal(spotChecks(a).at(-1)!.verdict, 'match')

    // The peer list says why the cheat gets no more work.
    const { peers } = await (await fetch(`${a.url}/api/plexus/peers`)).json() as { peers: Peer[] }
    const entry = peers.find(p => p.peerId === cheat.peerId)!
    assert.equal(entry.excluded, true)
    assert.equal(entry.mismatches, 2)
    assert.match(entry.excludedReason ?? '', /2 spot-check mismatches/)
    assert.ok(entry.reputation < 0)
    for (const p of peers.filter(p => p.peerId !== cheat.peerId)) assert.equal(p.excluded, false)
    assert.equal(a.node.books!.verify().log.ok, true)
    const ledger = await (await fetch(`${a.url}/api/plexus/ledger`)).json() as { spotChecks: { mismatched: number } }
    assert.equal(ledger.spotChecks.mismatched, 2)
    assert.ok(honest.choices[0]!.text.length > 0)
    // The CLI lists the records with their verdicts.
    const log = await plexusAsync(['ledger', 'log', '--url', a.url])
    assert.equal(log.code, 0, log.stderr)
    assert.equal(log.stdout.split('\n').filter(l => l.includes('spot-check') && l.includes(`mismatch: ${shortPeerId(cheat.peerId)}`)).length, 2, log.stdout)
  })

  it('honest work checks out: the re-run on another honest peer matches, seeded or not', async () => {
    const before = spotChecks(a).length
    const honest = await complete(b.url, PROMPT, 'private')
    const r = await complete(a.url, PROMPT)
    assert.notEqual(r.plexus.route.peers[0], cheat.peerId)
    assert.equal(r.choices[0]!.text, honest.choices[0]!.text, 'seeded outputs repeat across nodes')
    // No seed: the router draws one, so this job is checkable too.
    const { seed: _seed, ...unseeded } = PROMPT
    await complete(a.url, unseeded)
    await a.node.books!.spotChecks!.idle()
    const checks = spotChecks(a).slice(before)
    assert.equal(checks.length, 2)
    for (const check of checks) {
      assert.notEqual(check.provider, cheat.peerId)
      assert.notEqual(check.verifier, check.provider)
      assert.notEqual(check.verifier, cheat.peerId, 'an excluded peer never verifies')
      assert.equal(check.verdict, 'match')
      assert.equal(check.rerunSha256, check.outputSha256)
    }
    const unseededReceipt = a.node.books!.log.receipt(checks[1]!.receipt)!.receipt
    assert.ok(!isRecord(unseededReceipt) && unseededReceipt.body.kind === 'inference')
    assert.equal(a.node.network!.table.get(cheat.peerId)!.mismatches, 2)
  })
})
