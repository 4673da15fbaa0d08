/**
 * Shared pieces of the server strategies: checking a round's delta against the global model,
 * and the FedOpt core of Reddi et al. 2021 that FedAdam, FedYogi and FedAdagrad specialise.
 *
 * @packageDocumentation
 */

import { z } from 'zod'
import { PlexusError } from '../../errors.js'
import type { Strategy } from '../types.js'

/** Throws PLX_ERR_FL_AGGREGATION unless `delta` fits `global` and is finite. */
export function checkDelta (global: Float32Array, delta: Float32Array): void {
  if (delta.length !== global.length) throw new PlexusError('PLX_ERR_FL_AGGREGATION', [`the aggregated update has ${delta.length} values, the model ${global.length}`])
  for (let i = 0; i < delta.length; i++) {
    if (!Number.isFinite(delta[i])) throw new PlexusError('PLX_ERR_FL_AGGREGATION', [`the aggregated update holds ${delta[i]} at ${i}`])
  }
}

/** `global + eta·delta`, as a new array. */
export function addScaled (global: Float32Array, delta: Float32Array, eta: number): Float32Array {
  checkDelta(global, delta)
  const out = new Float32Array(global.length)
  for (let i = 0; i < out.length; i++) out[i] = global[i]! + eta * delta[i]!
  return out
}

/** A strategy with no state: x ← x + η·Δ (FedAvg, FedProx). */
export function statelessStrategy (name: string, proximalMu: number, eta: number): Strategy {
  return {
    name,
    proximalMu,
    apply: (_round, global, delta) => addScaled(global, delta, eta),
    state: () => ({}),
    restore: () => {}
  }
}

/** Parameters of an adaptive server optimiser (Reddi et al. 2021, Algorithm 2). */
export interface FedOptParams {
  /** Server learning rate η. */
  eta: number
  /** First-moment decay β₁ (0 turns momentum off). */
  beta1: number
  /** Second-moment decay β₂ (unused by FedAdagrad). */
  beta2: number
  /** Adaptivity τ: the v₋₁ = τ² start and the denominator's floor. */
  tau: number
}

/** How one algorithm updates the second moment v from v₋ and Δ². */
export type SecondMoment = (v: number, delta2: number, beta2: number) => number

const FedOptStateSchema = z.union([
  z.strictObject({}),
  z.strictObject({ m: z.array(z.number()), v: z.array(z.number().min(0)) })
])

/**
 * FedOpt (Reddi et al. 2021, "Adaptive Federated Optimization", https://arxiv.org/abs/2003.00295,
 * Algorithm 2): with Δ the aggregated client delta,
 *   m ← β₁·m + (1 − β₁)·Δ,  v ← secondMoment(v, Δ², β₂),  x ← x + η·m / (√v + τ),
 * starting from m = 0 and v = τ² (the paper's v₋₁ ≥ τ²). No bias correction, as in the paper.
 * The state (m, v) is kept in float64 and survives a restart through `state()`/`restore()`.
 */
export function fedOptStrategy (name: string, p: FedOptParams, secondMoment: SecondMoment): Strategy {
  const bad = !(p.eta > 0 && Number.isFinite(p.eta)) ? `η = ${p.eta}`
    : !(p.beta1 >= 0 && p.beta1 < 1) ? `β₁ = ${p.beta1}`
      : !(p.beta2 >= 0 && p.beta2 < 1) ? `β₂ = ${p.beta2}`
        : !(p.tau > 0 && Number.isFinite(p.tau)) ? `τ = ${p.tau}` : null
  if (bad != null) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`${name}: ${bad} is out of range (η > 0, 0 ≤ β < 1, τ > 0)`])
  let m: Float64Array | null = null
  let v: Float64Array | null = null
  return {
    name,
    proximalMu: 0,
    apply: (_round, global, delta) => {
      checkDelta(global, delta)
      if (m == null || v == null) {
        m = new Float64Array(global.length)
        v = new Float64Array(global.length).fill(p.tau * p.tau)
      }
      if (m.length !== global.length) throw new PlexusError('PLX_ERR_FL_AGGREGATION', [`${name} state has ${m.length} values, the model ${global.length}`])
      const out = new Float32Array(global.length)
      for (let i = 0; i < out.length; i++) {
        const d = delta[i]!
        const mi = p.beta1 * m[i]! + (1 - p.beta1) * d
        const vi = secondMoment(v[i]!, d * d, p.beta2)
        m[i] = mi
        v[i] = vi
        out[i] = global[i]! + p.eta * mi / (Math.sqrt(vi) + p.tau)
      }
      return out
    },
    state: (): Record<string, number[]> => (m == null || v == null ? {} : { m: Array.from(m), v: Array.from(v) }),
    restore: (state) => {
      const r = FedOptStateSchema.safeParse(state)
      if (!r.success) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`${name} state: ${z.prettifyError(r.error).replace(/\n/g, '; ')}`])
      if (!('m' in r.data)) {
        m = null
        v = null
        return
      }
      if (r.data.m.length !== r.data.v.length) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`${name} state: m has ${r.data.m.length} values, v ${r.data.v.length}`])
      m = Float64Array.from(r.data.m)
      v = Float64Array.from(r.data.v)
    }
  }
}
