import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { startTestNode, tempDir, readSse, FIXTURE_MODEL, waitFor, type TestNode } from '../helpers/node.js'
import { startNodeProcess } from '../helpers/cli.js'
import { createIdentity } from '../../src/node/identity.js'
import { createHost, type PlexusLibp2p } from '../../src/p2p/host.js'
import { NetworkConfigSchema } from '../../src/node/config.js'
import { advertTopic, signAdvert, type AdvertPayload } from '../../src/p2p/adverts.js'
import { INFER_PROTOCOL, type ServerFrame } from '../../src/p2p/infer-protocol.js'
import { encodeFrame } from '../../src/p2p/framing.js'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'

const NETWORK = 'plexus-test'
const MODEL = 'stories260K'
const PROMPT = { model: MODEL, prompt: 'Once upon a time', max_tokens: 48, seed: 11, temperature: 0.8 }

interface Counted { server: Server, port: number, bytes: () => number, close: () => Promise<void> }

/** A TCP proxy in front of a port that counts every byte that passes, both ways. */
async function countingProxy (targetPort: number): Promise<Counted> {
  let bytes = 0
  const sockets = new Set<Socket>()
  const server = createServer(client => {
    const upstream = connect(targetPort, '127.0.0.1')
    sockets.add(client); sockets.add(upstream)
    client.on('data', d => { bytes += d.length })
    upstream.on('data', d => { bytes += d.length })
    client.pipe(upstream).pipe(client)
    const end = (): void => { client.destroy(); upstream.destroy() }
    client.on('error', end); upstream.on('error', end); client.on('close', end); upstream.on('close', end)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  return {
    server,
    port: typeof address === 'object' && address != null ? address.port : 0,
    bytes: () => bytes,
    close: async () => { for (const s of sockets) s.destroy(); await new Promise<void>(resolve => server.close(() => resolve())) }
  }
}

async function post (url: string, body: object, headers: Record<string, string> = {}): Promise<Response> {
  return await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
}

async function getJson<T> (url: string): Promise<T> {
  const res = await fetch(url)
  assert.equal(res.status, 200, `${url}: ${res.status}`)
  return await res.json() as T
}

interface NetStatus { inference: { served: number, bytesIn: number, bytesOut: number, requested: number, requestBytesOut: number, refused: Record<string, number> }, adverts: { rejected: Record<string, number>, accepted: number } }
interface Completion { choices: Array<{ text: string, finish_reason: string }>, usage: { completion_tokens: number }, plexus: { route: { kind: string, peers: string[] } } }

/** A libp2p host with its own key, driven by the test to misbehave. */
async function rogueHost (dir: string): Promise<{ host: PlexusLibp2p, sign: (p: AdvertPayload) => string, peerId: string }> {
  const identity = createIdentity(join(mkdtempSync(join(dir, 'rogue-')), 'identity.json'))
  const config = NetworkConfigSchema.parse({ host: '127.0.0.1', port: 0, mdns: false, networkId: NETWORK })
  const host = await createHost(identity.exportSeed(), config, 'rogue')
  return { host, peerId: host.peerId.toString(), sign: payload => JSON.stringify(signAdvert(identity, payload)) }
}

function advertFor (peerId: string, overrides: Partial<AdvertPayload> = {}): AdvertPayload {
  const now = Date.now()
  return {
    v: 1,
    network: NETWORK,
    peerId,
    seq: now,
    issuedAt: now,
    ttlSeconds: 60,
    version: 'rogue',
    models: [{ name: MODEL, sha256: '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d', contextLength: 512, quantization: 'F32', parameters: 292_000, tokensPerSecond: 1_000_000 }],
    load: { active: 0, waiting: 0, parallel: 8 },
    community: { accepts: true, maxConcurrentJobs: 8, maxTokens: 4096, requestsPerMinute: 1000 },
    ...overrides
  }
}

describe('the network: adverts, community inference, privacy, cloud, failover', { timeout: 300_000 }, () => {
  const root = tempDir('plexus-net-')
  const children: ChildProcess[] = []
  const peers: Array<{ child: ChildProcess, url: string, peerId: string, addr: string }> = []
  let a: TestNode
  let upstream: TestNode
  let proxy: Counted

  before(async () => {
    // B and C: separate processes with the embedded model (so one can be killed mid-stream).
    for (const name of ['b', 'c']) {
      const started = await startNodeProcess(join(root, name), ['--network', NETWORK, '--parallel', '2', '--context-size', '512'])
      children.push(started.child)
      const addr = started.info.multiaddrs.find(m => m.includes('/ip4/127.0.0.1/'))
      assert.ok(addr != null && started.info.peerId != null, 'a started node prints its peer id and multiaddrs')
      peers.push({ child: started.child, url: started.url, peerId: started.info.peerId, addr })
    }
    // The cloud upstream: another Plexus node (network off) offering the model under another name,
    // behind a proxy that counts every byte sent its way.
    const cloudModel = join(root, 'cloud-stories.gguf')
    copyFileSync(FIXTURE_MODEL, cloudModel)
    upstream = await startTestNode({ network: { enabled: false } }, { models: [cloudModel], embeddedModel: false })
    proxy = await countingProxy(Number(new URL(upstream.url).port))
    // A: no model of its own; joins through B and C.
    a = await startTestNode({
      network: { networkId: NETWORK, bootstrap: peers.map(p => p.addr) },
      router: { stallSeconds: 3, firstTokenSeconds: 3, cloud: { baseUrl: `http://127.0.0.1:${proxy.port}/v1`, models: ['cloud-stories'] } }
    }, { embeddedModel: false })
  })

  after(async () => {
    for (const c of children) c.kill('SIGKILL')
    await a?.close()
    await upstream?.close()
    await proxy?.close()
    rmSync(root, { recursive: true, force: true })
  })

  it('finds its peers from the bootstrap list, and adverts reach every node', async () => {
    // Adverts go out on every new subscription and every 15 s; a loaded CI machine can miss a few.
    await waitFor('A to hold both adverts', () => a.node.network!.table.size === 2, 90_000)
    const seen = new Set(a.node.network!.table.list().map(e => e.peerId))
    for (const p of peers) assert.ok(seen.has(p.peerId))
    // B never dialled C: C's advert reached it through the gossip mesh.
    await waitFor('B to see C and A', async () => {
      const { peers: list } = await getJson<{ peers: Array<{ peerId: string }> }>(`${peers[0]!.url}/api/plexus/peers`)
      const ids = new Set(list.map(p => p.peerId))
      return ids.has(peers[1]!.peerId) && ids.has(a.node.network!.peerId)
    })
    const entry = a.node.network!.table.get(peers[0]!.peerId)!
    assert.equal(entry.advert.models[0]?.name, MODEL)
    assert.equal(entry.advert.community.accepts, true)
    await waitFor('a ping latency', () => (a.node.network!.table.get(peers[0]!.peerId)?.latencyMs ?? null) != null)
  })

  it('GET /v1/models lists local and network models and where each runs', async () => {
    const { data } = await getJson<{ data: Array<{ id: string, owned_by: string, plexus: { location: string, peers: string[] } }> }>(`${a.url}/v1/models`)
    const net = data.find(m => m.id === MODEL)
    assert.equal(net?.plexus.location, 'network')
    assert.deepEqual(new Set(net?.plexus.peers), new Set(peers.map(p => p.peerId)))
    assert.equal(data.find(m => m.id === 'cloud-stories')?.plexus.location, 'cloud')
    const { data: bModels } = await getJson<{ data: Array<{ id: string, plexus: { location: string } }> }>(`${peers[0]!.url}/v1/models`)
    assert.equal(bModels.find(m => m.id === MODEL)?.plexus.location, 'local')
  })

  it('a community request is served by a peer with the same tokens as local generation', async () => {
    const local = await (await post(`${peers[0]!.url}/v1/completions`, PROMPT)).json() as Completion
    assert.equal(local.plexus.route.kind, 'local')
    const res = await post(`${a.url}/v1/completions`, PROMPT, { 'x-plexus-privacy': 'community' })
    assert.equal(res.status, 200)
    const remote = await res.json() as Completion
    assert.equal(remote.plexus.route.kind, 'peer')
    assert.ok(peers.some(p => p.peerId === remote.plexus.route.peers[0]))
    assert.equal(remote.choices[0]!.text, local.choices[0]!.text)
    assert.equal(remote.usage.completion_tokens, local.usage.completion_tokens)
    // Both sides keep the receipt, signed by the provider and countersigned by A.
    const provider = peers.find(p => p.peerId === remote.plexus.route.peers[0])!
    type Entry = { index: number, receipt: { body: { kind: string, provider: string, requester: string, completionTokens: number, params: { seed: number } }, providerSignature: string, requesterSignature: string } }
    await waitFor('the provider to record the receipt', async () => (await getJson<{ receipts: Entry[] }>(`${provider.url}/api/plexus/ledger/receipts`)).receipts.length > 0)
    const theirs = (await getJson<{ receipts: Entry[] }>(`${provider.url}/api/plexus/ledger/receipts`)).receipts.at(-1)!.receipt
    const ours = a.node.books!.log.receipts(0).at(-1)!.receipt
    assert.deepEqual(ours, theirs)
    assert.equal(ours.body.kind, 'inference')
    assert.equal(ours.body.provider, provider.peerId)
    assert.equal(ours.body.requester, a.node.network!.peerId)
    assert.equal(ours.body.completionTokens, remote.usage.completion_tokens)
    assert.equal(ours.body.params.seed, PROMPT.seed)
    const verified = await getJson<{ log: { ok: boolean, size: number } }>(`${provider.url}/api/plexus/ledger/verify`)
    assert.equal(verified.log.ok, true)
    assert.equal(a.node.books!.verify().log.ok, true)

    // Streaming, chat, with the level in the body: same text as the local stream.
    const chat = { model: MODEL, messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 40, seed: 5, stream: true }
    const localChunks = await readSse(await post(`${peers[1]!.url}/v1/chat/completions`, chat))
    const remoteChunks = await readSse(await post(`${a.url}/v1/chat/completions`, { ...chat, plexus: { privacy: 'community' } }))
    const text = (events: string[]): string => events.filter(e => e !== '[DONE]').map(e => (JSON.parse(e) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '').join('')
    assert.ok(text(localChunks).length > 0)
    assert.equal(text(remoteChunks), text(localChunks))
    assert.equal(remoteChunks.at(-1), '[DONE]')
  })

  it('a private request never leaves the node: a clear 503 and zero bytes to peers or the cloud', async () => {
    const before = a.node.network!.status().inference
    const peerBefore = await Promise.all(peers.map(p => getJson<NetStatus>(`${p.url}/api/plexus/network`)))
    const cloudBefore = proxy.bytes()

    for (const headers of [{}, { 'x-plexus-privacy': 'private' }] as Array<Record<string, string>>) {
      const res = await post(`${a.url}/v1/completions`, PROMPT, headers)
      assert.equal(res.status, 503)
      const body = await res.json() as { error: { code: string, message: string } }
      assert.equal(body.error.code, 'no_local_capacity')
      assert.match(body.error.message, /not on this node/)
      assert.match(body.error.message, /2 peers/)
    }
    // Also for a model only the cloud has, and through the Ollama API.
    const cloudOnly = await post(`${a.url}/v1/completions`, { ...PROMPT, model: 'cloud-stories' })
    assert.equal(cloudOnly.status, 503)
    const ollama = await post(`${a.url}/api/generate`, { model: MODEL, prompt: 'Hi', stream: false })
    assert.equal(ollama.status, 503)

    const after = a.node.network!.status().inference
    assert.equal(after.requested, before.requested)
    assert.equal(after.requestBytesOut, before.requestBytesOut)
    const peerAfter = await Promise.all(peers.map(p => getJson<NetStatus>(`${p.url}/api/plexus/network`)))
    peerAfter.forEach((s, i) => assert.equal(s.inference.bytesIn, peerBefore[i]!.inference.bytesIn))
    assert.equal(proxy.bytes(), cloudBefore)
    assert.equal(cloudBefore, 0, 'nothing was ever sent to the cloud so far')
  })

  it('a cabinet-derived request refuses the community level instead of downgrading', async () => {
    const res = await post(`${a.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'q' }], plexus: { privacy: 'community', cabinets: ['notes'] } })
    assert.equal(res.status, 400)
    assert.equal((await res.json() as { error: { code: string } }).error.code, 'privacy_violation')
  })

  it('structured output runs only on a node that has the model, never on a peer', async () => {
    const chat = { model: MODEL, messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 40, temperature: 0, response_format: { type: 'json_object' } }
    // A has no model: a community request it would otherwise send to B or C is refused, saying why.
    const fromA = await post(`${a.url}/v1/chat/completions`, chat, { 'x-plexus-privacy': 'community' })
    assert.equal(fromA.status, 503)
    const err = await fromA.json() as { error: { code: string, message: string } }
    assert.equal(err.error.code, 'no_route')
    assert.match(err.error.message, /structured output/)
    // B has it: the same community request runs there, on B itself.
    const fromB = await post(`${peers[0]!.url}/v1/chat/completions`, chat, { 'x-plexus-privacy': 'community' })
    assert.equal(fromB.status, 200)
    const body = await fromB.json() as { choices: Array<{ message: { content: string } }>, plexus: { route: { kind: string } } }
    assert.equal(body.plexus.route.kind, 'local')
    assert.match(body.choices[0]!.message.content, /^\{/)
  })

  it('the cloud layer: only for cloud requests that nothing local or in the community can serve', async () => {
    const community = await post(`${a.url}/v1/completions`, { ...PROMPT, model: 'cloud-stories' }, { 'x-plexus-privacy': 'community' })
    assert.equal(community.status, 503)
    const refused = await community.json() as { error: { code: string, message: string } }
    assert.equal(refused.error.code, 'no_route')
    assert.match(refused.error.message, /cloud/)
    assert.equal(proxy.bytes(), 0)

    const res = await post(`${a.url}/v1/completions`, { ...PROMPT, model: 'cloud-stories' }, { 'x-plexus-privacy': 'cloud' })
    assert.equal(res.status, 200)
    const viaCloud = await res.json() as Completion
    assert.equal(viaCloud.plexus.route.kind, 'cloud')
    assert.ok(proxy.bytes() > 0)
    const direct = await (await post(`${upstream.url}/v1/completions`, { ...PROMPT, model: 'cloud-stories' })).json() as Completion
    assert.equal(viaCloud.choices[0]!.text, direct.choices[0]!.text)
    assert.equal(viaCloud.usage.completion_tokens, direct.usage.completion_tokens)

    // A cloud request for a model the community has goes to the community, not the cloud.
    const bytes = proxy.bytes()
    const cheaper = await (await post(`${a.url}/v1/completions`, PROMPT, { 'x-plexus-privacy': 'cloud' })).json() as Completion
    assert.equal(cheaper.plexus.route.kind, 'peer')
    assert.equal(proxy.bytes(), bytes)
  })

  it('drops bad adverts (wrong signature, wrong sender, oversized, malformed) and keeps good ones', async () => {
    const rogue = await rogueHost(root)
    try {
      const topic = advertTopic(NETWORK)
      rogue.host.services.pubsub.subscribe(topic)
      await rogue.host.dial(multiaddr(a.node.network!.multiaddrs()[0]!))
      await waitFor('the rogue to see A on the advert topic', () => rogue.host.services.pubsub.getSubscribers(topic).some(p => p.toString() === a.node.network!.peerId))
      const stats = (): Record<string, number> => a.node.network!.status().adverts.rejected
      const publish = async (data: string | Uint8Array): Promise<void> => { await rogue.host.services.pubsub.publish(topic, typeof data === 'string' ? new TextEncoder().encode(data) : data) }

      // Signed by the rogue but claiming B's identity; then a signature that does not match.
      await publish(rogue.sign(advertFor(peers[0]!.peerId)))
      await waitFor('wrong-sender rejected', () => (stats()['wrong-sender'] ?? 0) >= 1)
      const good = JSON.parse(rogue.sign(advertFor(rogue.peerId))) as { payload: AdvertPayload, signature: string }
      await publish(JSON.stringify({ payload: { ...good.payload, version: 'tampered' }, signature: good.signature }))
      await waitFor('bad-signature rejected', () => (stats()['bad-signature'] ?? 0) >= 1)
      await publish(new Uint8Array(20_000).fill(0x20))
      await waitFor('oversized rejected', () => (stats()['too-large'] ?? 0) >= 1)
      await publish('{"payload": 1')
      await waitFor('malformed rejected', () => (stats().malformed ?? 0) >= 1)
      await publish(rogue.sign(advertFor(rogue.peerId, { network: 'other-net' })))
      await waitFor('wrong-network rejected', () => (stats()['wrong-network'] ?? 0) >= 1)
      assert.equal(a.node.network!.table.get(rogue.peerId), null)

      // A correct advert from the same peer is accepted.
      await publish(rogue.sign(advertFor(rogue.peerId, { models: [] })))
      await waitFor('good advert accepted', () => a.node.network!.table.get(rogue.peerId) != null)
      const res = await fetch(`${a.url}/health`)
      assert.equal(res.status, 200)
    } finally {
      await rogue.host.stop()
    }
  })

  it('a rogue peer sending malformed, oversized or endless frames is reset and the node stays healthy', async () => {
    const rogue = await rogueHost(root)
    try {
      const target = peers[0]!
      await rogue.host.dial(multiaddr(target.addr))
      const b = peerIdFromString(target.peerId)
      const attempt = async (payload: Uint8Array | 'endless'): Promise<string> => {
        const stream = await rogue.host.dialProtocol(b, INFER_PROTOCOL)
        if (payload === 'endless') {
          // Frames that never end: a stream of junk far longer than any frame may be.
          const junk = new Uint8Array(64 * 1024).fill(0x41)
          new DataView(junk.buffer).setUint32(0, 900 * 1024)
          try {
            for (let i = 0; i < 64; i++) {
              if (!stream.send(junk)) await stream.onDrain({ signal: AbortSignal.timeout(5_000) })
            }
          } catch {}
        } else {
          try {
            stream.send(payload)
          } catch {
            // Under load the node may already have ended the stream (the connection's previous
            // garbage): that is the outcome this test wants.
            return 'reset'
          }
        }
        try {
          for await (const chunk of stream) void chunk
          return stream.status
        } catch {
          return 'reset'
        }
      }
      const oversized = new Uint8Array(8); new DataView(oversized.buffer).setUint32(0, 0xFFFFFFF0)
      const notJson = encodeFrame('x', 1024).slice(); notJson.set(new TextEncoder().encode('{{{'), 4)
      for (const payload of [oversized, notJson, 'endless' as const]) {
        const outcome = await attempt(payload)
        assert.notEqual(outcome, 'open', 'the stream was ended by the node')
      }
      // A well-formed frame with a bad request gets a reason, not a crash.
      const stream = await rogue.host.dialProtocol(b, INFER_PROTOCOL)
      stream.send(encodeFrame({ type: 'request', id: 'x', network: NETWORK, model: MODEL, prompt: 'hi', maxTokens: 10_000_000, sampling: {} }, 1 << 20))
      let reply = ''
      for await (const chunk of stream) reply += new TextDecoder().decode(chunk.subarray())
      assert.match(reply, /too-many-tokens/)

      const health = await fetch(`${target.url}/health`)
      assert.equal(health.status, 200)
      const ok = await post(`${target.url}/v1/completions`, PROMPT)
      assert.equal(ok.status, 200)
      const status = await getJson<NetStatus>(`${target.url}/api/plexus/network`)
      assert.ok((status.inference.refused['too-many-tokens'] ?? 0) >= 1)
    } finally {
      await rogue.host.stop()
    }
  })

  it('a rogue serving peer (garbage, oversized, endless or stalled frames) is replaced by an honest one', async () => {
    const expected = await (await post(`${peers[0]!.url}/v1/completions`, PROMPT)).json() as Completion
    for (const behaviour of ['garbage', 'oversized', 'endless', 'stall'] as const) {
      const rogue = await rogueHost(root)
      try {
        await rogue.host.handle(INFER_PROTOCOL, async (stream) => {
          const tokens: ServerFrame = { type: 'tokens', ids: [1], text: 'x' }
          if (behaviour === 'garbage') stream.send(encodeFrame({ type: 'tokens', ids: 'nope' }, 1 << 20))
          if (behaviour === 'oversized') { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, 50 << 20); stream.send(b) }
          if (behaviour === 'endless') for (let i = 0; i < 5000 && stream.status === 'open'; i++) stream.send(encodeFrame(tokens, 1 << 20))
          // 'stall': say nothing at all.
          await new Promise(resolve => setTimeout(resolve, behaviour === 'stall' ? 10_000 : 100))
        })
        const topic = advertTopic(NETWORK)
        rogue.host.services.pubsub.subscribe(topic)
        await rogue.host.dial(multiaddr(a.node.network!.multiaddrs()[0]!))
        await waitFor('the rogue to see A on the advert topic', () => rogue.host.services.pubsub.getSubscribers(topic).some(p => p.toString() === a.node.network!.peerId))
        // Claims to be far faster than anyone: the router tries it first.
        await rogue.host.services.pubsub.publish(topic, new TextEncoder().encode(rogue.sign(advertFor(rogue.peerId))))
        await waitFor('the rogue advert', () => a.node.network!.table.get(rogue.peerId) != null)

        const res = await post(`${a.url}/v1/completions`, PROMPT, { 'x-plexus-privacy': 'community' })
        assert.equal(res.status, 200, behaviour)
        const r = await res.json() as Completion
        assert.equal(r.plexus.route.peers[0], rogue.peerId, `${behaviour}: the rogue was tried first`)
        assert.equal(r.plexus.route.peers.length, 2)
        if (behaviour !== 'endless') assert.equal(r.choices[0]!.text, expected.choices[0]!.text, behaviour)
        assert.ok(a.node.network!.table.get(rogue.peerId)!.reputation < 0)
      } finally {
        await rogue.host.stop()
        a.node.network!.table.remove(rogue.peerId)
      }
    }
  })

  it('SIGKILL of the serving peer mid-stream: the request completes on another peer with the same text', async () => {
    const body = { ...PROMPT, max_tokens: 400, stream: true }
    const uninterrupted = await readSse(await post(`${a.url}/v1/completions`, body, { 'x-plexus-privacy': 'community' }))
    const textOf = (events: string[]): string => events.filter(e => e !== '[DONE]').map(e => (JSON.parse(e) as { choices: Array<{ text?: string }> }).choices[0]?.text ?? '').join('')
    const expected = textOf(uninterrupted)
    assert.ok(expected.length > 200)

    const res = await post(`${a.url}/v1/completions`, body, { 'x-plexus-privacy': 'community' })
    assert.equal(res.status, 200)
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let raw = ''
    let killed: string | null = null
    let reputationBefore = 0
    while (true) {
      const { done, value } = await reader.read()
      if (done) break
      raw += decoder.decode(value, { stream: true })
      if (killed == null && raw.includes('"text":"')) {
        const job = a.node.network!.outboundJobs()[0]
        assert.ok(job != null, 'a peer is serving the request')
        const victim = peers.find(p => p.peerId === job.peerId)!
        victim.child.kill('SIGKILL')
        killed = victim.peerId
        reputationBefore = a.node.network!.table.get(killed)!.reputation
      }
    }
    const events = raw.split('\n\n').map(e => e.trim()).filter(e => e !== '').map(e => e.slice('data: '.length))
    assert.equal(events.at(-1), '[DONE]')
    assert.equal(textOf(events), expected)
    const final = JSON.parse(events.at(-2)!) as { plexus: { route: { kind: string, peers: string[] } } }
    assert.equal(final.plexus.route.peers[0], killed)
    assert.equal(final.plexus.route.peers.length, 2)
    const entry = a.node.network!.table.get(killed!)
    if (entry != null) assert.ok(entry.reputation < reputationBefore, 'the dead peer lost reputation')
  })
})

describe('operator limits on community jobs', { timeout: 120_000 }, () => {
  let server: TestNode
  let client: TestNode

  before(async () => {
    server = await startTestNode({ network: { networkId: 'limits', community: { maxConcurrentJobs: 1, requestsPerMinutePerPeer: 4 } } })
    client = await startTestNode({ network: { networkId: 'limits', bootstrap: server.node.network!.multiaddrs() } }, { embeddedModel: false })
    await waitFor('the advert', () => client.node.network!.table.size === 1)
  })

  after(async () => {
    await client?.close()
    await server?.close()
  })

  it('max concurrent jobs: a second simultaneous request is refused as busy', async () => {
    const body = { ...PROMPT, max_tokens: 300 }
    const results = await Promise.all([0, 1].map(async () => await post(`${client.url}/v1/completions`, body, { 'x-plexus-privacy': 'community' })))
    const statuses = results.map(r => r.status).sort()
    assert.deepEqual(statuses, [200, 502])
    const failed = results.find(r => r.status === 502)!
    const err = await failed.json() as { error: { code: string, message: string } }
    assert.equal(err.error.code, 'peer_failed')
    assert.match(err.error.message, /busy/)
    assert.equal(server.node.network!.status().inference.refused.busy, 1)
  })

  it('per-peer rate limit: requests beyond the allowance are refused with the reason', async () => {
    // Two used above; two more fit; the fifth is over the limit of 4 per minute.
    for (let i = 0; i < 2; i++) assert.equal((await post(`${client.url}/v1/completions`, PROMPT, { 'x-plexus-privacy': 'community' })).status, 200)
    const res = await post(`${client.url}/v1/completions`, PROMPT, { 'x-plexus-privacy': 'community' })
    assert.equal(res.status, 502)
    assert.match((await res.json() as { error: { message: string } }).error.message, /rate-limited/)
    assert.equal(server.node.network!.status().inference.refused['rate-limited'], 1)
    // The node itself is unaffected.
    assert.equal((await post(`${server.url}/v1/completions`, PROMPT)).status, 200)
  })

  it('a node started with the network off still serves its own models', async () => {
    const island = await startTestNode({ network: { enabled: false } })
    try {
      assert.equal(island.node.network, null)
      const r = await post(`${island.url}/v1/completions`, PROMPT, { 'x-plexus-privacy': 'community' })
      assert.equal(r.status, 200)
      const net = await fetch(`${island.url}/api/plexus/network`)
      assert.equal(net.status, 503)
      assert.equal((await net.json() as { error: { code: string } }).error.code, 'network_off')
    } finally {
      await island.close()
    }
  })
})

describe('separate networks and private swarms', { timeout: 60_000 }, () => {
  it('nodes with different network ids or pre-shared keys do not exchange adverts', async () => {
    const dir = tempDir('plexus-psk-')
    mkdirSync(dir, { recursive: true })
    const { writeFileSync } = await import('node:fs')
    const key = (hex: string): string => { const p = join(dir, `${hex.slice(0, 4)}.key`); writeFileSync(p, `/key/swarm/psk/1.0.0/\n/base16/\n${hex}\n`); return p }
    const k1 = key('11'.repeat(32))
    const k2 = key('22'.repeat(32))
    const x = await startTestNode({ network: { networkId: 'swarm', pskFile: k1 } }, { embeddedModel: false })
    const same = await startTestNode({ network: { networkId: 'swarm', pskFile: k1, bootstrap: x.node.network!.multiaddrs() } }, { embeddedModel: false })
    const otherKey = await startTestNode({ network: { networkId: 'swarm', pskFile: k2, bootstrap: x.node.network!.multiaddrs() } }, { embeddedModel: false })
    const otherNet = await startTestNode({ network: { networkId: 'elsewhere', bootstrap: x.node.network!.multiaddrs() } }, { embeddedModel: false })
    try {
      await waitFor('same swarm to meet', () => same.node.network!.table.get(x.node.network!.peerId) != null)
      // Give the others the same time again; they must still see nothing.
      await new Promise(resolve => setTimeout(resolve, 2_000))
      assert.equal(otherKey.node.network!.table.size, 0)
      assert.equal(otherKey.node.network!.libp2p.getConnections().length, 0)
      assert.equal(otherNet.node.network!.table.size, 0)
      assert.equal(x.node.network!.table.get(otherNet.node.network!.peerId), null)
    } finally {
      for (const n of [otherNet, otherKey, same, x]) await n.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a malformed key file or bootstrap address is a clear start error', async () => {
    const dir = tempDir('plexus-bad-')
    const { writeFileSync } = await import('node:fs')
    writeFileSync(join(dir, 'bad.key'), 'not a key')
    await assert.rejects(startTestNode({ network: { pskFile: join(dir, 'bad.key') } }), (err: Error & { code?: string }) => err.code === 'PLX_ERR_NETWORK_START' && /swarm key/.test(err.message))
    await assert.rejects(startTestNode({ network: { bootstrap: ['/ip4/127.0.0.1/tcp/1'] } }), (err: Error & { code?: string }) => err.code === 'PLX_ERR_NETWORK_START' && /p2p/.test(err.message))
    rmSync(dir, { recursive: true, force: true })
  })
})

describe('cancellation and who may connect', { timeout: 120_000 }, () => {
  it('a client that disconnects cancels the generation on the serving peer', async () => {
    const server = await startTestNode({ network: { networkId: 'cancel', community: { maxTokens: 4096 } }, inference: { contextSize: 2048 } })
    const client = await startTestNode({ network: { networkId: 'cancel', bootstrap: server.node.network!.multiaddrs() } }, { embeddedModel: false })
    try {
      await waitFor('the advert', () => client.node.network!.table.size === 1)
      const controller = new AbortController()
      const res = await fetch(`${client.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-plexus-privacy': 'community' },
        body: JSON.stringify({ ...PROMPT, max_tokens: 1900, stream: true }),
        signal: controller.signal
      })
      const reader = res.body!.getReader()
      await reader.read()
      await waitFor('the job to run on the peer', () => server.node.network!.status().community.active === 1)
      controller.abort()
      await waitFor('the peer to drop the job', () => server.node.network!.status().community.active === 0 && server.node.engine.queueStats().active === 0)
      assert.equal(server.node.network!.status().inference.served, 0, 'the job was cancelled, not completed')
      assert.equal(client.node.network!.outboundJobs().length, 0)
      // The peer is free for the next request.
      const next = await post(`${client.url}/v1/completions`, PROMPT, { 'x-plexus-privacy': 'community' })
      assert.equal(next.status, 200)
    } finally {
      await client.close()
      await server.close()
    }
  })

  it('deny and allow lists of peer ids hold in both directions', async () => {
    const { initDataDir } = await import('../../src/node/node.js')
    const { generateKeyPairFromSeed } = await import('@libp2p/crypto/keys')
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const dirs = [tempDir(), tempDir(), tempDir()]
    const ids = await Promise.all(dirs.map(async d => peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', initDataDir(d).identity.exportSeed())).toString()))
    const x = await startTestNode({ network: { networkId: 'gate', denyPeers: [ids[1]!] } }, { dataDir: dirs[0], embeddedModel: false })
    const denied = await startTestNode({ network: { networkId: 'gate', bootstrap: x.node.network!.multiaddrs() } }, { dataDir: dirs[1], embeddedModel: false })
    const allowedOnly = await startTestNode({ network: { networkId: 'gate', allowPeers: [ids[0]!], bootstrap: x.node.network!.multiaddrs() } }, { dataDir: dirs[2], embeddedModel: false })
    try {
      await waitFor('the allowed pair to meet', () => allowedOnly.node.network!.table.get(ids[0]!) != null && x.node.network!.table.get(ids[2]!) != null)
      assert.equal(denied.node.network!.libp2p.getConnections(peerIdFromString(ids[0]!)).length, 0)
      assert.equal(x.node.network!.table.get(ids[1]!), null)
      // The allow-listing node refuses everyone else, so it never meets the denied one either.
      await assert.rejects(allowedOnly.node.network!.libp2p.dial(multiaddr(denied.node.network!.multiaddrs()[0]!)))
    } finally {
      for (const n of [allowedOnly, denied, x]) await n.close()
      for (const d of dirs) rmSync(d, { recursive: true, force: true })
    }
  })
})
