import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createStrategy, fedAvg, fedProx, fedAdam, fedYogi, fedAdagrad } from '../../../src/federated/strategies/index.js'
import type { Strategy } from '../../../src/federated/types.js'
import { assertClose as close, hasCode } from './fixtures.js'

const SPECS = [
  { name: 'fedavg' },
  { name: 'fedprox', mu: 0.1 },
  { name: 'fedadam', eta: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
  { name: 'fedyogi', eta: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
  { name: 'fedadagrad', eta: 0.1, tau: 1e-3 }
]

describe('strategies: conformance', () => {
  for (const spec of SPECS) {
    it(`${spec.name} returns a new vector, leaves its inputs alone and resumes from its state`, () => {
      // Prepare
      const global = Float32Array.from([1, -2, 3])
      const deltas = [Float32Array.from([0.5, 0.1, -0.2]), Float32Array.from([0.3, -0.4, 0.05]), Float32Array.from([-0.1, 0.2, 0.3])]
      const straight = createStrategy(spec)
      const first = createStrategy(spec)

      // Execute: three rounds in one go, and two rounds, a restart, then the third
      let a: Float32Array = global
      for (const [i, d] of deltas.entries()) a = straight.apply(i + 1, a, d)
      let b = first.apply(1, global, deltas[0]!)
      b = first.apply(2, b, deltas[1]!)
      const resumed = createStrategy(spec)
      resumed.restore(JSON.parse(JSON.stringify(first.state())) as Record<string, number[] | number>)
      b = resumed.apply(3, b, deltas[2]!)

      // Assert
      assert.deepEqual(Array.from(global), [1, -2, 3])
      assert.deepEqual(Array.from(deltas[0]!), [0.5, 0.1, -0.2].map(Math.fround))
      assert.notEqual(a, global)
      assert.deepEqual(Array.from(b), Array.from(a))
      assert.equal(straight.name, spec.name)
      assert.equal(straight.proximalMu, spec.name === 'fedprox' ? 0.1 : 0)
    })

    it(`${spec.name} refuses a delta of another length`, () => {
      const s = createStrategy(spec)
      assert.throws(() => s.apply(1, new Float32Array(3), new Float32Array(2)), hasCode('PLX_ERR_FL_AGGREGATION'))
      assert.throws(() => s.apply(1, new Float32Array(2), Float32Array.from([0, Number.NaN])), hasCode('PLX_ERR_FL_AGGREGATION'))
    })
  }
})

describe('FedAvg and FedProx', () => {
  it('add the delta to the global model', () => {
    // Execute
    const next = fedAvg().apply(1, Float32Array.from([1, 2]), Float32Array.from([0.5, -1]))
    const prox = fedProx(0.01)

    // Assert
    close(next, [1.5, 1])
    close(prox.apply(1, Float32Array.from([1, 2]), Float32Array.from([0.5, -1])), [1.5, 1])
    assert.equal(prox.proximalMu, 0.01)
    assert.deepEqual(prox.state(), {})
  })

  it('scales the delta by a server learning rate', () => {
    close(fedAvg({ eta: 2 }).apply(1, Float32Array.from([1, 2]), Float32Array.from([0.5, -1])), [2, 0])
  })
})

describe('FedOpt (Reddi et al. 2021), hand-computed steps', () => {
  // Δ₁ = [0.5, −2], Δ₂ = [0.5, 0.5]; x₀ = 0; τ = 10⁻³ so v₋₁ = 10⁻⁶; η = 1.
  const d1 = Float32Array.from([0.5, -2])
  const d2 = Float32Array.from([0.5, 0.5])
  const twoSteps = (s: Strategy): [Float32Array, Float32Array] => {
    const x1 = s.apply(1, new Float32Array(2), d1)
    return [x1, s.apply(2, x1, d2)]
  }

  it('FedAdam with β₁ = 0, β₂ = 0.5', () => {
    // v₀ = 0.5·10⁻⁶ + 0.5·Δ₁² = [0.1250005, 2.0000005]; x₁ = Δ₁/(√v₀ + τ)
    // v₁ = 0.5·v₀ + 0.5·0.25 = [0.18750025, 1.12500025]; x₂ = x₁ + 0.5/(√v₁ + τ)
    const [x1, x2] = twoSteps(fedAdam({ eta: 1, beta1: 0, beta2: 0.5, tau: 1e-3 }))
    close(x1, [0.5 / (Math.sqrt(0.1250005) + 1e-3), -2 / (Math.sqrt(2.0000005) + 1e-3)])
    close(x2, [x1[0]! + 0.5 / (Math.sqrt(0.18750025) + 1e-3), x1[1]! + 0.5 / (Math.sqrt(1.12500025) + 1e-3)])
    close(x1, [1.410222, -1.413214], 1e-5) // the same, as numbers
  })

  it('FedYogi with β₁ = 0, β₂ = 0.5', () => {
    // v₀ = 10⁻⁶ − 0.5·Δ₁²·sign(10⁻⁶ − Δ₁²) = [0.125001, 2.000001]
    // v₁ = v₀ − 0.5·0.25·sign(v₀ − 0.25) = [0.250001, 1.875001]
    const [x1, x2] = twoSteps(fedYogi({ eta: 1, beta1: 0, beta2: 0.5, tau: 1e-3 }))
    close(x1, [0.5 / (Math.sqrt(0.125001) + 1e-3), -2 / (Math.sqrt(2.000001) + 1e-3)])
    close(x2, [x1[0]! + 0.5 / (Math.sqrt(0.250001) + 1e-3), x1[1]! + 0.5 / (Math.sqrt(1.875001) + 1e-3)])
  })

  it('FedAdagrad (β₁ = 0 by default)', () => {
    // v₀ = 10⁻⁶ + Δ₁² = [0.250001, 4.000001]; v₁ = v₀ + 0.25 = [0.500001, 4.250001]
    const [x1, x2] = twoSteps(fedAdagrad({ eta: 1, tau: 1e-3 }))
    close(x1, [0.5 / (Math.sqrt(0.250001) + 1e-3), -2 / (Math.sqrt(4.000001) + 1e-3)])
    close(x2, [x1[0]! + 0.5 / (Math.sqrt(0.500001) + 1e-3), x1[1]! + 0.5 / (Math.sqrt(4.250001) + 1e-3)])
  })

  it('momentum β₁ carries the first moment across rounds', () => {
    // m₀ = 0.1·Δ₁, m₁ = 0.9·m₀ + 0.1·Δ₂; with β₂ = 0.5 as above
    const [x1, x2] = twoSteps(fedAdam({ eta: 1, beta1: 0.9, beta2: 0.5, tau: 1e-3 }))
    close(x1, [0.05 / (Math.sqrt(0.1250005) + 1e-3), -0.2 / (Math.sqrt(2.0000005) + 1e-3)])
    const m1 = [0.9 * 0.05 + 0.05, 0.9 * -0.2 + 0.05]
    close(x2, [x1[0]! + m1[0]! / (Math.sqrt(0.18750025) + 1e-3), x1[1]! + m1[1]! / (Math.sqrt(1.12500025) + 1e-3)])
  })
})

describe('createStrategy', () => {
  it('fills the FedOpt defaults', () => {
    const s = createStrategy({ name: 'fedadam' })
    assert.equal(s.name, 'fedadam')
    assert.equal(createStrategy({ name: 'fedavg' }).proximalMu, 0)
  })

  it('refuses unknown names, bad parameters and unknown keys', () => {
    for (const bad of [{ name: 'sgd' }, { name: 'fedprox' }, { name: 'fedprox', mu: -1 }, { name: 'fedadam', beta1: 1 }, { name: 'fedyogi', tau: 0 }, { name: 'fedavg', extra: 1 }, null, 'fedavg']) {
      assert.throws(() => createStrategy(bad), hasCode('PLX_ERR_FL_CONFIG_INVALID'), JSON.stringify(bad))
    }
  })

  it('refuses a damaged state', () => {
    const s = createStrategy({ name: 'fedyogi' })
    assert.throws(() => s.restore({ m: [1, 2], v: [1] }), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
    assert.throws(() => s.restore({ m: [1], v: [-1] }), hasCode('PLX_ERR_FL_CONFIG_INVALID'))
    s.restore({ m: [0, 0], v: [1, 1] })
    assert.throws(() => s.apply(1, new Float32Array(3), new Float32Array(3)), hasCode('PLX_ERR_FL_AGGREGATION'))
  })
})
