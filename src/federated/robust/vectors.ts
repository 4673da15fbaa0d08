/**
 * Shared pure helpers over flat update vectors: checks, norms, weighted means. Sums are taken in
 * float64 and rounded to float32 once at the end, so the order of clients barely matters.
 *
 * @packageDocumentation
 */

import { PlexusError } from '../../errors.js'
import type { ClientUpdate } from '../types.js'

/** Largest number of examples one client may claim (keeps sample weights finite and sane). */
export const MAX_NUM_EXAMPLES = 1_000_000_000

/** Throws PLX_ERR_FL_UPDATE_INVALID unless `update` has `length` finite values. */
export function validateUpdate (clientId: string, update: Float32Array, length: number): void {
  if (!(update instanceof Float32Array)) throw new PlexusError('PLX_ERR_FL_UPDATE_INVALID', [clientId, 'not a Float32Array'])
  if (update.length !== length) throw new PlexusError('PLX_ERR_FL_UPDATE_INVALID', [clientId, `${update.length} values where the model has ${length}`])
  for (let i = 0; i < update.length; i++) {
    if (!Number.isFinite(update[i])) throw new PlexusError('PLX_ERR_FL_UPDATE_INVALID', [clientId, `value ${i} is ${update[i]}`])
  }
}

/**
 * Checks a round's updates before any rule combines them: at least `min` of them, all of one
 * length, finite, with a positive integer number of examples. Returns the vector length.
 */
export function checkUpdates (updates: readonly ClientUpdate[], min = 1, rule = 'this rule'): number {
  if (updates.length < min) {
    throw new PlexusError('PLX_ERR_FL_AGGREGATION', [updates.length === 0 ? 'no client update to aggregate' : `${rule} needs at least ${min} updates, got ${updates.length}`])
  }
  const length = updates[0]!.update.length
  for (const u of updates) {
    validateUpdate(u.clientId, u.update, length)
    if (!Number.isInteger(u.numExamples) || u.numExamples < 1 || u.numExamples > MAX_NUM_EXAMPLES) {
      throw new PlexusError('PLX_ERR_FL_UPDATE_INVALID', [u.clientId, `numExamples ${u.numExamples} is not an integer in 1…${MAX_NUM_EXAMPLES}`])
    }
  }
  return length
}

/** Euclidean norm, accumulated in float64. */
export function l2Norm (v: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!
  return Math.sqrt(s)
}

/** Squared Euclidean distance between two vectors of one length. */
export function squaredDistance (a: Float32Array, b: Float32Array): number {
  let s = 0
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!
    s += d * d
  }
  return s
}

/** `Σ wᵢ·vᵢ / Σ wᵢ` over vectors of one length (weights must be positive). */
export function weightedMean (vectors: readonly Float32Array[], weights: readonly number[]): Float32Array {
  const length = vectors[0]?.length ?? 0
  const acc = new Float64Array(length)
  let total = 0
  vectors.forEach((v, k) => {
    const w = weights[k]!
    total += w
    for (let i = 0; i < length; i++) acc[i]! += w * v[i]!
  })
  const out = new Float32Array(length)
  for (let i = 0; i < length; i++) out[i] = acc[i]! / total
  return out
}

/** A copy of `v` scaled down to norm `maxNorm` when it is longer (direction kept). */
export function clipToNorm (v: Float32Array, maxNorm: number): Float32Array {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`clipping norm must be a positive finite number, got ${maxNorm}`])
  const norm = l2Norm(v)
  const out = new Float32Array(v)
  if (norm <= maxNorm) return out
  // Rounding to float32 can leave the result a hair above maxNorm; DP's sensitivity bound must
  // hold exactly, so shrink by a few ulps until it does.
  for (let scale = maxNorm / norm; ; scale *= 1 - 1e-7) {
    for (let i = 0; i < out.length; i++) out[i] = v[i]! * scale
    if (l2Norm(out) <= maxNorm) return out
  }
}

/**
 * Applies `reduce` to each coordinate's column of values (one per update), in a reused float64
 * buffer the callback may reorder. Used by the coordinate-wise rules.
 */
export function reduceCoordinates (updates: readonly ClientUpdate[], reduce: (column: Float64Array) => number): Float32Array {
  const n = updates.length
  const length = updates[0]!.update.length
  const column = new Float64Array(n)
  const out = new Float32Array(length)
  for (let i = 0; i < length; i++) {
    for (let k = 0; k < n; k++) column[k] = updates[k]!.update[i]!
    out[i] = reduce(column)
  }
  return out
}

/**
 * Rearranges `a[from…to)` so that `a[k]` holds the value a sort would put there, smaller-or-equal
 * values before it and larger-or-equal after (Hoare's quickselect, median-of-three pivots):
 * O(n) on average, where a sort is O(n log n).
 */
export function selectKth (a: Float64Array, k: number, from = 0, to = a.length): void {
  let lo = from
  let hi = to - 1
  while (hi > lo) {
    const mid = (lo + hi) >>> 1
    // Median of three as the pivot, which also guards sorted and reversed input.
    if (a[mid]! < a[lo]!) swap(a, mid, lo)
    if (a[hi]! < a[lo]!) swap(a, hi, lo)
    if (a[hi]! < a[mid]!) swap(a, hi, mid)
    const pivot = a[mid]!
    let i = lo
    let j = hi
    while (i <= j) {
      while (a[i]! < pivot) i++
      while (a[j]! > pivot) j--
      if (i <= j) swap(a, i++, j--)
    }
    if (k <= j) hi = j
    else if (k >= i) lo = i
    else return
  }
}

function swap (a: Float64Array, i: number, j: number): void {
  const t = a[i]!
  a[i] = a[j]!
  a[j] = t
}
