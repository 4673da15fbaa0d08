/**
 * Secure aggregation parameters: what the coordinator and every client of one aggregation must agree
 * on beforehand (they come from the job spec), and the values derived from them.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { PlexusError } from '../../errors.js'

/** Longest client id or session name accepted (libp2p peer ids are ~52 characters). */
export const MAX_ID_LENGTH = 200
/** Most clients one aggregation may have. */
export const MAX_CLIENTS = 10_000
/** Longest vector one aggregation may have (64 Mi coordinates = 256 MiB per masked vector). */
export const MAX_LENGTH = 64 * 1024 * 1024
const INT32_MAX = 2 ** 31 - 1

export interface SecAggConfig {
  /**
   * Names this aggregation, e.g. `${jobId}/${round}`. Keys, ciphertexts, commitments and masks
   * are bound to it: never run two aggregations under the same name.
   */
  session: string
  /** Length of every client's vector, the trailing `extras` coordinates included. */
  length: number
  /** Coordinates other than the extras are clipped to [−clipRange, clipRange] before quantisation. */
  clipRange: number
  /**
   * How many trailing coordinates hold integers that are summed exactly instead of quantised (e.g.
   * the example count, for a weighted mean). Each must be an integer of magnitude at most
   * ⌊(2³¹−1)/maxClients⌋. Default 0.
   */
  extras?: number
  /** Most clients the aggregation may have; bounds the sum so it cannot overflow 32 bits. */
  maxClients: number
  /** Fewest clients whose keys must arrive for the aggregation to start. Default 3 (at least 2). */
  minClients?: number
  /**
   * Signed quantisation bits per client value: a clipped value v becomes round(v / Δ) with
   * Δ = clipRange / (2^(bits−1) − 1). Default and maximum: the largest value for which
   * maxClients·(2^(bits−1) − 1) ≤ 2³¹ − 1, so that no sum can overflow.
   */
  bits?: number
  /**
   * Fraction of the holders of a client's secret shares needed to reconstruct them, and of the
   * clients that must survive to the end: t = max(⌊h/2⌋ + 1, ⌈threshold·h⌉). In (0.5, 1].
   * Default 2/3, which survives a third of the clients dropping out.
   */
  threshold?: number
  /**
   * Who masks with whom: `'complete'` (every pair, as in Bonawitz et al. 2017) or k, for a random
   * graph in which every client has at least k neighbours (Bell et al. 2020); see index.ts for the
   * security argument. Default `'complete'`. A k ≥ n − 1 is the complete graph.
   */
  neighbours?: 'complete' | number
}

/** A validated configuration with every default filled in and the derived quantities. */
export interface ResolvedConfig {
  readonly session: string
  readonly length: number
  readonly clipRange: number
  readonly extras: number
  readonly maxClients: number
  readonly minClients: number
  readonly bits: number
  readonly threshold: number
  readonly neighbours: 'complete' | number
  /** Largest quantised magnitude of one client's value: 2^(bits−1) − 1. */
  readonly maxLevel: number
  /** Quantisation step Δ = clipRange / maxLevel. */
  readonly step: number
  /** Largest magnitude of one client's extra coordinate. */
  readonly maxExtra: number
  /** Bytes of one masked vector (4 per coordinate). */
  readonly vectorBytes: number
}

const Schema = z.strictObject({
  session: z.string().min(1).max(MAX_ID_LENGTH),
  length: z.number().int().min(1).max(MAX_LENGTH),
  clipRange: z.number().positive().finite(),
  extras: z.number().int().min(0).optional(),
  maxClients: z.number().int().min(2).max(MAX_CLIENTS),
  minClients: z.number().int().min(2).optional(),
  bits: z.number().int().min(2).max(32).optional(),
  threshold: z.number().gt(0.5).max(1).optional(),
  neighbours: z.union([z.literal('complete'), z.number().int().min(2)]).optional()
})

/** Largest signed bit width whose per-client range, summed over `maxClients`, fits in int32. */
export function defaultBits (maxClients: number): number {
  let bits = 32
  while (bits > 2 && maxClients * (2 ** (bits - 1) - 1) > INT32_MAX) bits--
  return bits
}

/**
 * Validates a configuration and fills in its defaults.
 *
 * @throws PlexusError `PLX_ERR_SECAGG_CONFIG` naming the first problem
 */
export function resolveConfig (config: SecAggConfig): ResolvedConfig {
  const parsed = Schema.safeParse(config)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new PlexusError('PLX_ERR_SECAGG_CONFIG', [`${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`])
  }
  const c = parsed.data
  const extras = c.extras ?? 0
  if (extras >= c.length) throw new PlexusError('PLX_ERR_SECAGG_CONFIG', [`extras (${extras}) must be fewer than length (${c.length})`])
  const minClients = c.minClients ?? Math.min(3, c.maxClients)
  if (minClients > c.maxClients) throw new PlexusError('PLX_ERR_SECAGG_CONFIG', [`minClients (${minClients}) exceeds maxClients (${c.maxClients})`])
  const bitsLimit = defaultBits(c.maxClients)
  const bits = c.bits ?? bitsLimit
  if (bits > bitsLimit) {
    throw new PlexusError('PLX_ERR_SECAGG_CONFIG', [`bits ${bits} would let the sum of ${c.maxClients} clients overflow 32 bits; at most ${bitsLimit}`])
  }
  const maxLevel = 2 ** (bits - 1) - 1
  return {
    session: c.session,
    length: c.length,
    clipRange: c.clipRange,
    extras,
    maxClients: c.maxClients,
    minClients,
    bits,
    threshold: c.threshold ?? 2 / 3,
    neighbours: c.neighbours ?? 'complete',
    maxLevel,
    step: c.clipRange / maxLevel,
    maxExtra: Math.floor(INT32_MAX / c.maxClients),
    vectorBytes: c.length * 4
  }
}

/**
 * Shares needed out of `holders`: a strict majority at least (so that no two disjoint sets of
 * holders can each reconstruct), and ⌈fraction·holders⌉.
 */
export function shareThreshold (holders: number, fraction: number): number {
  return Math.min(holders, Math.max(Math.floor(holders / 2) + 1, Math.ceil(fraction * holders - 1e-9)))
}
