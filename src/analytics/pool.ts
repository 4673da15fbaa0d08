/**
 * The analyst side of each function: turns the element-wise sum of the sites' vectors (the layouts
 * in `./site.ts`) into the statistic. Pure: the same code pools sites' answers, pools the totals
 * of a secure aggregation, and computes the reference on a pooled file in tests.
 *
 * @packageDocumentation
 */
import { PlexusError } from '../errors.js'
import { chiSquareUpper, normalTwoSided, studentTwoSided } from './distributions.js'
import { DEFAULT_PROBS, type StatsQuery } from './query.js'
import type { GlmFit } from './glm.js'

export interface MomentValue { column: string, n: number, value: number | null }
export interface MomentGroup { level: string | null, n: number, suppressed: boolean, values: MomentValue[] }

export type StatsResult =
  | { fn: 'count', n: number }
  | { fn: 'sum' | 'mean' | 'var' | 'sd', by: string | null, groups: MomentGroup[] }
  | { fn: 'histogram', column: string, edges: number[], counts: number[], below: number, above: number, suppressed: number[] }
  | { fn: 'quantiles', column: string, n: number, probs: number[], quantiles: Array<number | null> }
  | { fn: 'table', columns: string[], levels: string[][], counts: number[][], suppressed: number[] }
  | { fn: 'cor', columns: string[], n: number, matrix: number[][] }
  | { fn: 'ttest', column: string, by: string | null, levels: string[], n: number[], means: number[], variances: number[], t: number, df: number, p: number, mu: number | null }
  | { fn: 'chisq', columns: string[], levels: string[][], counts: number[][], statistic: number, df: number, p: number }
  | { fn: 'glm', family: 'gaussian' | 'binomial', n: number, terms: Array<{ term: string, estimate: number, standardError: number, statistic: number, p: number }>, deviance: number, dispersion: number, iterations: number }

function failed (why: string): PlexusError {
  return new PlexusError('PLX_ERR_STATS_FAILED', [why])
}

function expectLength (v: ArrayLike<number>, n: number): void {
  if (v.length !== n) throw failed(`the sites' answer has ${v.length} values, expected ${n}`)
}

/** Length of one site's vector for a query (the layouts in `./site.ts`). */
export function vectorLength (q: StatsQuery, levels: Record<string, string[]>): number {
  const lv = (c: string | undefined): number => c == null ? 1 : levels[c]?.length ?? 0
  const c = q.columns.length
  switch (q.fn) {
    case 'count': return 1
    case 'sum': case 'mean': case 'var': case 'sd': return lv(q.by) * (1 + 2 * c)
    case 'histogram': case 'quantiles': return (q.bins ?? 0) + 2
    case 'table': case 'chisq': return lv(q.columns[0]) * (c === 2 ? lv(q.columns[1]) : 1)
    case 'cor': return 1 + c + (c * (c + 1)) / 2
    case 'ttest': return 3 * lv(q.by)
    case 'glm': return 2 + c * c + c
  }
}

/** Sample variance from n, Σx, Σx² (null below 2 rows). */
export function varianceOf (n: number, s: number, ss: number): number | null {
  if (n < 2) return null
  return Math.max(0, (ss - (s * s) / n) / (n - 1))
}

/** Histogram bin edges. */
export function binEdges (lo: number, hi: number, bins: number): number[] {
  return Array.from({ length: bins + 1 }, (_v, i) => i === bins ? hi : lo + ((hi - lo) * i) / bins)
}

/**
 * Quantiles from a `[below, bins…, above]` histogram by linear interpolation inside the bin that
 * holds rank p·N; null when the rank falls below or above the range.
 */
export function histogramQuantiles (cells: ArrayLike<number>, lo: number, hi: number, probs: readonly number[]): Array<number | null> {
  const bins = cells.length - 2
  let total = 0
  for (let i = 0; i < cells.length; i++) total += cells[i]!
  const edges = binEdges(lo, hi, bins)
  return probs.map(p => {
    const rank = p * total
    let cum = cells[0]!
    if (rank < cum || total === 0) return null
    for (let k = 1; k <= bins; k++) {
      const c = cells[k]!
      if (c > 0 && rank <= cum + c) return edges[k - 1]! + ((rank - cum) / c) * (edges[k]! - edges[k - 1]!)
      cum += c
    }
    return rank <= cum ? hi : null
  })
}

function matrix (flat: ArrayLike<number>, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, (_v, i) => Array.from({ length: cols }, (_w, j) => flat[i * cols + j]!))
}

/** Pearson's χ² test of independence on an r×c table (all-zero rows and columns dropped). */
export function chiSquareTest (counts: number[][]): { statistic: number, df: number, p: number } {
  const rows = counts.filter(r => r.some(v => v !== 0))
  const keep = (rows[0] ?? []).map((_v, j) => rows.some(r => r[j] !== 0))
  const t = rows.map(r => r.filter((_v, j) => keep[j]))
  const r = t.length
  const c = t[0]?.length ?? 0
  if (r < 2 || c < 2) throw failed('chisq needs at least two non-empty rows and columns')
  const rowSum = t.map(row => row.reduce((a, b) => a + b, 0))
  const colSum = t[0]!.map((_v, j) => t.reduce((a, row) => a + row[j]!, 0))
  const total = rowSum.reduce((a, b) => a + b, 0)
  let statistic = 0
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < c; j++) {
      const e = (rowSum[i]! * colSum[j]!) / total
      statistic += ((t[i]![j]! - e) ** 2) / e
    }
  }
  const df = (r - 1) * (c - 1)
  return { statistic, df, p: chiSquareUpper(statistic, df) }
}

/** Welch's two-sample t-test (or a one-sample test against `mu`) from per-group n, Σx, Σx². */
export function tTest (groups: Array<[number, number, number]>, mu: number | null): { n: number[], means: number[], variances: number[], t: number, df: number, p: number } {
  const n = groups.map(g => g[0])
  const means = groups.map(g => g[1] / g[0])
  const variances = groups.map(g => varianceOf(g[0], g[1], g[2]) ?? Number.NaN)
  if (n.some(k => k < 2)) throw failed('each group needs at least 2 rows')
  let t: number
  let df: number
  if (groups.length === 1) {
    t = (means[0]! - (mu ?? 0)) / Math.sqrt(variances[0]! / n[0]!)
    df = n[0]! - 1
  } else {
    const a = variances[0]! / n[0]!
    const b = variances[1]! / n[1]!
    t = (means[0]! - means[1]!) / Math.sqrt(a + b)
    df = (a + b) ** 2 / (a ** 2 / (n[0]! - 1) + b ** 2 / (n[1]! - 1))
  }
  return { n, means, variances, t, df, p: studentTwoSided(t, df) }
}

/**
 * The statistic from the summed vector. `levels` are the factor levels the query was computed
 * over; `suppressed` the union of cells any site suppressed.
 */
export function finalize (q: StatsQuery, sum: ArrayLike<number>, levels: Record<string, string[]>, suppressed: number[] = []): StatsResult {
  switch (q.fn) {
    case 'count':
      expectLength(sum, 1)
      return { fn: 'count', n: sum[0]! }
    case 'sum': case 'mean': case 'var': case 'sd': {
      const c = q.columns.length
      const block = 1 + 2 * c
      const groupLevels = q.by != null ? levels[q.by] ?? [] : [null]
      expectLength(sum, groupLevels.length * block)
      const groups = groupLevels.map((level, k) => {
        const o = k * block
        const n = sum[o]!
        const values = q.columns.map((column, j) => {
          const s = sum[o + 1 + 2 * j]!
          const ss = sum[o + 2 + 2 * j]!
          const variance = varianceOf(n, s, ss)
          const value = n === 0 ? null : q.fn === 'sum' ? s : q.fn === 'mean' ? s / n : q.fn === 'var' ? variance : variance == null ? null : Math.sqrt(variance)
          return { column, n, value }
        })
        return { level, n, suppressed: suppressed.includes(o), values }
      })
      return { fn: q.fn, by: q.by ?? null, groups }
    }
    case 'histogram': case 'quantiles': {
      const [lo, hi] = q.range!
      const bins = q.bins!
      expectLength(sum, bins + 2)
      if (q.fn === 'quantiles') {
        const probs = q.probs ?? DEFAULT_PROBS
        let n = 0
        for (let i = 0; i < sum.length; i++) n += sum[i]!
        return { fn: 'quantiles', column: q.columns[0]!, n, probs, quantiles: histogramQuantiles(sum, lo, hi, probs) }
      }
      return { fn: 'histogram', column: q.columns[0]!, edges: binEdges(lo, hi, bins), counts: Array.from({ length: bins }, (_v, i) => sum[i + 1]!), below: sum[0]!, above: sum[bins + 1]!, suppressed }
    }
    case 'table': case 'chisq': {
      const la = levels[q.columns[0]!] ?? []
      const lb = q.columns.length === 2 ? levels[q.columns[1]!] ?? [] : ['n']
      expectLength(sum, la.length * lb.length)
      const counts = matrix(sum, la.length, lb.length)
      const lv = q.columns.length === 2 ? [la, lb] : [la]
      if (q.fn === 'table') return { fn: 'table', columns: q.columns, levels: lv, counts, suppressed }
      return { fn: 'chisq', columns: q.columns, levels: lv, counts, ...chiSquareTest(counts) }
    }
    case 'cor': {
      const m = q.columns.length
      expectLength(sum, 1 + m + (m * (m + 1)) / 2)
      const n = sum[0]!
      const cov: number[][] = Array.from({ length: m }, () => new Array<number>(m).fill(0))
      let o = 1 + m
      for (let j = 0; j < m; j++) {
        for (let k = j; k < m; k++) {
          const v = (sum[o++]! - (sum[1 + j]! * sum[1 + k]!) / n) / (n - 1)
          cov[j]![k] = v
          cov[k]![j] = v
        }
      }
      const out = cov.map((row, j) => row.map((v, k) => j === k ? 1 : v / Math.sqrt(cov[j]![j]! * cov[k]![k]!)))
      return { fn: 'cor', columns: q.columns, n, matrix: out }
    }
    case 'ttest': {
      const lv = q.by != null ? levels[q.by] ?? [] : ['all']
      expectLength(sum, 3 * lv.length)
      const groups = lv.map((_l, k) => [sum[3 * k]!, sum[3 * k + 1]!, sum[3 * k + 2]!] as [number, number, number])
      return { fn: 'ttest', column: q.columns[0]!, by: q.by ?? null, levels: lv, mu: q.mu ?? null, ...tTest(groups, q.mu ?? null) }
    }
    case 'glm':
      throw failed('glm results come from the IRLS loop (glmResult)')
  }
}

/** The table of a fitted GLM, with Wald tests (t for gaussian, z for binomial). */
export function glmResult (q: StatsQuery, fit: GlmFit): StatsResult {
  const p = fit.coefficients.length
  const terms = ['(intercept)', ...q.columns.slice(1)].map((term, j) => {
    const estimate = fit.coefficients[j]!
    const standardError = fit.standardErrors[j]!
    const statistic = estimate / standardError
    const pv = fit.family === 'gaussian' ? studentTwoSided(statistic, fit.n - p) : normalTwoSided(statistic)
    return { term, estimate, standardError, statistic, p: pv }
  })
  return { fn: 'glm', family: fit.family, n: fit.n, terms, deviance: fit.deviance, dispersion: fit.dispersion, iterations: fit.iterations }
}
