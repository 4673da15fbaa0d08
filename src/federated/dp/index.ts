/**
 * Differential privacy for federated learning: clipping, Gaussian noise (whole or in per-client
 * shares for secure aggregation), DP-FedAvg, and the RDP accountant.
 *
 * @packageDocumentation
 */

import { z } from 'zod'

export { Rng, deriveSeed } from './rng.js'
export { clipToNorm, l2Norm } from '../robust/vectors.js'
export { gaussianNoise, addGaussianNoise, sumNoiseStd, noiseShareStd } from './noise.js'
export { dpMean, dpMeanFromSum, dpClientShare, dpFedAvgAggregator, type DpParams } from './dp-fedavg.js'
export {
  DEFAULT_ORDERS, rdpSampledGaussian, computeRdp, composeRdp, rdpToEpsilon, epsilonFor, RdpAccountant,
  type DpStep, type EpsilonConversion
} from './rdp.js'

/** Differential-privacy settings of a job or simulation. */
export const DpSpecSchema = z.strictObject({
  /** L2 norm each client update is clipped to. */
  clipNorm: z.number().positive().max(1e6),
  /** σ: noise standard deviation in units of clipNorm. */
  noiseMultiplier: z.number().min(0).max(1000),
  delta: z.number().gt(0).lt(1).default(1e-5),
  /** Stop before a round would take ε beyond this. */
  epsilonBudget: z.number().positive().optional()
})
export type DpSpec = z.output<typeof DpSpecSchema>
