/**
 * A federated statistics query: what an analyst asks of every site, validated the same way on both
 * sides (the analyst's node checks it before anything leaves; each site checks it again before
 * anything runs). Names are dataset columns; they are checked against the site's allowed columns
 * there, never pasted into SQL.
 *
 * Functions and what they need:
 *
 * | fn | columns | extra |
 * |---|---|---|
 * | `count` | none | |
 * | `sum`, `mean`, `var`, `sd` | ≥ 1 numeric | optional `by` factor |
 * | `quantiles` | 1 numeric | `range`, `bins`, optional `probs` |
 * | `histogram` | 1 numeric | `range`, `bins` |
 * | `table` | 1 or 2 factors | |
 * | `cor` | ≥ 2 numeric | |
 * | `ttest` | 1 numeric | a two-level `by` factor (Welch), or `mu` (one sample) |
 * | `chisq` | 2 factors | |
 * | `glm` | response then predictors (numeric) | `family`, `success` (binomial) |
 *
 * Histograms use fixed bins over an analyst-chosen range (values outside land in an underflow and
 * an overflow bin) because a site never reveals its minimum or maximum.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import { DatasetNameSchema } from '../data/registry.js'
import { canonicalJson } from '../crypto/signing.js'
import { STATS_FUNCTIONS, type StatsFunction } from './functions.js'

export { STATS_FUNCTIONS, type StatsFunction }

export const MAX_QUERY_COLUMNS = 32
export const MAX_BINS = 1000
const Column = z.string().min(1).max(128).refine(s => !s.includes('\u0000'), 'no NUL characters')

export const StatsQuerySchema = z.strictObject({
  dataset: DatasetNameSchema,
  fn: z.enum(STATS_FUNCTIONS),
  columns: z.array(Column).max(MAX_QUERY_COLUMNS).default([]),
  by: Column.optional(),
  where: z.string().max(2000).optional(),
  bins: z.number().int().min(1).max(MAX_BINS).optional(),
  range: z.tuple([z.number().finite(), z.number().finite()]).optional(),
  probs: z.array(z.number().min(0).max(1)).min(1).max(99).optional(),
  mu: z.number().finite().optional(),
  family: z.enum(['gaussian', 'binomial']).optional(),
  /** Binomial response: the value that counts as 1 (default: the response must be 0/1). */
  success: z.union([z.number().finite(), z.string().max(256)]).optional(),
  /** Differential privacy for this query: the ε each site spends from the analyst's budget. */
  epsilon: z.number().positive().max(100).optional()
})
export type StatsQuery = z.output<typeof StatsQuerySchema>
export type StatsQueryInput = z.input<typeof StatsQuerySchema>

function refuse (why: string): PlexusError {
  return new PlexusError('PLX_ERR_STATS_QUERY_INVALID', [why])
}

/** Parses a query and checks that its parts fit the function (not yet the site's columns). */
export function parseQuery (input: unknown): StatsQuery {
  const r = StatsQuerySchema.safeParse(input)
  if (!r.success) throw refuse(z.prettifyError(r.error).replace(/\s+/g, ' ').slice(0, 500))
  const q = r.data
  const n = q.columns.length
  const need = (ok: boolean, why: string): void => { if (!ok) throw refuse(`${q.fn}: ${why}`) }
  if (new Set(q.columns).size !== n) throw refuse('a column is named twice')
  switch (q.fn) {
    case 'count': need(n === 0 && q.by == null, 'takes no columns and no by (filter with where)'); break
    case 'sum': case 'mean': case 'var': case 'sd': need(n >= 1, 'needs at least one column'); break
    case 'quantiles': case 'histogram':
      need(n === 1 && q.by == null, 'needs exactly one column and no by')
      need(q.range != null && q.range[0] < q.range[1], 'needs range [low, high] with low < high (sites never reveal minima or maxima)')
      need(q.bins != null, 'needs bins')
      break
    case 'table': need((n === 1 || n === 2) && q.by == null, 'needs one or two columns'); break
    case 'cor': need(n >= 2 && q.by == null, 'needs at least two columns'); break
    case 'ttest': need(n === 1 && ((q.by != null) !== (q.mu != null)), 'needs one column and either by (two groups) or mu (one sample)'); break
    case 'chisq': need(n === 2 && q.by == null, 'needs two columns'); break
    case 'glm': need(n >= 1 && q.by == null, 'needs the response column then the predictors'); break
  }
  if (q.by != null) need(!q.columns.includes(q.by), 'by must not also be a column')
  if (q.probs != null) need(q.fn === 'quantiles', 'probs only applies to quantiles')
  if (q.family != null || q.success != null) need(q.fn === 'glm', 'family and success only apply to glm')
  if (q.success != null) need(q.family === 'binomial', 'success only applies to the binomial family')
  if (q.epsilon != null) need(['count', 'histogram', 'quantiles', 'table', 'chisq'].includes(q.fn), 'differential privacy is available for count, histogram, quantiles, table and chisq (the functions with sensitivity 1 per person)')
  return q
}

/** Stable hash of a query (for approvals): the same question gets the same hash. */
export function queryHash (q: StatsQuery): string {
  return createHash('sha256').update(canonicalJson(q as unknown as Record<string, unknown>)).digest('hex').slice(0, 32)
}

/** Every column a query reads (columns, by, filter columns excluded). */
export function queryColumns (q: StatsQuery): string[] {
  return [...q.columns, ...(q.by != null ? [q.by] : [])]
}

/** Columns read as factors (levels) rather than numbers. */
export function factorColumns (q: StatsQuery): string[] {
  if (q.fn === 'table' || q.fn === 'chisq') return q.columns
  return q.by != null ? [q.by] : []
}

/** Default probabilities for `quantiles`. */
export const DEFAULT_PROBS = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]
