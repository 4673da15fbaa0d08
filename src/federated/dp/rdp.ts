/**
 * Rényi differential privacy (RDP) accountant for the sampled Gaussian mechanism, the analysis
 * behind DP-SGD's moments accountant (Abadi et al. 2016, https://arxiv.org/abs/1607.00133) and
 * DP-FedAvg (McMahan et al. 2018, https://arxiv.org/abs/1710.06963), in the form of Mironov,
 * Talwar and Zhang 2019 ("Rényi Differential Privacy of the Sampled Gaussian Mechanism",
 * https://arxiv.org/abs/1908.10530).
 *
 * One round: each client joins with probability q (Poisson sampling), its clipped update
 * (sensitivity C) is summed and N(0, σ²C²) noise is added; σ is the noise multiplier. For an
 * integer order α ≥ 2 the RDP of one round is exactly
 *
 *   RDP(α) = 1/(α−1) · log Σ_{i=0..α} C(α,i) · qⁱ · (1−q)^{α−i} · exp((i² − i) / (2σ²)),
 *
 * computed in log space as TF-Privacy's `_compute_log_a_int` and Opacus' `compute_rdp` do.
 * Only integer orders are used when 0 < q < 1 (TF-Privacy also evaluates fractional ones, with an
 * erfc series; omitting them can only make ε slightly larger, i.e. more conservative). With
 * q = 1 the mechanism is the plain Gaussian and RDP(α) = α/(2σ²) for any real α > 1.
 * RDP composes by addition over rounds, also across rounds with different q and σ.
 *
 * Conversion to (ε, δ), minimised over the orders:
 * - `'improved'` (the default): ε = RDP(α) + log(1 − 1/α) − log(δ·α)/(α − 1)
 *   (Balle et al. 2020, "Hypothesis Testing Interpretations and Rényi Differential Privacy",
 *   Theorem 21; what TF-Privacy's `get_privacy_spent` and Opacus use today), with ε = 0 when
 *   δ² ≥ 1 − exp(−RDP) (a KL-divergence bound, as TF-Privacy does);
 * - `'classic'`: ε = RDP(α) + log(1/δ)/(α − 1) (Mironov 2017, Proposition 3).
 * The improved one is never larger.
 *
 * As in McMahan et al. 2018 (and TensorFlow Federated), sampling a fixed number m of K clients per
 * round is accounted as Poisson sampling with q = m/K.
 *
 * @packageDocumentation
 */

import { PlexusError } from '../../errors.js'

export type EpsilonConversion = 'improved' | 'classic'

/** One accounted round: sampling rate q and noise multiplier σ. */
export interface DpStep {
  q: number
  sigma: number
}

/** The orders evaluated by default: every integer 2…128, then a sparser tail to 1024. */
export const DEFAULT_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 127 }, (_, i) => i + 2),
  160, 192, 256, 320, 384, 512, 768, 1024
])

function logAddExp (a: number, b: number): number {
  if (a === -Infinity) return b
  if (b === -Infinity) return a
  const m = Math.max(a, b)
  return m + Math.log1p(Math.exp(-Math.abs(a - b)))
}

function checkStep (q: number, sigma: number): void {
  if (!(q >= 0 && q <= 1)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`sampling rate q = ${q} must be in [0, 1]`])
  if (!(sigma >= 0) || Number.isNaN(sigma)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`noise multiplier σ = ${sigma} must be ≥ 0`])
}

/** RDP of one round at order α (see the module note). */
export function rdpSampledGaussian (q: number, sigma: number, alpha: number): number {
  checkStep(q, sigma)
  if (!(alpha > 1)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`RDP order α = ${alpha} must be > 1`])
  if (q === 0) return 0
  if (sigma === 0) return Infinity
  if (q === 1) return alpha / (2 * sigma * sigma)
  if (alpha === Infinity) return Infinity
  if (!Number.isInteger(alpha)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`with subsampling only integer orders are computed, got α = ${alpha}`])
  const logQ = Math.log(q)
  const log1mQ = Math.log1p(-q)
  const inv2s2 = 1 / (2 * sigma * sigma)
  let logA = -Infinity
  let logBinom = 0 // log C(α, i), built up term by term
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log(alpha - i + 1) - Math.log(i)
    logA = logAddExp(logA, logBinom + i * logQ + (alpha - i) * log1mQ + (i * i - i) * inv2s2)
  }
  return logA / (alpha - 1)
}

/** RDP at each order after `steps` rounds of one (q, σ): TF-Privacy's `compute_rdp`. */
export function computeRdp (q: number, sigma: number, steps: number, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  if (!Number.isInteger(steps) || steps < 0) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`steps = ${steps} must be a whole number ≥ 0`])
  return orders.map(a => steps === 0 ? 0 : steps * rdpSampledGaussian(q, sigma, a))
}

/** (ε, the order that gave it) from RDP values at the given orders, for a target δ. */
export function rdpToEpsilon (orders: readonly number[], rdp: readonly number[], delta: number, conversion: EpsilonConversion = 'improved'): { epsilon: number, order: number } {
  if (!(delta > 0 && delta < 1)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`δ = ${delta} must be in (0, 1)`])
  if (orders.length !== rdp.length || orders.length === 0) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', ['orders and RDP values must be non-empty and of one length'])
  let best = { epsilon: Infinity, order: Number.NaN }
  orders.forEach((a, k) => {
    const r = rdp[k]!
    if (!(r >= 0)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`RDP value ${r} at order ${a} must be ≥ 0`])
    let eps: number
    if (conversion === 'classic') {
      eps = r + Math.log(1 / delta) / (a - 1)
    } else if (delta * delta + Math.expm1(-r) >= 0) {
      eps = 0
    } else if (a <= 1.01) {
      eps = Infinity // the bound is numerically useless this close to 1 (TF-Privacy skips it too)
    } else {
      eps = Math.max(0, r + Math.log1p(-1 / a) - Math.log(delta * a) / (a - 1))
    }
    if (eps < best.epsilon) best = { epsilon: eps, order: a }
  })
  return best
}

/** RDP summed over heterogeneous rounds, each distinct (q, σ) computed once. */
export function composeRdp (steps: readonly DpStep[], orders: readonly number[] = DEFAULT_ORDERS): number[] {
  const counts = new Map<string, { q: number, sigma: number, n: number }>()
  for (const s of steps) {
    checkStep(s.q, s.sigma)
    const key = `${s.q}/${s.sigma}`
    const c = counts.get(key)
    if (c != null) c.n++
    else counts.set(key, { q: s.q, sigma: s.sigma, n: 1 })
  }
  const total = orders.map(() => 0)
  for (const c of counts.values()) {
    computeRdp(c.q, c.sigma, c.n, orders).forEach((r, k) => { total[k]! += r })
  }
  return total
}

/** ε after the given rounds, at δ (0 for no rounds). */
export function epsilonFor (steps: readonly DpStep[], delta: number, options: { orders?: readonly number[], conversion?: EpsilonConversion } = {}): number {
  const orders = options.orders ?? DEFAULT_ORDERS
  return rdpToEpsilon(orders, composeRdp(steps, orders), delta, options.conversion).epsilon
}

/**
 * Tracks the privacy spent by a job round by round. `state()` / `restore()` carry it across a
 * coordinator restart; {@link RdpAccountant.epsilonIfStep} tells whether the next round still fits
 * a budget before it runs.
 */
export class RdpAccountant {
  readonly delta: number
  readonly orders: readonly number[]
  readonly conversion: EpsilonConversion
  #rdp: number[]
  #steps: DpStep[] = []

  constructor (options: { delta: number, orders?: readonly number[], conversion?: EpsilonConversion }) {
    this.delta = options.delta
    this.orders = options.orders ?? DEFAULT_ORDERS
    this.conversion = options.conversion ?? 'improved'
    rdpToEpsilon(this.orders, this.orders.map(() => 0), this.delta, this.conversion) // validates δ
    this.#rdp = this.orders.map(() => 0)
  }

  /** Records `count` rounds of (q, σ). */
  step (q: number, sigma: number, count = 1): void {
    computeRdp(q, sigma, count, this.orders).forEach((r, k) => { this.#rdp[k]! += r })
    for (let i = 0; i < count; i++) this.#steps.push({ q, sigma })
  }

  get rounds (): number {
    return this.#steps.length
  }

  /** (ε, best order) spent so far. */
  spent (): { epsilon: number, order: number } {
    return rdpToEpsilon(this.orders, this.#rdp, this.delta, this.conversion)
  }

  get epsilon (): number {
    return this.spent().epsilon
  }

  /** ε if one more round of (q, σ) ran, without recording it. */
  epsilonIfStep (q: number, sigma: number): number {
    const next = computeRdp(q, sigma, 1, this.orders).map((r, k) => r + this.#rdp[k]!)
    return rdpToEpsilon(this.orders, next, this.delta, this.conversion).epsilon
  }

  state (): { steps: DpStep[] } {
    return { steps: this.#steps.map(s => ({ ...s })) }
  }

  restore (state: { steps: readonly DpStep[] }): void {
    this.#rdp = composeRdp(state.steps, this.orders)
    this.#steps = state.steps.map(s => ({ q: s.q, sigma: s.sigma }))
  }
}
