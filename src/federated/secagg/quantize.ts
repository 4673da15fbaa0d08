/**
 * Fixed-point quantisation of float vectors into integers mod 2³², and back.
 *
 * A coordinate is clipped to [−R, R] and becomes round(v / Δ), Δ = R / (2^(bits−1) − 1), stored
 * in two's complement in a Uint32Array; the trailing `extras` coordinates must already be integers
 * and are stored as they are. Sums of up to `maxClients` such vectors cannot overflow int32 (see
 * config.ts), so the sum mod 2³² read as int32 is the exact integer sum. Each client's rounding
 * error is at most Δ/2 per coordinate, so a sum of m clients is within m·Δ/2 of the sum of the
 * clipped inputs.
 *
 * @packageDocumentation
 */
import { PlexusError } from '../../errors.js'
import type { ResolvedConfig } from './config.js'

/**
 * Quantises one client's vector into `out` (a new array by default).
 *
 * @throws PlexusError `PLX_ERR_SECAGG_INPUT` for a wrong length, a non-finite value or an extra
 *   coordinate that is not an integer within ±maxExtra
 */
export function quantize (vector: Float32Array, config: ResolvedConfig, out: Uint32Array = new Uint32Array(config.length)): Uint32Array {
  if (!(vector instanceof Float32Array)) throw new PlexusError('PLX_ERR_SECAGG_INPUT', ['the vector must be a Float32Array'])
  if (vector.length !== config.length) {
    throw new PlexusError('PLX_ERR_SECAGG_INPUT', [`the vector has ${vector.length} coordinates, ${config.length} expected`])
  }
  const body = config.length - config.extras
  const r = config.clipRange
  const inv = 1 / config.step
  for (let i = 0; i < body; i++) {
    const v = vector[i]!
    if (v - v !== 0) throw new PlexusError('PLX_ERR_SECAGG_INPUT', [`coordinate ${i} is ${v}, not a finite number`])
    // Uint32Array stores wrap negative integers into two's complement.
    out[i] = Math.round((v > r ? r : v < -r ? -r : v) * inv)
  }
  for (let i = body; i < config.length; i++) {
    const v = vector[i]!
    if (!Number.isInteger(v) || Math.abs(v) > config.maxExtra) {
      throw new PlexusError('PLX_ERR_SECAGG_INPUT', [`extra coordinate ${i} is ${v}; it must be an integer within ±${config.maxExtra}`])
    }
    out[i] = v
  }
  return out
}

/** Reads a sum mod 2³² as signed integers and scales it back: Δ·sum, extras as they are. */
export function dequantize (sum: Int32Array, config: ResolvedConfig): Float32Array {
  const out = new Float32Array(sum.length)
  const body = config.length - config.extras
  const step = config.step
  for (let i = 0; i < body; i++) out[i] = sum[i]! * step
  for (let i = body; i < sum.length; i++) out[i] = sum[i]!
  return out
}
