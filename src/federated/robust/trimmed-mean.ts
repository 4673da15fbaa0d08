/**
 * Coordinate-wise trimmed mean (Yin et al. 2018, https://arxiv.org/abs/1803.01498): for each
 * coordinate, drop the ⌊β·n⌋ largest and ⌊β·n⌋ smallest values and average the rest
 * (unweighted). β ∈ [0, 0.5); β = 0 is the plain unweighted mean.
 *
 * @packageDocumentation
 */

import { PlexusError } from '../../errors.js'
import type { UpdateAggregator } from '../types.js'
import { checkUpdates, reduceCoordinates, selectKth } from './vectors.js'

export function trimmedMeanAggregator (beta: number): UpdateAggregator {
  if (!(beta >= 0 && beta < 0.5)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`trimmed mean needs 0 ≤ β < 0.5, got ${beta}`])
  return {
    name: 'trimmed-mean',
    needsIndividualUpdates: true,
    aggregate: (updates) => {
      checkUpdates(updates)
      const n = updates.length
      const trim = Math.floor(beta * n)
      return reduceCoordinates(updates, (column) => {
        // Two selections leave the kept values, in some order, between positions trim and n − trim − 1.
        if (trim > 0) {
          selectKth(column, trim)
          selectKth(column, n - trim - 1, trim)
        }
        let s = 0
        for (let k = trim; k < n - trim; k++) s += column[k]!
        return s / (n - 2 * trim)
      })
    }
  }
}
