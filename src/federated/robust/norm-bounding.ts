/**
 * Norm bounding (Sun et al. 2019, "Can You Really Backdoor Federated Learning?",
 * https://arxiv.org/abs/1911.07963): each update is clipped to L2 norm `maxNorm`, then the
 * sample-weighted mean is taken. A scaled-up (boosted) update loses its extra length.
 *
 * @packageDocumentation
 */

import { PlexusError } from '../../errors.js'
import type { UpdateAggregator } from '../types.js'
import { checkUpdates, clipToNorm, weightedMean } from './vectors.js'

export function normBoundingAggregator (maxNorm: number): UpdateAggregator {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`norm bounding needs a positive maxNorm, got ${maxNorm}`])
  return {
    name: 'norm-bound',
    needsIndividualUpdates: true,
    aggregate: (updates) => {
      checkUpdates(updates)
      return weightedMean(updates.map(u => clipToNorm(u.update, maxNorm)), updates.map(u => u.numExamples))
    }
  }
}
