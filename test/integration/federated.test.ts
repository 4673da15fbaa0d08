import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { startTestNode, tempDir, waitFor, type TestNode } from '../helpers/node.js'
import { FEATURES, breastCancer, stratified, writeCsv, post, waitForJob } from '../helpers/federated.js'
import { defaultLearning } from '../../src/federated/learning.js'
import { parseJobSpec, templateHash } from '../../src/federated/spec.js'
import { standardize } from '../../src/federated/participant.js'
import type { LocalDataset } from '../../src/federated/types.js'

const NETWORK = 'fl-test'

describe('federated learning on three real nodes', { timeout: 600_000 }, () => {
  const root = tempDir('plexus-fl-')
  const clinics: TestNode[] = []
  const sites = stratified(breastCancer(), 3)

  before(async () => {
    // Clinic A coordinates (and trains on its own patients); B and C accept A's jobs automatically.
    const a = await startTestNode({ network: { networkId: NETWORK } }, { embeddedModel: false })
    clinics.push(a)
    for (let i = 1; i < 3; i++) {
      clinics.push(await startTestNode({ network: { networkId: NETWORK, bootstrap: a.node.network!.multiaddrs() }, federated: { autoAcceptFrom: [a.node.network!.peerId] } }, { embeddedModel: false }))
    }
    await waitFor('adverts', () => a.node.network!.table.size === 2)
    for (const [i, c] of clinics.entries()) {
      const file = join(root, `clinic-${i}.csv`)
      writeCsv(file, sites[i]!)
      const res = await post(`${c.url}/api/plexus/data`, { name: 'patients', path: file })
      assert.equal(res.status, 201, await res.text())
    }
  })

  after(async () => {
    for (const c of clinics) await c.close()
    rmSync(root, { recursive: true, force: true })
  })

  it('FedAvg reaches the accuracy of central training on the pooled data (within 2 points)', async () => {
    const spec = {
      name: 'breast-cancer',
      model: { kind: 'logistic' },
      dataset: { name: 'patients', features: FEATURES, label: 'label' },
      classes: 2,
      rounds: 10,
      clients: { fraction: 1, min: 3 },
      local: { epochs: 1, batchSize: 16, learningRate: 0.1 },
      seed: 7
    }
    const res = await post(`${clinics[0]!.url}/api/plexus/fl/jobs`, spec)
    const text = await res.text()
    assert.equal(res.status, 201, text)
    const { id } = JSON.parse(text) as { id: string }
    const { job, history } = await waitForJob(clinics[0]!, id)
    assert.equal(job.status, 'completed', job.reason ?? '')
    assert.equal(job.roster.length, 3)
    assert.equal(history.length, 10)
    for (const r of history) assert.equal(r.contributed.length, 3)
    const federated = job.lastAccuracy!

    // Every round of the two other clinics has a receipt signed by the clinic and countersigned by
    // the coordinator, in both logs, stating the samples the clinic trained on.
    const receiptsOf = (c: TestNode): Array<{ body: { kind: string, jobId: string, round: number, provider: string, requester: string, samples: number } }> =>
      c.node.books!.log.receipts(0).map(e => e.receipt as never).filter((r: { body?: { kind?: string, jobId?: string } }) => r.body?.kind === 'fl-round' && r.body.jobId === id)
    const coordinatorReceipts = receiptsOf(clinics[0]!)
    assert.equal(coordinatorReceipts.length, 2 * 10)
    for (const c of clinics.slice(1)) {
      const mine = receiptsOf(c)
      assert.equal(mine.length, 10)
      assert.deepEqual(mine.map(r => r.body.round), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      for (const r of mine) {
        assert.equal(r.body.provider, c.node.network!.peerId)
        assert.equal(r.body.requester, clinics[0]!.node.network!.peerId)
        assert.ok(r.body.samples > 100)
      }
      assert.equal(c.node.books!.verify().log.ok, true)
    }

    // Centrally: the same model, the same number of passes over the same training rows.
    const learning = defaultLearning()
    const parsed = parseJobSpec(spec)
    const descriptor = learning.descriptor(parsed)
    const { splitRows } = await import('../../src/federated/participant.js')
    const trains: LocalDataset[] = []
    const tests: LocalDataset[] = []
    for (const rows of sites) {
      const all: LocalDataset = { x: new Float32Array(rows.flatMap(r => r.slice(0, 30))), y: new Int32Array(rows.map(r => r[30]!)), rows: rows.length, features: 30 }
      const { train, test } = splitRows(all, parsed.testFraction, parsed.seed)
      standardize(train, test)
      trains.push(train); tests.push(test)
    }
    const concat = (ds: LocalDataset[]): LocalDataset => ({
      x: Float32Array.from(ds.flatMap(d => [...d.x])), y: Int32Array.from(ds.flatMap(d => [...d.y])), rows: ds.reduce((s, d) => s + d.rows, 0), features: 30
    })
    const trainer = await learning.createTrainer()
    try {
      const central = await trainer.fit(descriptor, learning.initialWeights(descriptor, parsed), concat(trains), { epochs: 10, batchSize: 16, learningRate: 0.1, proximalMu: 0, seed: 7 })
      const evaluation = await trainer.evaluate(descriptor, central.weights, concat(tests))
      assert.ok(evaluation.accuracy > 0.9, `central accuracy ${evaluation.accuracy}`)
      assert.ok(federated >= evaluation.accuracy - 0.02, `federated ${federated} vs central ${evaluation.accuracy}`)
    } finally {
      await trainer.close()
    }

    // The model is exportable in tfjs format.
    const dir = join(root, 'export')
    const exported = await post(`${clinics[0]!.url}/api/plexus/fl/jobs/${id}/export`, { dir })
    assert.equal(exported.status, 200)
    const modelJson = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { format: string, weightsManifest: Array<{ paths: string[] }> }
    assert.equal(modelJson.format, 'layers-model')
    assert.ok(existsSync(join(dir, modelJson.weightsManifest[0]!.paths[0]!)))
  })

  it('training data never leaves a participant: only updates, and no row of its data in the bytes it sent', async () => {
    const b = clinics[1]!
    const traffic = b.node.federated!.traffic
    const before = traffic.bytesOut
    const sent: string[] = []
    traffic.onSend = json => { sent.push(json) }
    try {
      const res = await post(`${clinics[0]!.url}/api/plexus/fl/jobs`, {
        name: 'audit', model: { kind: 'logistic' }, dataset: { name: 'patients', features: FEATURES, label: 'label' }, classes: 2, rounds: 2, clients: { min: 3 }, seed: 3
      })
      const { id } = await res.json() as { id: string }
      assert.equal((await waitForJob(clinics[0]!, id)).job.status, 'completed')
      assert.equal(b.node.federated!.participations().find(p => p.jobId === id)!.roundsTrained, 2)
    } finally {
      delete traffic.onSend
    }
    const bytes = traffic.bytesOut - before
    assert.ok(bytes > 0 && sent.length > 0)
    // Everything B sent, as text and as the decoded bytes of every base64 field.
    const text = sent.join('\n')
    const blobs = Buffer.concat(sent.flatMap(s => [...s.matchAll(/"([A-Za-z0-9+/]{40,}={0,2})"/g)].map(m => Buffer.from(m[1]!, 'base64'))))
    const raw = sites[1]!
    for (const row of raw) {
      const asText = row.slice(0, 4).join(',')
      assert.ok(!text.includes(asText), `a row's values appear in the sent text: ${asText}`)
      const asFloats = Buffer.from(new Float32Array(row.slice(0, 30)).buffer)
      assert.equal(blobs.indexOf(asFloats.subarray(0, 16)), -1, 'a row appears in the sent vectors')
    }
    // Far less than the data itself: a 31-value update per round plus evaluation figures.
    const dataBytes = raw.length * 31 * 4
    assert.ok(bytes < dataBytes / 4, `B sent ${bytes} bytes; its data is ${dataBytes}`)
  })

  it('refuses malformed specs and impossible combinations with a clear error, and carries on', async () => {
    const bad = [
      {},
      { name: 'x', model: { kind: 'logistic' }, dataset: { name: 'patients', features: FEATURES, label: 'label' }, classes: 2, rounds: 0 },
      { name: 'x', model: { kind: 'logistic' }, dataset: { name: 'patients', features: FEATURES, label: 'label' }, classes: 2, rounds: 2, secureAggregation: { enabled: true }, robust: { rule: 'median' } },
      { name: 'x', model: { kind: 'logistic' }, dataset: { name: 'Bad Name', features: FEATURES, label: 'label' }, classes: 2, rounds: 2 }
    ]
    for (const spec of bad) {
      const res = await post(`${clinics[0]!.url}/api/plexus/fl/jobs`, spec)
      assert.equal(res.status, 400)
      const body = await res.json() as { error: { code: string } }
      assert.equal(body.error.code, 'PLX_ERR_FL_SPEC_INVALID')
    }
    // An unknown dataset: every participant declines, the job fails with the reasons.
    const res = await post(`${clinics[0]!.url}/api/plexus/fl/jobs`, { name: 'nodata', model: { kind: 'logistic' }, dataset: { name: 'nothing', features: ['a'], label: 'b' }, classes: 2, rounds: 1, clients: { min: 2 } })
    const { id } = await res.json() as { id: string }
    const { job } = await waitForJob(clinics[0]!, id)
    assert.equal(job.status, 'failed')
    assert.match(job.reason ?? '', /no dataset 'nothing'/)
    assert.equal((await fetch(`${clinics[1]!.url}/health`)).status, 200)
  })
})

describe('federated learning: secure aggregation, dropouts, restarts, approval, DP, rogue participants', { timeout: 600_000 }, () => {
  const root = tempDir('plexus-fl2-')
  const sites = stratified(breastCancer(), 3)
  const nodes: TestNode[] = []
  const specFor = (over: Record<string, unknown>): Record<string, unknown> => ({
    name: 'bc', model: { kind: 'logistic' }, dataset: { name: 'patients', features: FEATURES, label: 'label' }, classes: 2,
    rounds: 4, clients: { fraction: 1, min: 2 }, local: { epochs: 1, batchSize: 16, learningRate: 0.1 }, roundDeadlineSeconds: 20, seed: 5, ...over
  })

  before(async () => {
    const a = await startTestNode({ network: { networkId: 'fl2' } }, { embeddedModel: false, dataDir: join(root, 'a') })
    nodes.push(a)
    for (let i = 1; i < 3; i++) {
      nodes.push(await startTestNode({ network: { networkId: 'fl2', bootstrap: a.node.network!.multiaddrs() }, federated: { autoAcceptFrom: i === 1 ? [a.node.network!.peerId] : [] } }, { embeddedModel: false }))
    }
    await waitFor('adverts', () => a.node.network!.table.size === 2)
    for (const [i, c] of nodes.entries()) {
      const file = join(root, `site-${i}.csv`)
      writeCsv(file, sites[i]!)
      assert.equal((await post(`${c.url}/api/plexus/data`, { name: 'patients', path: file })).status, 201)
    }
  })

  after(async () => {
    for (const c of nodes) await c.close().catch(() => {})
    rmSync(root, { recursive: true, force: true })
  })

  it('a participant without an allow-list entry reviews the offer: pending until its owner joins', async () => {
    const [a, , c] = nodes as [TestNode, TestNode, TestNode]
    const res = await post(`${a.url}/api/plexus/fl/jobs`, specFor({ clients: { min: 3 }, rounds: 2 }))
    const { id } = await res.json() as { id: string }
    await waitFor('the offer at C', () => c.node.federated!.participations().some(p => p.jobId === id && p.status === 'pending'))
    const listed = await (await fetch(`${c.url}/api/plexus/fl/jobs`)).json() as { participating: Array<{ jobId: string, status: string }> }
    assert.equal(listed.participating.find(p => p.jobId === id)?.status, 'pending')
    const joined = await post(`${c.url}/api/plexus/fl/offers/${id}/join`, {})
    assert.equal(joined.status, 200)
    const { job } = await waitForJob(a, id)
    assert.equal(job.status, 'completed', job.reason ?? '')
    assert.equal(job.roster.length, 3)

    // A job template the community approved (governance.flTemplates, by its hash) is accepted at
    // once; any other spec still waits.
    const approved = specFor({ clients: { min: 3 }, rounds: 1, seed: 99 })
    c.node.config.governance.flTemplates = [templateHash(parseJobSpec(approved))]
    try {
      const t = await (await post(`${a.url}/api/plexus/fl/jobs`, approved)).json() as { id: string }
      await waitFor('the template offer at C', () => c.node.federated!.participations().some(p => p.jobId === t.id))
      const offer = c.node.federated!.participations().find(p => p.jobId === t.id)!
      assert.equal(offer.status, 'accepted')
      assert.equal(offer.reason, 'an approved job template')
      assert.equal((await waitForJob(a, t.id)).job.status, 'completed')
      const other = await (await post(`${a.url}/api/plexus/fl/jobs`, specFor({ clients: { min: 3 }, rounds: 1, seed: 98 }))).json() as { id: string }
      await waitFor('the other offer at C', () => c.node.federated!.participations().some(p => p.jobId === other.id))
      assert.equal(c.node.federated!.participations().find(p => p.jobId === other.id)!.status, 'pending')
      assert.equal((await post(`${a.url}/api/plexus/fl/jobs/${other.id}/stop`, {})).status, 200)
    } finally {
      c.node.config.governance.flTemplates = []
    }
  })

  it('secure aggregation: the job learns as well as plain FedAvg, and every round sums all three', async () => {
    const a = nodes[0]!
    const plain = await (await post(`${a.url}/api/plexus/fl/jobs`, specFor({ participants: nodes.map(n => n.node.network!.peerId), clients: { min: 3 } }))).json() as { id: string }
    const secure = await (await post(`${a.url}/api/plexus/fl/jobs`, specFor({ participants: nodes.map(n => n.node.network!.peerId), clients: { min: 3 }, secureAggregation: { enabled: true, clipRange: 4 } }))).json() as { id: string }
    // C reviews offers: approve both.
    for (const id of [plain.id, secure.id]) {
      await waitFor('the offer', () => nodes[2]!.node.federated!.participations().some(p => p.jobId === id))
      assert.equal((await post(`${nodes[2]!.url}/api/plexus/fl/offers/${id}/join`, {})).status, 200)
    }
    const p = await waitForJob(a, plain.id)
    const s = await waitForJob(a, secure.id)
    assert.equal(s.job.status, 'completed', s.job.reason ?? '')
    for (const r of s.history) assert.equal(r.contributed.length, 3)
    assert.ok(Math.abs(s.job.lastAccuracy! - p.job.lastAccuracy!) <= 0.03, `secure ${s.job.lastAccuracy} vs plain ${p.job.lastAccuracy}`)
  })

  it('differential privacy: ε is reported every round and the job stops when its budget is spent', async () => {
    const a = nodes[0]!
    const spec = specFor({ participants: [nodes[0]!.node.network!.peerId, nodes[1]!.node.network!.peerId], rounds: 50, dp: { enabled: true, clipNorm: 1, noiseMultiplier: 3, delta: 1e-5, epsilonBudget: 3 } })
    const { id } = await (await post(`${a.url}/api/plexus/fl/jobs`, spec)).json() as { id: string }
    const { job, history } = await waitForJob(a, id)
    assert.equal(job.status, 'completed')
    assert.match(job.reason ?? '', /privacy budget/)
    assert.ok(history.length >= 1 && history.length < 50)
    const eps = history.map(r => r.epsilon!)
    for (let i = 1; i < eps.length; i++) assert.ok(eps[i]! > eps[i - 1]!)
    assert.ok(eps.at(-1)! <= 3)
  })

  it('a rogue participant that answers with garbage is left out; the job carries on', async () => {
    const a = nodes[0]!
    const { createIdentity } = await import('../../src/node/identity.js')
    const { createHost } = await import('../../src/p2p/host.js')
    const { NetworkConfigSchema } = await import('../../src/node/config.js')
    const { flHandler, FL_PROTOCOL } = await import('../../src/federated/protocol.js')
    const { mkdtempSync } = await import('node:fs')
    const identity = createIdentity(join(mkdtempSync(join(root, 'rogue-')), 'id.json'))
    const rogue = await createHost(identity.exportSeed(), NetworkConfigSchema.parse({ host: '127.0.0.1', port: 0, mdns: false, networkId: 'fl2' }), 'rogue')
    try {
      let calls = 0
      await rogue.handle(FL_PROTOCOL, flHandler(async (_peer, message) => {
        calls++
        const type = (message as { type: string }).type
        if (type === 'offer') return { status: 'accepted' }
        if (type === 'fit') return { numExamples: 100, loss: 0.1, update: Buffer.from(new Float32Array(7).buffer).toString('base64') }
        if (type === 'evaluate') return { numExamples: 1e12, loss: 'x', accuracy: 2 }
        return {}
      }))
      await rogue.dial(a.node.network!.libp2p.getMultiaddrs()[0]!)
      const participants = [a.node.network!.peerId, nodes[1]!.node.network!.peerId, rogue.peerId.toString()]
      const { id } = await (await post(`${a.url}/api/plexus/fl/jobs`, specFor({ participants, rounds: 3 }))).json() as { id: string }
      const { job, history } = await waitForJob(a, id)
      assert.equal(job.status, 'completed', job.reason ?? '')
      assert.ok(calls >= 4)
      for (const r of history) {
        assert.ok(!r.contributed.includes(rogue.peerId.toString()))
        assert.ok(r.dropped.includes(rogue.peerId.toString()))
      }
      assert.ok(job.lastAccuracy! > 0.85)
      assert.equal((await fetch(`${a.url}/health`)).status, 200)
    } finally {
      await rogue.stop()
    }
  })

  it('a coordinator restarted mid-job resumes from its last completed round', async () => {
    // The coordinator is a real process here: SIGTERM it mid-job, start it again on its data dir.
    const { startNodeProcess } = await import('../helpers/cli.js')
    const dir = join(root, 'coordinator')
    const b = nodes[1]!
    const args = ['--network', 'fl2', '--no-embedded-model', '--bootstrap', b.node.network!.multiaddrs()[0]!]
    let proc = await startNodeProcess(dir, args)
    const file = join(root, 'coordinator.csv')
    writeCsv(file, sites[0]!)
    assert.equal((await post(`${proc.url}/api/plexus/data`, { name: 'patients', path: file })).status, 201)
    b.node.config.federated.autoAcceptFrom.push(proc.info.peerId!)
    await waitFor('B to know the coordinator', () => b.node.network!.table.get(proc.info.peerId!) != null)
    const participants = [proc.info.peerId!, b.node.network!.peerId]
    const created = await post(`${proc.url}/api/plexus/fl/jobs`, specFor({ participants, rounds: 30, local: { epochs: 3, batchSize: 8, learningRate: 0.05 } }))
    const { id } = await created.json() as { id: string }
    const rounds = async (): Promise<number> => ((await (await fetch(`${proc.url}/api/plexus/fl/jobs/${id}`)).json()) as { history: unknown[] }).history.length
    const deadline = Date.now() + 120_000
    while (await rounds() < 2) {
      assert.ok(Date.now() < deadline, 'two rounds in time')
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    proc.child.kill('SIGTERM')
    await new Promise(resolve => proc.child.once('exit', resolve))
    const saved = JSON.parse(readFileSync(join(dir, 'fl', 'coordinator', id, 'state.json'), 'utf8')) as { round: number, status: string }
    assert.equal(saved.status, 'running')
    assert.ok(saved.round >= 2 && saved.round < 30)
    proc = await startNodeProcess(dir, args)
    try {
      const end = Date.now() + 240_000
      let r: { job: { status: string, reason: string | null }, history: Array<{ round: number }> }
      while (true) {
        r = await (await fetch(`${proc.url}/api/plexus/fl/jobs/${id}`)).json() as typeof r
        if (r.job.status !== 'running' || Date.now() > end) break
        await new Promise(resolve => setTimeout(resolve, 250))
      }
      assert.equal(r.job.status, 'completed', r.job.reason ?? '')
      assert.deepEqual(r.history.map(h => h.round), Array.from({ length: 30 }, (_, i) => i + 1))
    } finally {
      proc.child.kill('SIGKILL')
    }
  })
})
