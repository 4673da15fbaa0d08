import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  Rng, clipToNorm, l2Norm, gaussianNoise, addGaussianNoise, noiseShareStd, sumNoiseStd, dpMean, dpClientShare, dpMeanFromSum, dpFedAvgAggregator,
  rdpSampledGaussian, computeRdp, composeRdp, rdpToEpsilon, epsilonFor, RdpAccountant, DEFAULT_ORDERS
} from '../../../src/federated/dp/index.js'
import { hasCode } from './fixtures.js'

function meanStd (v: ArrayLike<number>): { mean: number, std: number } {
  let s = 0
  for (let i = 0; i < v.length; i++) s += v[i]!
  const mean = s / v.length
  let q = 0
  for (let i = 0; i < v.length; i++) q += (v[i]! - mean) ** 2
  return { mean, std: Math.sqrt(q / v.length) }
}

/**
 * A_α = E_{z∼N(0,σ²)}[((1 − q) + q·exp((2z − 1)/(2σ²)))^α] by Simpson's rule in log space — the
 * definition of the sampled Gaussian's Rényi divergence (Mironov et al. 2019, §3), computed
 * without the binomial expansion the accountant uses.
 */
function rdpByIntegration (q: number, sigma: number, alpha: number): number {
  const lo = -14 * sigma
  const hi = alpha + 14 * sigma
  const n = 200_000
  const h = (hi - lo) / n
  const logF = (z: number): number => {
    const logMix = Math.log((1 - q) + q * Math.exp((2 * z - 1) / (2 * sigma * sigma)))
    return -z * z / (2 * sigma * sigma) - Math.log(sigma * Math.sqrt(2 * Math.PI)) + alpha * logMix
  }
  let peak = -Infinity
  for (let i = 0; i <= n; i++) peak = Math.max(peak, logF(lo + i * h))
  let s = 0
  for (let i = 0; i <= n; i++) {
    const w = i === 0 || i === n ? 1 : i % 2 === 1 ? 4 : 2
    s += w * Math.exp(logF(lo + i * h) - peak)
  }
  return (peak + Math.log(s * h / 3)) / (alpha - 1)
}

describe('clipping and noise', () => {
  it('clipToNorm scales long updates down to C and copies short ones', () => {
    // Prepare
    const long = Float32Array.from([3, 4])
    const short = Float32Array.from([0.3, 0.4])

    // Execute
    const clipped = clipToNorm(long, 1)
    const kept = clipToNorm(short, 1)

    // Assert
    assert.ok(Math.abs(clipped[0]! - 0.6) < 1e-6 && Math.abs(clipped[1]! - 0.8) < 1e-6)
    assert.deepEqual(Array.from(kept), Array.from(short))
    assert.notEqual(kept, short)
    assert.deepEqual(Array.from(long), [3, 4])
  })

  it('clipToNorm never leaves a norm above C, even after float32 rounding', () => {
    const rng = Rng.seeded(5)
    for (let t = 0; t < 200; t++) {
      const v = gaussianNoise(1 + rng.int(5000), 10 * rng.float() + 0.1, rng)
      const c = 0.01 + rng.float()
      assert.ok(l2Norm(clipToNorm(v, c)) <= c)
    }
    assert.throws(() => clipToNorm(new Float32Array(1), 0), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
  })

  it('Gaussian noise has the asked standard deviation; seeded noise repeats, crypto noise does not', () => {
    // Execute
    const a = gaussianNoise(200_000, 2.5, Rng.seeded(1))
    const b = gaussianNoise(200_000, 2.5, Rng.seeded(1))
    const c = gaussianNoise(1000, 1)
    const d = gaussianNoise(1000, 1)
    const { mean, std } = meanStd(a)

    // Assert: 200k draws put the sample std within ~0.4 % of σ
    assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`)
    assert.ok(Math.abs(std / 2.5 - 1) < 0.01, `std ${std}`)
    assert.deepEqual(a, b)
    assert.notDeepEqual(c, d)
    assert.deepEqual(Array.from(addGaussianNoise(Float32Array.from([1, 2]), 0)), [1, 2])
  })

  it('n noise shares of σ·C/√n add up to the noise of the sum, σ·C', () => {
    // Prepare: 8 clients with zero updates, each adds its share
    const n = 8
    const rng = Rng.seeded(2)
    const sum = new Float64Array(50_000)

    // Execute
    for (let k = 0; k < n; k++) {
      const share = dpClientShare(new Float32Array(sum.length), { clipNorm: 2, noiseMultiplier: 1.5, clients: n }, rng)
      share.forEach((v, i) => { sum[i]! += v })
    }

    // Assert
    assert.equal(sumNoiseStd(1.5, 2), 3)
    assert.equal(noiseShareStd(1.5, 2, n), 3 / Math.sqrt(8))
    assert.ok(Math.abs(meanStd(sum).std / 3 - 1) < 0.02, `std ${meanStd(sum).std}`)
    assert.throws(() => noiseShareStd(1, 1, 0), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
  })

  it('dpClientShare clips before adding its share', () => {
    const share = dpClientShare(Float32Array.from([30, 40]), { clipNorm: 1, noiseMultiplier: 0, clients: 3 })
    assert.ok(Math.abs(share[0]! - 0.6) < 1e-6 && Math.abs(share[1]! - 0.8) < 1e-6)
  })

  it('DP-FedAvg without noise is the clipped sum over the expected client count', () => {
    // Prepare
    const updates = [Float32Array.from([3, 4]), Float32Array.from([0.1, 0.2]), Float32Array.from([-6, 8])]

    // Execute
    const mean = dpMean(updates, { clipNorm: 1, noiseMultiplier: 0, denominator: 4 })
    const viaSum = dpMeanFromSum(Float64Array.from([0.6 + 0.1 - 0.6, 0.8 + 0.2 + 0.8]), 4)
    const agg = dpFedAvgAggregator({ clipNorm: 1, noiseMultiplier: 0 }).aggregate(updates.map((u, i) => ({ clientId: `c${i}`, numExamples: 10 * (i + 1), update: u })))

    // Assert: sample weights play no part
    assert.ok(Math.abs(mean[0]! - 0.025) < 1e-6 && Math.abs(mean[1]! - 0.45) < 1e-6)
    viaSum.forEach((v, i) => assert.ok(Math.abs(v - mean[i]!) < 1e-6))
    assert.ok(Math.abs(agg[0]! - 0.1 / 3) < 1e-6 && Math.abs(agg[1]! - 0.6) < 1e-6)
  })

  it('DP-FedAvg noise on the mean has standard deviation σ·C / m', () => {
    const updates = Array.from({ length: 5 }, () => new Float32Array(100_000))
    const { std } = meanStd(dpMean(updates, { clipNorm: 0.5, noiseMultiplier: 2, denominator: 5 }, Rng.seeded(3)))
    assert.ok(Math.abs(std / 0.2 - 1) < 0.02, `std ${std}`)
    assert.throws(() => dpMean(updates, { clipNorm: 1, noiseMultiplier: 1, denominator: 0 }), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
    assert.throws(() => dpMean([], { clipNorm: 1, noiseMultiplier: 1, denominator: 1 }), hasCode('PLX_ERR_FL_AGGREGATION'))
  })
})

describe('RDP of the sampled Gaussian mechanism', () => {
  it('without sampling (q = 1) is α/(2σ²) exactly, for integer and fractional α', () => {
    for (const sigma of [0.5, 1, 1.1, 4]) {
      for (const alpha of [1.5, 2, 3, 7.25, 32, 256]) {
        assert.equal(rdpSampledGaussian(1, sigma, alpha), alpha / (2 * sigma * sigma))
      }
    }
    assert.deepEqual(computeRdp(1, 10, 1, [20]), [0.1]) // TF-Privacy test_compute_rdp_no_sampling
  })

  it('is 0 without data (q = 0) and infinite without noise', () => {
    assert.deepEqual(computeRdp(0, 10, 1, [20]), [0])
    assert.equal(rdpSampledGaussian(0.5, 0, 2), Infinity)
  })

  it('matches TF-Privacy rdp_accountant_test reference values', () => {
    // compute_rdp(0.1, 2, 10, 5) = 0.07737 (5 places)
    assert.ok(Math.abs(computeRdp(0.1, 2, 10, [5])[0]! - 0.07737) < 5e-6)
    // compute_rdp(0.01, 2.5, 50, [5, 50, 100]) = [0.00218075, 0.023846, 167.416307] (±1e-5)
    const rdp = computeRdp(0.01, 2.5, 50, [5, 50, 100])
    ;[0.00218075, 0.023846, 167.416307].forEach((e, i) => assert.ok(Math.abs(rdp[i]! - e) < 1e-5, `α index ${i}: ${rdp[i]} vs ${e}`))
  })

  it('matches the Rényi divergence computed by numerical integration', () => {
    for (const [q, sigma, alpha] of [[0.01, 1, 2], [0.05, 0.8, 8], [0.2, 1.5, 3], [0.5, 4, 20], [0.001, 1.1, 32], [0.1, 2, 64]] as const) {
      const exact = rdpSampledGaussian(q, sigma, alpha)
      const integrated = rdpByIntegration(q, sigma, alpha)
      assert.ok(Math.abs(exact - integrated) <= 1e-6 * Math.max(1e-3, exact), `q=${q} σ=${sigma} α=${alpha}: ${exact} vs ${integrated}`)
    }
  })

  it('refuses fractional orders with subsampling and bad parameters', () => {
    assert.throws(() => rdpSampledGaussian(0.1, 1, 2.5), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
    assert.throws(() => rdpSampledGaussian(1.1, 1, 2), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
    assert.throws(() => rdpSampledGaussian(0.1, -1, 2), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
    assert.throws(() => rdpSampledGaussian(0.1, 1, 1), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
  })
})

describe('conversion to (ε, δ)', () => {
  it('constant RDP 1.1 over orders 2…32 at δ = 1e-5: ε = 1.32783806176 at α = 32 (TF-Privacy)', () => {
    // Prepare
    const orders = Array.from({ length: 31 }, (_, i) => i + 2)
    const rdp = orders.map(() => 1.1)

    // Execute
    const improved = rdpToEpsilon(orders, rdp, 1e-5)
    const classic = rdpToEpsilon(orders, rdp, 1e-5, 'classic')

    // Assert: by hand, 1.1 + log(31/32) − log(1e-5·32)/31 and 1.1 + log(1e5)/31
    assert.ok(Math.abs(improved.epsilon - 1.32783806176) < 1e-9)
    assert.equal(improved.order, 32)
    assert.ok(Math.abs(improved.epsilon - (1.1 + Math.log(31 / 32) - Math.log(1e-5 * 32) / 31)) < 1e-12)
    assert.ok(Math.abs(classic.epsilon - (1.1 + Math.log(1e5) / 31)) < 1e-12)
    assert.ok(classic.epsilon > improved.epsilon)
  })

  it('the Gaussian mechanism with σ = 4.530877117 is (1, 1e-6)-DP (TF-Privacy)', () => {
    // Orders 1.001 … 99.999 in steps of 0.001, q = 1: RDP(α) = α/(2σ²) exactly.
    const orders = Array.from({ length: 98_999 }, (_, i) => 1.001 + i * 0.001)
    const rdp = computeRdp(1, 4.530877117, 1, orders)
    const { epsilon } = rdpToEpsilon(orders, rdp, 1e-6)
    assert.ok(Math.abs(epsilon - 1) < 1e-6, `ε = ${epsilon}`)
  })

  it('without sampling, one round of σ gives min over α of α/(2σ²) + conversion, checked by hand at σ = 1, δ = 1e-5', () => {
    // classic: minimise α/2 + log(1e5)/(α−1) over integers: α = 6 gives 3 + 11.5129/5 = 5.30259
    const { epsilon, order } = rdpToEpsilon(DEFAULT_ORDERS, computeRdp(1, 1, 1), 1e-5, 'classic')
    assert.equal(order, 6)
    assert.ok(Math.abs(epsilon - (3 + Math.log(1e5) / 5)) < 1e-12)
  })

  it('ε grows with rounds and sampling rate and shrinks with noise', () => {
    const e = (q: number, sigma: number, rounds: number): number => epsilonFor(Array.from({ length: rounds }, () => ({ q, sigma })), 1e-5)
    assert.ok(e(0.1, 1, 10) < e(0.1, 1, 100))
    assert.ok(e(0.05, 1, 50) < e(0.1, 1, 50))
    assert.ok(e(0.1, 2, 50) < e(0.1, 1, 50))
    assert.equal(epsilonFor([], 1e-5), 0)
  })

  it('refuses δ outside (0, 1)', () => {
    assert.throws(() => rdpToEpsilon([2], [1], 0), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
    assert.throws(() => new RdpAccountant({ delta: 1 }), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
  })
})

describe('RdpAccountant', () => {
  it('composes rounds by adding RDP, also across different (q, σ)', () => {
    // Prepare
    const acc = new RdpAccountant({ delta: 1e-5 })

    // Execute
    acc.step(0.1, 1.1, 30)
    const predicted = acc.epsilonIfStep(0.3, 2)
    acc.step(0.3, 2)

    // Assert
    const expectedRdp = DEFAULT_ORDERS.map((a, k) => computeRdp(0.1, 1.1, 30)[k]! + rdpSampledGaussian(0.3, 2, a))
    assert.equal(acc.epsilon, rdpToEpsilon(DEFAULT_ORDERS, expectedRdp, 1e-5).epsilon)
    assert.equal(acc.epsilon, predicted)
    assert.equal(acc.rounds, 31)
    assert.deepEqual(composeRdp([...Array.from({ length: 30 }, () => ({ q: 0.1, sigma: 1.1 })), { q: 0.3, sigma: 2 }]), expectedRdp)
  })

  it('resumes from its state', () => {
    const a = new RdpAccountant({ delta: 1e-6 })
    a.step(0.01, 0.8, 100)
    const b = new RdpAccountant({ delta: 1e-6 })
    b.restore(JSON.parse(JSON.stringify(a.state())) as ReturnType<RdpAccountant['state']>)
    assert.equal(b.epsilon, a.epsilon)
    assert.equal(b.rounds, 100)
  })

  it('with sampling, spends less than the unsampled mechanism and more with every round', () => {
    // 100 of 1,000 clients per round (q = 0.1), σ = 1, δ = 1e-5: ε after 10, 100 and 1,000 rounds.
    const acc = new RdpAccountant({ delta: 1e-5 })
    const eps: number[] = []
    for (const rounds of [10, 90, 900]) {
      acc.step(0.1, 1, rounds)
      eps.push(acc.epsilon)
    }
    eps.forEach((e, i) => {
      const rounds = [10, 100, 1000][i]!
      assert.ok(e > 0 && e < epsilonFor(Array.from({ length: rounds }, () => ({ q: 1, sigma: 1 })), 1e-5))
    })
    assert.ok(eps[0]! < eps[1]! && eps[1]! < eps[2]!)
  })
})
