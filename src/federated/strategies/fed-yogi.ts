/**
 * FedYogi (Reddi et al. 2021, https://arxiv.org/abs/2003.00295; Yogi: Zaheer et al. 2018):
 * v ← v − (1 − β₂)·Δ²·sign(v − Δ²), which grows v additively rather than multiplicatively.
 *
 * @packageDocumentation
 */

import type { Strategy } from '../types.js'
import { fedOptStrategy, type FedOptParams } from './apply-delta.js'

export function fedYogi (params: FedOptParams): Strategy {
  return fedOptStrategy('fedyogi', params, (v, d2, beta2) => v - (1 - beta2) * d2 * Math.sign(v - d2))
}
