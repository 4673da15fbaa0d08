/**
 * Percentile by linear interpolation between the closest ranks (p in 0..100).
 *
 * @param values - the samples
 * @param p - the percentile, e.g. 90
 * @returns the value, or NaN for an empty list
 */
export function percentile (values: readonly number[], p: number): number {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const pos = (s.length - 1) * Math.min(100, Math.max(0, p)) / 100
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo)
}
