/**
 * The sample-weighted mean of FedAvg (McMahan et al. 2017, https://arxiv.org/abs/1602.05629):
 * `Σ nₖ·Δₖ / Σ nₖ`. Works on a sum, so it also runs under secure aggregation.
 *
 * @packageDocumentation
 */

import type { UpdateAggregator } from '../types.js'
import { checkUpdates, weightedMean } from './vectors.js'

export function weightedMeanAggregator (): UpdateAggregator {
  return {
    name: 'mean',
    needsIndividualUpdates: false,
    aggregate: (updates) => {
      checkUpdates(updates)
      return weightedMean(updates.map(u => u.update), updates.map(u => u.numExamples))
    }
  }
}
