/**
 * FedAdam (Reddi et al. 2021, https://arxiv.org/abs/2003.00295): v ← β₂·v + (1 − β₂)·Δ².
 *
 * @packageDocumentation
 */

import type { Strategy } from '../types.js'
import { fedOptStrategy, type FedOptParams } from './apply-delta.js'

export function fedAdam (params: FedOptParams): Strategy {
  return fedOptStrategy('fedadam', params, (v, d2, beta2) => beta2 * v + (1 - beta2) * d2)
}
