/**
 * Aggregation rules over a round's client updates, behind {@link UpdateAggregator}, and
 * {@link createAggregator} to build one from a (validated) spec. All but the weighted mean need
 * each client's update, so they cannot run under secure aggregation.
 *
 * @packageDocumentation
 */

import { z } from 'zod'
import { PlexusError } from '../../errors.js'
import type { UpdateAggregator } from '../types.js'
import { weightedMeanAggregator } from './weighted-mean.js'
import { normBoundingAggregator } from './norm-bounding.js'
import { medianAggregator } from './median.js'
import { trimmedMeanAggregator } from './trimmed-mean.js'
import { krumAggregator, multiKrumAggregator } from './krum.js'

export { weightedMeanAggregator, normBoundingAggregator, medianAggregator, trimmedMeanAggregator, krumAggregator, multiKrumAggregator }
export { krumScores, krumSelect } from './krum.js'
export { checkUpdates, validateUpdate, clipToNorm, l2Norm, weightedMean, MAX_NUM_EXAMPLES } from './vectors.js'

/** Largest f accepted for Krum (a round of 2f + 3 clients must still be possible). */
const MAX_BYZANTINE = 10_000

/** An aggregation rule and its parameters, as a job spec states it. */
export const AggregatorSpecSchema = z.discriminatedUnion('rule', [
  z.strictObject({ rule: z.literal('mean') }),
  z.strictObject({ rule: z.literal('norm-bound'), maxNorm: z.number().positive().max(1e9) }),
  z.strictObject({ rule: z.literal('median') }),
  z.strictObject({ rule: z.literal('trimmed-mean'), beta: z.number().min(0).lt(0.5) }),
  z.strictObject({ rule: z.literal('krum'), byzantine: z.number().int().min(0).max(MAX_BYZANTINE) }),
  z.strictObject({ rule: z.literal('multi-krum'), byzantine: z.number().int().min(0).max(MAX_BYZANTINE), keep: z.number().int().min(1).max(100_000).optional() })
])
export type AggregatorSpec = z.output<typeof AggregatorSpecSchema>

/** Builds the aggregator a spec names; throws PLX_ERR_FL_CONFIG_INVALID for a bad spec. */
export function createAggregator (spec: unknown): UpdateAggregator {
  const r = AggregatorSpecSchema.safeParse(spec)
  if (!r.success) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`aggregation rule: ${z.prettifyError(r.error).replace(/\n/g, '; ')}`])
  const s = r.data
  switch (s.rule) {
    case 'mean': return weightedMeanAggregator()
    case 'norm-bound': return normBoundingAggregator(s.maxNorm)
    case 'median': return medianAggregator()
    case 'trimmed-mean': return trimmedMeanAggregator(s.beta)
    case 'krum': return krumAggregator(s.byzantine)
    case 'multi-krum': return multiKrumAggregator(s.byzantine, s.keep)
  }
}
