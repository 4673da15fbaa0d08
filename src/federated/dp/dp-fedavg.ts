/**
 * Client-level DP-FedAvg (McMahan et al. 2018, "Learning Differentially Private Recurrent
 * Language Models", https://arxiv.org/abs/1710.06963), with uniform client weights:
 *
 *   Δ = (Σₖ clip(Δₖ, C) + N(0, σ²C²)) / m
 *
 * where m is the expected number of clients per round (the paper's fixed-denominator estimator
 * qW: dividing by the count that actually arrived would leak it). Sample weights are not used:
 * they would let one client's contribution exceed C/m.
 *
 * Three ways to run it:
 * - a trusted coordinator that sees each update: {@link dpMean} (or {@link dpFedAvgAggregator});
 * - secure aggregation: each client calls {@link dpClientShare} (clip, add its noise share), the
 *   coordinator learns only the sum and calls {@link dpMeanFromSum} with no further noise;
 * - the accountant (rdp.ts) then charges one round of (q = m/K, σ).
 *
 * @packageDocumentation
 */

import { PlexusError } from '../../errors.js'
import type { UpdateAggregator } from '../types.js'
import { checkUpdates, clipToNorm } from '../robust/vectors.js'
import { noiseShareStd, sumNoiseStd } from './noise.js'
import { Rng } from './rng.js'

export interface DpParams {
  /** L2 norm C every client update is clipped to. */
  clipNorm: number
  /** σ: noise standard deviation in units of C. */
  noiseMultiplier: number
}

function checkParams (p: DpParams): void {
  if (!(p.clipNorm > 0) || !Number.isFinite(p.clipNorm)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`DP clipNorm = ${p.clipNorm} must be positive`])
  if (!(p.noiseMultiplier >= 0) || !Number.isFinite(p.noiseMultiplier)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`DP noiseMultiplier = ${p.noiseMultiplier} must be ≥ 0`])
}

function checkDenominator (denominator: number): void {
  if (!(denominator >= 1) || !Number.isFinite(denominator)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`the DP mean divides by the expected number of clients (≥ 1), got ${denominator}`])
}

/** A client's contribution under secure aggregation: clip(Δ, C) + N(0, σ²C²/n). */
export function dpClientShare (update: Float32Array, p: DpParams & { clients: number }, rng: Rng = Rng.crypto()): Float32Array {
  checkParams(p)
  const clipped = clipToNorm(update, p.clipNorm)
  const std = noiseShareStd(p.noiseMultiplier, p.clipNorm, p.clients)
  if (std > 0) for (let i = 0; i < clipped.length; i++) clipped[i]! += rng.normal() * std
  return clipped
}

/** `sum / denominator`, for a sum that already carries the noise (secure aggregation). */
export function dpMeanFromSum (sum: Float32Array | Float64Array, denominator: number): Float32Array {
  checkDenominator(denominator)
  const out = new Float32Array(sum.length)
  for (let i = 0; i < out.length; i++) out[i] = sum[i]! / denominator
  return out
}

/** (Σ clip(uₖ, C) + N(0, σ²C²)) / denominator, for a coordinator that sees each update. */
export function dpMean (updates: readonly Float32Array[], p: DpParams & { denominator: number }, rng: Rng = Rng.crypto()): Float32Array {
  checkParams(p)
  checkDenominator(p.denominator)
  if (updates.length === 0) throw new PlexusError('PLX_ERR_FL_AGGREGATION', ['no client update to aggregate'])
  const length = updates[0]!.length
  const acc = new Float64Array(length)
  for (const u of updates) {
    if (u.length !== length) throw new PlexusError('PLX_ERR_FL_AGGREGATION', [`updates of ${u.length} and ${length} values`])
    const c = clipToNorm(u, p.clipNorm)
    for (let i = 0; i < length; i++) acc[i]! += c[i]!
  }
  const std = sumNoiseStd(p.noiseMultiplier, p.clipNorm)
  if (std > 0) for (let i = 0; i < length; i++) acc[i]! += rng.normal() * std
  return dpMeanFromSum(acc, p.denominator)
}

/**
 * DP-FedAvg as an {@link UpdateAggregator}: clips and noises server-side, dividing by
 * `expectedClients` (or by the number of updates when not given). It sees individual updates
 * only to clip them, which clients can do themselves, so it reports `needsIndividualUpdates: false`.
 */
export function dpFedAvgAggregator (p: DpParams & { expectedClients?: number, rng?: Rng }): UpdateAggregator {
  checkParams(p)
  if (p.expectedClients !== undefined) checkDenominator(p.expectedClients)
  const rng = p.rng ?? Rng.crypto()
  return {
    name: 'dp-fedavg',
    needsIndividualUpdates: false,
    aggregate: (updates) => {
      checkUpdates(updates)
      return dpMean(updates.map(u => u.update), { ...p, denominator: p.expectedClients ?? updates.length }, rng)
    }
  }
}
