/**
 * Coordinate-wise median (Yin et al. 2018, "Byzantine-Robust Distributed Learning: Towards
 * Optimal Statistical Rates", https://arxiv.org/abs/1803.01498). Unweighted: a client that
 * claims many examples gets no more say. An even count takes the mean of the two middle values.
 *
 * @packageDocumentation
 */

import type { UpdateAggregator } from '../types.js'
import { checkUpdates, reduceCoordinates, selectKth } from './vectors.js'

/** Median of a column (reorders it in place). */
export function columnMedian (column: Float64Array): number {
  const mid = column.length >> 1
  selectKth(column, mid)
  if (column.length % 2 === 1) return column[mid]!
  // The lower middle value is the largest of those the selection left before `mid`.
  let below = -Infinity
  for (let i = 0; i < mid; i++) if (column[i]! > below) below = column[i]!
  return (below + column[mid]!) / 2
}

export function medianAggregator (): UpdateAggregator {
  return {
    name: 'median',
    needsIndividualUpdates: true,
    aggregate: (updates) => {
      checkUpdates(updates)
      return reduceCoordinates(updates, columnMedian)
    }
  }
}
