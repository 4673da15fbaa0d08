/**
 * Gaussian noise for client-level DP-FedAvg (McMahan et al. 2018, https://arxiv.org/abs/1710.06963).
 *
 * The sum of m clipped updates (each of L2 norm ≤ C) gets N(0, σ²C²) per coordinate, σ being the
 * noise multiplier. Under secure aggregation nobody sees the sum before the noise, so the noise is
 * split: each of n clients adds N(0, σ²C²/n) before masking, and the n shares sum to N(0, σ²C²).
 * If clients drop after adding their share, less noise survives; a client should therefore divide
 * by the fewest clients that can complete the round (the secure-aggregation threshold), not by the
 * number selected, which errs on the side of more noise.
 *
 * Noise defaults to the operating system's CSPRNG. A seeded {@link Rng} is for tests and
 * simulations only. (Floating-point Gaussian samplers leak a little through their low bits,
 * Mironov 2012; this implementation does not defend against that.)
 *
 * @packageDocumentation
 */

import { PlexusError } from '../../errors.js'
import { Rng } from './rng.js'

function checkStd (std: number): void {
  if (!(std >= 0) || !Number.isFinite(std)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`noise standard deviation ${std} must be a finite number ≥ 0`])
}

/** A vector of `length` independent N(0, std²) values. */
export function gaussianNoise (length: number, std: number, rng: Rng = Rng.crypto()): Float32Array {
  checkStd(std)
  const out = new Float32Array(length)
  if (std === 0) return out
  for (let i = 0; i < length; i++) out[i] = rng.normal() * std
  return out
}

/** `v + N(0, std²)` per coordinate, as a new array. */
export function addGaussianNoise (v: Float32Array, std: number, rng: Rng = Rng.crypto()): Float32Array {
  checkStd(std)
  const out = new Float32Array(v.length)
  for (let i = 0; i < v.length; i++) out[i] = v[i]! + (std === 0 ? 0 : rng.normal() * std)
  return out
}

/** Standard deviation of the noise on the sum of clipped updates: σ·C. */
export function sumNoiseStd (noiseMultiplier: number, clipNorm: number): number {
  return noiseMultiplier * clipNorm
}

/** Standard deviation of one client's share when `clients` shares make up the sum's noise: σ·C/√n. */
export function noiseShareStd (noiseMultiplier: number, clipNorm: number, clients: number): number {
  if (!Number.isInteger(clients) || clients < 1) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`the noise is split over a whole number ≥ 1 of clients, got ${clients}`])
  return noiseMultiplier * clipNorm / Math.sqrt(clients)
}
