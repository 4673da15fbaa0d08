import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Rng } from '../../../src/federated/dp/rng.js'
import { defaultLearning } from '../../../src/federated/learning.js'
import { parseJobSpec, type JobSpec } from '../../../src/federated/spec.js'
import { roundConfig, secureClientVector, secureMeanFromSum, secureWeightCap } from '../../../src/federated/secure-round.js'
import { resolveConfig, runSecAggRound, type DropoutSchedule } from '../../../src/federated/secagg/index.js'
import { weightedMeanAggregator } from '../../../src/federated/robust/index.js'
import { clipToNorm } from '../../../src/federated/robust/vectors.js'
import type { ClientUpdate } from '../../../src/federated/types.js'
import { hasCode } from './fixtures.js'

const P = 500
const learning = defaultLearning()

function specWith (over: Record<string, unknown> = {}): JobSpec {
  return parseJobSpec({
    name: 'w', model: { kind: 'logistic' }, dataset: { name: 'd', features: ['a'], label: 'y' }, classes: 2, rounds: 1,
    secureAggregation: { enabled: true, clipRange: 1 }, ...over
  })
}

/** Client updates in [−0.8, 0.8] (inside the clip range), with the given example counts. */
function updates (counts: readonly number[], seed: number): ClientUpdate[] {
  const rng = Rng.seeded(seed)
  return counts.map((n, k) => ({ clientId: `client-${k}`, numExamples: n, update: Float32Array.from({ length: P }, () => (rng.float() * 2 - 1) * 0.8) }))
}

/** Runs the secure round in-process on the vectors the participants would mask; returns the coordinator's update. */
function secureDelta (spec: JobSpec, list: readonly ClientUpdate[], dropout: DropoutSchedule = {}): { delta: Float32Array, contributors: string[], step: number } {
  const config = roundConfig('job', 1, spec, P, list.length)
  const inputs = new Map(list.map(u => [u.clientId, secureClientVector(u.update, u.numExamples, spec, list.length, learning)]))
  const report = runSecAggRound({ config, inputs, dropout })
  return { delta: secureMeanFromSum(report.result.sum, P, spec), contributors: report.result.contributors, step: resolveConfig(config).step }
}

/**
 * Float32 rounding on top of quantisation: the scaled inputs, the dequantised sum and both means
 * are float32, each within half an ulp; W·Σ|s_k·u_k|/Σw ≤ 0.8 (the inputs' range), so a few ulps of 0.8.
 */
const FLOAT_SLACK = 0.8 * 2 ** -21

/** |secure − plain| per coordinate within W·m·Δ/2 / Σw (quantisation) plus float32 rounding. */
function assertWithinBound (secure: Float32Array, plain: Float32Array, bound: number): void {
  assert.equal(secure.length, plain.length)
  for (let i = 0; i < plain.length; i++) {
    const err = Math.abs(secure[i]! - plain[i]!)
    assert.ok(err <= bound + FLOAT_SLACK, `coordinate ${i}: ${secure[i]} vs ${plain[i]} (bound ${bound})`)
  }
}

describe('secure FedAvg is sample-weighted', () => {
  it('equals plain weighted FedAvg up to the quantisation bound (counts from 7 to 9,000)', () => {
    const spec = specWith()
    const list = updates([7, 120, 450, 3000, 9000, 64], 1)
    const { delta, step } = secureDelta(spec, list)
    const plain = weightedMeanAggregator().aggregate(list)
    const W = secureWeightCap(spec)
    const totalWeight = list.reduce((s, u) => s + u.numExamples, 0)
    assertWithinBound(delta, plain, W * list.length * step / 2 / totalWeight)
    // Weighting matters here: the unweighted mean is far from it.
    const unweighted = weightedMeanAggregator().aggregate(list.map(u => ({ ...u, numExamples: 1 })))
    assert.ok(unweighted.some((v, i) => Math.abs(v - plain[i]!) > 0.05))
  })

  it('with clients dropping after masking, and before: the weighted mean over the inputs in the sum', () => {
    const spec = specWith()
    const list = updates([30, 200, 75, 1000, 5, 640, 90, 333, 12], 2)
    // client-1 and client-4 drop after masking (still in the sum), client-7 after sharing keys (not in it).
    const { delta, contributors, step } = secureDelta(spec, list, { unmask: ['client-1', 'client-4'], mask: ['client-7'] })
    const kept = list.filter(u => u.clientId !== 'client-7')
    assert.deepEqual(contributors, kept.map(u => u.clientId))
    const totalWeight = kept.reduce((s, u) => s + u.numExamples, 0)
    assertWithinBound(delta, weightedMeanAggregator().aggregate(kept), secureWeightCap(spec) * kept.length * step / 2 / totalWeight)
  })

  it('caps a client\'s weight at maxWeight, and its scaled update never leaves the clip range', () => {
    const spec = specWith({ secureAggregation: { enabled: true, clipRange: 1, maxWeight: 100 } })
    const [u] = updates([1], 3)
    const v = secureClientVector(u!.update, 50_000, spec, 3, learning)
    assert.equal(v.at(-1), 100)
    for (let i = 0; i < P; i++) assert.equal(v[i], u!.update[i])
    const half = secureClientVector(u!.update, 50, spec, 3, learning)
    assert.equal(half.at(-1), 50)
    for (let i = 0; i < P; i++) assert.equal(half[i], Math.fround(u!.update[i]! * 0.5))
    const list = updates([500, 40, 100, 7], 4)
    const { delta, step } = secureDelta(spec, list)
    const capped = list.map(u => ({ ...u, numExamples: Math.min(u.numExamples, 100) }))
    const totalWeight = capped.reduce((s, u) => s + u.numExamples, 0)
    assertWithinBound(delta, weightedMeanAggregator().aggregate(capped), 100 * list.length * step / 2 / totalWeight)
  })

  it('with DP on, every client weighs 1 and masks its clipped update (the noise is calibrated to one client)', () => {
    const spec = specWith({ dp: { enabled: true, clipNorm: 2, noiseMultiplier: 0 } })
    assert.equal(secureWeightCap(spec), 1)
    const list = updates([10, 5000, 80], 5)
    const v = secureClientVector(list[1]!.update, 5000, spec, 3, learning)
    assert.equal(v.at(-1), 1)
    const { delta, step } = secureDelta(spec, list)
    const clipped = list.map(u => ({ ...u, numExamples: 1, update: clipToNorm(u.update, 2) }))
    assertWithinBound(delta, weightedMeanAggregator().aggregate(clipped), list.length * step / 2 / list.length)
  })

  it('norm-bound under secure aggregation clips on the client', () => {
    const spec = specWith({ robust: { rule: 'norm-bound', maxNorm: 0.5 } })
    const [u] = updates([1], 6)
    const v = secureClientVector(u!.update, 10_000, spec, 3, learning)
    let sq = 0
    for (let i = 0; i < P; i++) sq += v[i]! * v[i]!
    assert.ok(Math.sqrt(sq) <= 0.5 + 1e-6)
  })

  it('refuses a count that is not a positive whole number, and a sum without weight', () => {
    const spec = specWith()
    assert.throws(() => secureClientVector(new Float32Array(P), 0, spec, 3, learning), hasCode('PLX_ERR_FL_PROTOCOL'))
    assert.throws(() => secureClientVector(new Float32Array(P), 2.5, spec, 3, learning), hasCode('PLX_ERR_FL_PROTOCOL'))
    assert.throws(() => secureMeanFromSum(new Float32Array(P + 1), P, spec), hasCode('PLX_ERR_FL_AGGREGATION'))
  })
})
