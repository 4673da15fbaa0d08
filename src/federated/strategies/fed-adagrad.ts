/**
 * FedAdagrad (Reddi et al. 2021, https://arxiv.org/abs/2003.00295): v ← v + Δ². β₂ is unused;
 * β₁ defaults to 0 (no momentum).
 *
 * @packageDocumentation
 */

import type { Strategy } from '../types.js'
import { fedOptStrategy, type FedOptParams } from './apply-delta.js'

export function fedAdagrad (params: Omit<FedOptParams, 'beta2' | 'beta1'> & { beta1?: number }): Strategy {
  return fedOptStrategy('fedadagrad', { ...params, beta1: params.beta1 ?? 0, beta2: 0 }, (v, d2) => v + d2)
}
