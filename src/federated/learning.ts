/**
 * The learning parts a coordinator and a participant need, behind one small interface so that
 * the job logic does not depend on how models are built or trained (and tests can count calls).
 */
import type { JobSpec } from './spec.js'
import type { EvaluateOutcome, FitOutcome, LocalDataset, ModelDescriptor, Strategy, TrainConfig, UpdateAggregator } from './types.js'
import { logisticRegression, mlp, initialWeights, parameterCount, validateTopology } from './model.js'
import { LocalTrainer } from './trainer.js'
import { createStrategy } from './strategies/index.js'
import { createAggregator } from './robust/index.js'
import { dpMean, dpClientShare, epsilonFor } from './dp/index.js'

export interface Trainer {
  fit: (descriptor: ModelDescriptor, global: Float32Array, data: LocalDataset, config: TrainConfig) => Promise<FitOutcome>
  evaluate: (descriptor: ModelDescriptor, global: Float32Array, data: LocalDataset) => Promise<EvaluateOutcome>
  close: () => Promise<void>
}

export interface Learning {
  descriptor: (spec: JobSpec) => ModelDescriptor
  parameterCount: (descriptor: ModelDescriptor) => number
  initialWeights: (descriptor: ModelDescriptor, spec: JobSpec) => Float32Array
  strategy: (spec: JobSpec) => Strategy
  aggregator: (spec: JobSpec) => UpdateAggregator
  createTrainer: () => Promise<Trainer>
  /** DP-FedAvg with a trusted coordinator: (Σ clip(uᵢ, C) + N(0, σ²C²)) / expected. */
  dpMean: (updates: Float32Array[], clipNorm: number, noiseMultiplier: number, expected: number) => Float32Array
  /** Clips a client's update and adds its share N(0, σ²C²/n) of the noise (secure aggregation). */
  dpClientShare: (update: Float32Array, clipNorm: number, noiseMultiplier: number, clients: number) => Float32Array
  /** ε after the given rounds of the sampled Gaussian mechanism, at δ. */
  epsilon: (steps: Array<{ q: number, sigma: number }>, delta: number) => number
}

export function defaultLearning (): Learning {
  return {
    descriptor: spec => {
      const features = spec.dataset.features.length
      if (spec.model.kind === 'logistic') return logisticRegression(features, spec.classes)
      if (spec.model.kind === 'mlp') return mlp(features, spec.model.hidden, spec.classes)
      return validateTopology(spec.model.topology, features, spec.classes)
    },
    parameterCount,
    initialWeights: (descriptor, spec) => {
      if (spec.model.kind === 'tfjs' && spec.model.weights != null) {
        const buf = Buffer.from(spec.model.weights, 'base64')
        const w = new Float32Array(buf.length / 4)
        new Uint8Array(w.buffer).set(buf.subarray(0, w.length * 4))
        return w
      }
      return initialWeights(descriptor, spec.seed)
    },
    strategy: spec => createStrategy(spec.strategy),
    aggregator: spec => createAggregator(spec.robust),
    createTrainer: async () => await LocalTrainer.create(),
    dpMean: (updates, clipNorm, noiseMultiplier, expected) => dpMean(updates, { clipNorm, noiseMultiplier, denominator: Math.max(1, expected) }),
    dpClientShare: (update, clipNorm, noiseMultiplier, clients) => dpClientShare(update, { clipNorm, noiseMultiplier, clients }),
    epsilon: (steps, delta) => epsilonFor(steps, delta)
  }
}
