import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { startTestNode, tempDir, waitFor, type TestNode } from '../helpers/node.js'
import { FEATURES, breastCancer, stratified, writeCsv, post, waitForJob } from '../helpers/federated.js'
import { quantize, type ResolvedConfig } from '../../src/federated/secagg/index.js'
import { MAX_CONSECUTIVE_ABORTS } from '../../src/federated/coordinator.js'

const NETWORK = 'fl-secagg'

/** Σ of the quantised vectors mod 2³², read as int32: what the coordinator must get, exactly. */
function integerSum (vectors: ReadonlyArray<{ vector: Float32Array, config: ResolvedConfig }>): Int32Array {
  const sum = new Int32Array(vectors[0]!.config.length)
  for (const { vector, config } of vectors) {
    const q = new Int32Array(quantize(vector, config).buffer)
    for (let i = 0; i < sum.length; i++) sum[i] = (sum[i]! + q[i]!) | 0
  }
  return sum
}

describe('secure aggregation on real nodes: dropouts before and after masking, aborts below the threshold', { timeout: 600_000 }, () => {
  const root = tempDir('plexus-fl-secagg-')
  const sites = stratified(breastCancer(), 4)
  // A coordinates and trains; B, C and D accept A's jobs automatically.
  const nodes: TestNode[] = []
  const closed = new Set<TestNode>()
  const spec = (participants: TestNode[], over: Record<string, unknown>): Record<string, unknown> => ({
    name: 'bc-secure', model: { kind: 'logistic' }, dataset: { name: 'patients', features: FEATURES, label: 'label' }, classes: 2,
    participants: participants.map(n => n.node.network!.peerId), clients: { fraction: 1, min: 3 },
    local: { epochs: 1, batchSize: 16, learningRate: 0.1 }, secureAggregation: { enabled: true, clipRange: 4 }, seed: 3, ...over
  })
  const hooks = (n: TestNode): NonNullable<TestNode['node']['federated']>['testHooks'] => n.node.federated!.testHooks
  const health = async (n: TestNode): Promise<number> => (await fetch(`${n.url}/health`)).status

  before(async () => {
    const a = await startTestNode({ network: { networkId: NETWORK } }, { embeddedModel: false })
    nodes.push(a)
    for (let i = 1; i < 4; i++) {
      nodes.push(await startTestNode({ network: { networkId: NETWORK, bootstrap: a.node.network!.multiaddrs() }, federated: { autoAcceptFrom: [a.node.network!.peerId] } }, { embeddedModel: false }))
    }
    await waitFor('adverts', () => a.node.network!.table.size === 3)
    for (const [i, n] of nodes.entries()) {
      const file = join(root, `site-${i}.csv`)
      writeCsv(file, sites[i]!)
      assert.equal((await post(`${n.url}/api/plexus/data`, { name: 'patients', path: file })).status, 201)
    }
  })

  afterEach(() => {
    for (const n of nodes) for (const k of Object.keys(hooks(n))) delete hooks(n)[k as keyof ReturnType<typeof hooks>]
  })

  after(async () => {
    for (const n of nodes) if (!closed.has(n)) await n.close().catch(() => {})
    rmSync(root, { recursive: true, force: true })
  })

  it('two of three clients drop after masking: the round aborts cleanly, the model is kept and the job goes on', async () => {
    const [a, b, , d] = nodes as [TestNode, TestNode, TestNode, TestNode]
    // B and D send their masked inputs, then stop answering (the unmask request of round 1 hangs
    // until the coordinator's deadline); one survivor of three is below the threshold of two.
    let release = (): void => {}
    const gate = new Promise<void>(resolve => { release = resolve })
    const masked = new Set<string>()
    const summed: number[] = []
    hooks(a).secureSum = ({ round }) => { summed.push(round) }
    for (const n of [b, d]) {
      hooks(n).maskedVector = ({ round }) => { if (round === 1) masked.add(n.node.network!.peerId) }
      hooks(n).beforeSecureStep = async ({ round, type }) => {
        if (round !== 1 || type !== 'secagg-unmask') return
        await gate
        throw new Error('this participant dropped out (test)')
      }
    }
    try {
      const { id } = await (await post(`${a.url}/api/plexus/fl/jobs`, spec([a, b, d], { rounds: 2, roundDeadlineSeconds: 20 }))).json() as { id: string }
      const { job } = await waitForJob(a, id)
      assert.equal(job.status, 'completed', job.reason ?? '')
      assert.equal(masked.size, 2, 'B and D sent their masked inputs before dropping')
      const history = a.node.federated!.history(id)
      assert.equal(history.length, 2)
      const [first, second] = history as [typeof history[0], typeof history[0]]
      assert.match(first.aborted ?? '', /Secure aggregation round aborted/)
      assert.deepEqual(first.contributed, [])
      assert.equal(first.dropped.length, 3)
      assert.equal(second.aborted, undefined)
      assert.equal(second.contributed.length, 3)
      // The coordinator learned no sum in round 1 (the model stayed as it was), one in round 2.
      assert.deepEqual(summed, [2])
      assert.ok(second.evaluation!.accuracy > 0.85, `accuracy after round 2: ${second.evaluation?.accuracy}`)
      for (const n of [a, b, d]) assert.equal(await health(n), 200)
    } finally {
      release()
    }
  })

  it('secure rounds that keep aborting end the job with a clear error; the node carries on', async () => {
    const [a, b, , d] = nodes as [TestNode, TestNode, TestNode, TestNode]
    // D refuses every round at its first step: two of three clients are below the minimum of three.
    hooks(d).beforeSecureStep = ({ type }) => { if (type === 'secagg-advertise') throw new Error('this participant dropped out (test)') }
    const dp = { enabled: true, clipNorm: 1, noiseMultiplier: 1, delta: 1e-5 }
    const { id } = await (await post(`${a.url}/api/plexus/fl/jobs`, spec([a, b, d], { rounds: 10, roundDeadlineSeconds: 10, dp }))).json() as { id: string }
    const { job, history } = await waitForJob(a, id)
    assert.equal(job.status, 'failed')
    assert.match(job.reason ?? '', new RegExp(`secure aggregation aborted in ${MAX_CONSECUTIVE_ABORTS} rounds in a row`))
    assert.equal(history.length, MAX_CONSECUTIVE_ABORTS)
    for (const r of history) assert.deepEqual(r.contributed, [])
    // With DP on, the accountant charges each aborted round all the same (conservative).
    const eps = history.map(r => r.epsilon!)
    for (let i = 1; i < eps.length; i++) assert.ok(eps[i]! > eps[i - 1]! && eps[0]! > 0, `ε per round: ${eps.join(', ')}`)
    assert.equal(await health(a), 200)
    // The same nodes run the next job normally.
    delete hooks(d).beforeSecureStep
    const next = await (await post(`${a.url}/api/plexus/fl/jobs`, spec([a, b, d], { rounds: 1 }))).json() as { id: string }
    const done = await waitForJob(a, next.id)
    assert.equal(done.job.status, 'completed', done.job.reason ?? '')
    assert.equal(done.history[0]!.contributed.length, 3)
  })

  it('a third of the clients drop before masking (after sharing keys): the sum is exactly the survivors\' quantised updates', async () => {
    const [a, b, , d] = nodes as [TestNode, TestNode, TestNode, TestNode]
    const vectors = new Map<string, { vector: Float32Array, config: ResolvedConfig }>()
    for (const n of [a, b, d]) hooks(n).maskedVector = ({ vector, config }) => { vectors.set(n.node.network!.peerId, { vector: new Float32Array(vector), config }) }
    let sum: { quantisedSum: Int32Array, contributors: string[] } | null = null
    hooks(a).secureSum = ({ quantisedSum, contributors }) => { sum = { quantisedSum, contributors } }
    // D shares its keys, then fails at the masked-input step: the coordinator must reconstruct its
    // mask key from A's and B's shares and remove its pairwise masks from their inputs.
    hooks(d).beforeSecureStep = ({ type }) => { if (type === 'secagg-mask') throw new Error('this participant dropped out (test)') }
    const { id } = await (await post(`${a.url}/api/plexus/fl/jobs`, spec([a, b, d], { rounds: 1, roundDeadlineSeconds: 20 }))).json() as { id: string }
    const { job, history } = await waitForJob(a, id)
    assert.equal(job.status, 'completed', job.reason ?? '')
    const survivors = [a, b].map(n => n.node.network!.peerId).sort()
    const got = sum as { quantisedSum: Int32Array, contributors: string[] } | null
    assert.ok(got != null)
    assert.deepEqual([...got.contributors].sort(), survivors)
    assert.deepEqual(history[0]!.dropped, [d.node.network!.peerId])
    assert.ok(!vectors.has(d.node.network!.peerId))
    assert.deepEqual(got.quantisedSum, integerSum(survivors.map(p => vectors.get(p)!)))
  })

  it('a third of the clients drop after masking (C\'s node stops): the round completes with the exact sum of the masked inputs', async () => {
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode, TestNode]
    const vectors = new Map<string, { vector: Float32Array, config: ResolvedConfig }>()
    for (const n of [a, b, c]) hooks(n).maskedVector = ({ vector, config }) => { vectors.set(n.node.network!.peerId, { vector: new Float32Array(vector), config }) }
    let sum: { quantisedSum: Int32Array, contributors: string[] } | null = null
    hooks(a).secureSum = ({ quantisedSum, contributors }) => { sum = { quantisedSum, contributors } }
    // C masks and sends its input; when the unmask request comes, its node shuts down and never answers.
    let stopping: Promise<void> | null = null
    hooks(c).beforeSecureStep = async ({ type }) => {
      if (type !== 'secagg-unmask') return
      closed.add(c)
      stopping = c.close()
      await new Promise<never>(() => {})
    }
    const { id } = await (await post(`${a.url}/api/plexus/fl/jobs`, spec([a, b, c], { rounds: 1, roundDeadlineSeconds: 20 }))).json() as { id: string }
    const { job, history } = await waitForJob(a, id)
    assert.equal(job.status, 'completed', job.reason ?? '')
    assert.ok(stopping != null, 'C received the unmask request and stopped')
    await stopping
    const ids = [a, b, c].map(n => n.node.network!.peerId).sort()
    const got = sum as { quantisedSum: Int32Array, contributors: string[] } | null
    assert.ok(got != null)
    // As in Bonawitz et al.: a client that drops after sending its masked input is still in the
    // sum (A and B reveal the shares of its self-mask); C's unmask shares were never needed.
    assert.deepEqual([...got.contributors].sort(), ids)
    assert.deepEqual([...history[0]!.contributed].sort(), ids)
    assert.deepEqual(history[0]!.dropped, [])
    // Exact, in the integer domain: Σ of the quantised (weighted update, weight) vectors.
    assert.equal(vectors.size, 3)
    assert.deepEqual(got.quantisedSum, integerSum([...vectors.values()]))
    // The last coordinate is Σ n_k: each site's training rows (80 % of its rows; no DP).
    const weights = ids.map(p => vectors.get(p)!.vector.at(-1)!)
    const rows = [0, 1, 2].map(i => sites[i]!.length - Math.floor(sites[i]!.length * 0.2))
    assert.deepEqual([...weights].sort(), [...rows].sort())
    assert.equal(got.quantisedSum.at(-1), rows.reduce((x, y) => x + y, 0))
    assert.equal(await health(a), 200)
    assert.equal(await health(b), 200)
  })
})
