import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import { runSimulation, sampleClients, aggregateRound, checkCombination, toClientUpdate, meanFitLoss, combineEvaluations, type SimulationOptions } from '../../../src/federated/simulation.js'
import { logisticRegression, initialWeights } from '../../../src/federated/model.js'
import { stratifiedSplit, dirichletSplit, concatDatasets } from '../../../src/federated/datasets.js'
import { createStrategy } from '../../../src/federated/strategies/index.js'
import { createAggregator } from '../../../src/federated/robust/index.js'
import { Rng, epsilonFor } from '../../../src/federated/dp/index.js'
import type { ClientUpdate, LocalDataset } from '../../../src/federated/types.js'
import { hasCode, useBreastCancerTrainer } from './fixtures.js'
const DESCRIPTOR = logisticRegression(30, 2)
const TRAIN = { epochs: 1, batchSize: 16, learningRate: 0.1 }
const ROUNDS = 10

const fx = useBreastCancerTrainer()

const simulate = async (overrides: Partial<SimulationOptions> & Pick<SimulationOptions, 'clients'>): Promise<Awaited<ReturnType<typeof runSimulation>>> => await runSimulation({
  descriptor: DESCRIPTOR,
  evaluation: [fx.test],
  rounds: ROUNDS,
  train: TRAIN,
  strategy: createStrategy({ name: 'fedavg' }),
  aggregator: createAggregator({ rule: 'mean' }),
  seed: 1,
  trainers: [fx.trainer],
  ...overrides
})

const finalAccuracy = (r: Awaited<ReturnType<typeof runSimulation>>): number => r.history.at(-1)!.evaluation!.accuracy

/** Centralized training on the pooled rows with the same budget: rounds × local epochs passes. */
async function centralizedAccuracy (clients: readonly LocalDataset[]): Promise<number> {
  const fit = await fx.trainer.fit(DESCRIPTOR, initialWeights(DESCRIPTOR, 1), concatDatasets(clients), { ...TRAIN, epochs: ROUNDS * TRAIN.epochs, proximalMu: 0, seed: 1 })
  return (await fx.trainer.evaluate(DESCRIPTOR, fit.weights, fx.test)).accuracy
}

describe('FedAvg on breast cancer across 3 clients', () => {
  for (const [name, split] of [
    ['stratified', () => stratifiedSplit(fx.train, 3, 1)],
    ['skewed (Dirichlet α = 0.5)', () => dirichletSplit(fx.train, 3, { alpha: 0.5, seed: 1, minRows: 20 })]
  ] as const) {
    it(`${name}: within 2 points of centralized training with the same budget`, async () => {
      // Prepare
      const clients = split()

      // Execute
      const fl = await simulate({ clients })
      const central = await centralizedAccuracy(clients)

      // Assert
      assert.equal(fl.history.length, ROUNDS)
      assert.ok(Math.abs(finalAccuracy(fl) - central) <= 0.02, `FL ${finalAccuracy(fl)} vs centralized ${central}`)
      assert.ok(central > 0.93, `centralized ${central}`)
      for (const h of fl.history) {
        assert.deepEqual(h.selected, ['client-0', 'client-1', 'client-2'])
        assert.deepEqual(h.contributed, h.selected)
        assert.ok(h.trainLoss != null && Number.isFinite(h.trainLoss))
        assert.equal(h.epsilon, null)
      }
    })
  }

  it('is reproducible for a seed', async () => {
    const clients = stratifiedSplit(fx.train, 3, 1)
    const a = await simulate({ clients, rounds: 3 })
    const b = await simulate({ clients, rounds: 3 })
    assert.deepEqual(a.weights, b.weights)
  })

  it('resumes: rounds 1–2, then 3–4 from the saved weights and strategy state, equal rounds 1–4', async () => {
    // Prepare
    const clients = stratifiedSplit(fx.train, 3, 1)
    const spec = { name: 'fedyogi', eta: 0.05 }

    // Execute
    const straight = await simulate({ clients, rounds: 4, strategy: createStrategy(spec) })
    const first = createStrategy(spec)
    const half = await simulate({ clients, rounds: 2, strategy: first })
    const second = createStrategy(spec)
    second.restore(first.state())
    const rest = await simulate({ clients, startRound: 3, rounds: 4, strategy: second, initial: half.weights })

    // Assert
    assert.deepEqual(rest.weights, straight.weights)
    assert.deepEqual(rest.history.map(h => h.round), [3, 4])
  })
})

describe('a poisoned client', () => {
  // Client 0 trains on flipped labels and scales its update ×100 (a boosted poisoning attack,
  // Bhagoji et al. 2019), among 5 clients.
  const poison = (u: ClientUpdate): ClientUpdate => u.clientId === 'client-0' ? { ...u, update: u.update.map(v => v * 100) } : u
  let clean: LocalDataset[]
  let poisoned: LocalDataset[]
  let baseline: number

  before(async () => {
    clean = stratifiedSplit(fx.train, 5, 1)
    poisoned = clean.map((c, i) => i === 0 ? { ...c, y: c.y.map(v => 1 - v) } : c)
    baseline = finalAccuracy(await simulate({ clients: clean }))
  })

  it('wrecks plain FedAvg', async () => {
    const r = await simulate({ clients: poisoned, tamper: poison })
    assert.ok(finalAccuracy(r) < baseline - 0.3, `FedAvg ${finalAccuracy(r)} vs clean ${baseline}`)
  })

  for (const spec of [{ rule: 'median' }, { rule: 'trimmed-mean', beta: 0.2 }]) {
    it(`${spec.rule} keeps accuracy within 2 points of unpoisoned FedAvg`, async () => {
      const r = await simulate({ clients: poisoned, tamper: poison, aggregator: createAggregator(spec) })
      assert.ok(Math.abs(finalAccuracy(r) - baseline) <= 0.02, `${spec.rule} ${finalAccuracy(r)} vs clean ${baseline}`)
    })
  }

  it('an honest update scaled ×100 does not move median or trimmed mean either', async () => {
    for (const spec of [{ rule: 'median' }, { rule: 'trimmed-mean', beta: 0.2 }]) {
      const r = await simulate({ clients: clean, tamper: poison, aggregator: createAggregator(spec) })
      assert.ok(Math.abs(finalAccuracy(r) - baseline) <= 0.02, `${spec.rule} ${finalAccuracy(r)} vs clean ${baseline}`)
    }
  })
})

describe('DP-FedAvg in simulation', () => {
  it('reports ε after every round as the accountant computes it, and stops at the budget', async () => {
    // Prepare: 6 clients, half of them per round, σ = 1
    const clients = stratifiedSplit(fx.train, 6, 2)
    const dp = { clipNorm: 1, noiseMultiplier: 1, delta: 1e-5 }

    // Execute
    const open = await simulate({ clients, rounds: 4, fraction: 0.5, dp })
    const capped = await simulate({ clients, rounds: 4, fraction: 0.5, dp: { ...dp, epsilonBudget: open.history[1]!.epsilon! + 1e-9 } })

    // Assert
    open.history.forEach((h, i) => {
      assert.equal(h.selected.length, 3)
      assert.equal(h.epsilon, epsilonFor(Array.from({ length: i + 1 }, () => ({ q: 0.5, sigma: 1 })), 1e-5))
    })
    assert.equal(open.epsilon, open.history[3]!.epsilon)
    assert.equal(capped.history.length, 2)
    assert.match(capped.stopped ?? '', /privacy budget/)
  })

  it('refuses DP with a rule its noise does not cover', async () => {
    await assert.rejects(simulate({ clients: stratifiedSplit(fx.train, 3, 1), aggregator: createAggregator({ rule: 'median' }), dp: { clipNorm: 1, noiseMultiplier: 1, delta: 1e-5 } }), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
  })
})

describe('per-round pieces', () => {
  it('sampleClients: max(min, ⌈C·K⌉) distinct ids, reproducible, varying by round', () => {
    const ids = Array.from({ length: 100 }, (_, i) => `n${i}`)
    const r1 = sampleClients(ids, 1, { fraction: 0.1, minClients: 2, seed: 3 })
    assert.equal(r1.length, 10)
    assert.equal(new Set(r1).size, 10)
    assert.deepEqual(sampleClients(ids, 1, { fraction: 0.1, minClients: 2, seed: 3 }), r1)
    assert.notDeepEqual(sampleClients(ids, 2, { fraction: 0.1, minClients: 2, seed: 3 }), r1)
    assert.equal(sampleClients(ids, 1, { fraction: 0.01, minClients: 5, seed: 3 }).length, 5)
    assert.equal(sampleClients(ids.slice(0, 3), 1, { fraction: 0.5, minClients: 5, seed: 3 }).length, 3)
    assert.throws(() => sampleClients(ids, 1, { fraction: 0, minClients: 1, seed: 3 }), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
  })

  it('aggregateRound leaves out bad updates and aggregates the rest', () => {
    // Prepare
    const good = (id: string, v: number): ClientUpdate => ({ clientId: id, numExamples: 1, update: Float32Array.from([v, v]) })
    const updates = [good('a', 1), good('b', 3), { clientId: 'nan', numExamples: 1, update: Float32Array.from([Number.NaN, 0]) }, { clientId: 'short', numExamples: 1, update: Float32Array.from([1]) }, { clientId: 'zero', numExamples: 0, update: Float32Array.from([1, 1]) }]

    // Execute
    const r = aggregateRound(updates, { parameters: 2, aggregator: createAggregator({ rule: 'mean' }) })
    const noisy = aggregateRound(updates, { parameters: 2, aggregator: createAggregator({ rule: 'mean' }), dp: { clipNorm: 1, noiseMultiplier: 0, expectedClients: 4, rng: Rng.seeded(1) } })

    // Assert
    assert.deepEqual(Array.from(r.delta), [2, 2])
    assert.deepEqual(r.contributed, ['a', 'b'])
    assert.deepEqual(r.rejected.map(x => x.clientId), ['nan', 'short', 'zero'])
    assert.ok(Math.abs(noisy.delta[0]! - 2 * Math.SQRT1_2 / 4) < 1e-6)
    assert.throws(() => aggregateRound(updates.slice(2), { parameters: 2, aggregator: createAggregator({ rule: 'mean' }) }), hasCode('PLX_ERR_FL_AGGREGATION'))
  })

  it('checkCombination refuses robust rules under secure aggregation', () => {
    assert.doesNotThrow(() => checkCombination({ aggregator: createAggregator({ rule: 'mean' }), secureAggregation: true, dp: true }))
    assert.throws(() => checkCombination({ aggregator: createAggregator({ rule: 'median' }), secureAggregation: true }), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
    assert.throws(() => checkCombination({ aggregator: createAggregator({ rule: 'krum', byzantine: 1 }), dp: true }), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
    assert.doesNotThrow(() => checkCombination({ aggregator: createAggregator({ rule: 'krum', byzantine: 1 }) }))
  })

  it('toClientUpdate, meanFitLoss and combineEvaluations', () => {
    const u = toClientUpdate('a', Float32Array.from([1, 2]), { weights: Float32Array.from([1.5, 1]), numExamples: 3, loss: 0.2 })
    assert.deepEqual(Array.from(u.update), [0.5, -1])
    assert.throws(() => toClientUpdate('a', Float32Array.from([1, 2]), { weights: Float32Array.from([1]), numExamples: 3, loss: 0.2 }), hasCode('PLX_ERR_FL_UPDATE_INVALID'))
    assert.equal(meanFitLoss([{ numExamples: 1, loss: 1 }, { numExamples: 3, loss: 2 }]), 1.75)
    assert.equal(meanFitLoss([]), null)
    assert.deepEqual(combineEvaluations([{ numExamples: 1, loss: 1, accuracy: 0.5 }, { numExamples: 3, loss: 2, accuracy: 1 }]), { loss: 1.75, accuracy: 0.875, numExamples: 4 })
    assert.equal(combineEvaluations([]), null)
  })
})
