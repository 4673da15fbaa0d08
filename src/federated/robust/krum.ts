/**
 * Krum and Multi-Krum (Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine
 * Tolerant Gradient Descent", NeurIPS, https://papers.nips.cc/paper/6617). With n updates of which
 * at most f are Byzantine, each update's score is the sum of squared distances to its n − f − 2
 * nearest other updates. Krum returns the update with the lowest score; Multi-Krum averages the
 * m lowest-scoring ones (unweighted, as in the paper; m = n − f by default). Needs n ≥ 2f + 3.
 * Cost: O(n²·d) for n updates of d values.
 *
 * @packageDocumentation
 */

import { PlexusError } from '../../errors.js'
import type { ClientUpdate, UpdateAggregator } from '../types.js'
import { checkUpdates, squaredDistance, weightedMean } from './vectors.js'

/** Krum scores of each update (lower is more central). */
export function krumScores (updates: readonly ClientUpdate[], byzantine: number): Float64Array {
  const n = updates.length
  const neighbours = n - byzantine - 2
  const dist = new Float64Array(n * n)
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const d = squaredDistance(updates[i]!.update, updates[j]!.update)
      dist[i * n + j] = d
      dist[j * n + i] = d
    }
  }
  const scores = new Float64Array(n)
  const row = new Float64Array(n - 1)
  for (let i = 0; i < n; i++) {
    let k = 0
    for (let j = 0; j < n; j++) if (j !== i) row[k++] = dist[i * n + j]!
    row.sort()
    let s = 0
    for (let t = 0; t < neighbours; t++) s += row[t]!
    scores[i] = s
  }
  return scores
}

/** Indices of the `m` lowest scores, ties to the earlier update. */
export function krumSelect (updates: readonly ClientUpdate[], byzantine: number, m: number): number[] {
  const scores = krumScores(updates, byzantine)
  return [...scores.keys()].sort((a, b) => scores[a]! - scores[b]! || a - b).slice(0, m)
}

function checkByzantine (byzantine: number, keep: number | undefined): void {
  if (!Number.isInteger(byzantine) || byzantine < 0) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`Krum needs a whole number f ≥ 0 of Byzantine clients, got ${byzantine}`])
  if (keep !== undefined && (!Number.isInteger(keep) || keep < 1)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`Multi-Krum needs a whole number m ≥ 1 of updates to keep, got ${keep}`])
}

/** Multi-Krum keeping `keep` updates (default n − f); `keep = 1` is Krum. */
export function multiKrumAggregator (byzantine: number, keep?: number): UpdateAggregator {
  checkByzantine(byzantine, keep)
  return {
    name: keep === 1 ? 'krum' : 'multi-krum',
    needsIndividualUpdates: true,
    aggregate: (updates) => {
      checkUpdates(updates, 2 * byzantine + 3, `Krum with f = ${byzantine}`)
      const m = Math.min(keep ?? updates.length - byzantine, updates.length)
      const chosen = krumSelect(updates, byzantine, m)
      if (chosen.length === 1) return new Float32Array(updates[chosen[0]!]!.update)
      return weightedMean(chosen.map(i => updates[i]!.update), chosen.map(() => 1))
    }
  }
}

/** Krum: the single most central update. */
export function krumAggregator (byzantine: number): UpdateAggregator {
  return multiKrumAggregator(byzantine, 1)
}
