/**
 * FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous Networks",
 * https://arxiv.org/abs/1812.06127): the server step of FedAvg; clients add the proximal term
 * μ/2·‖w − w_global‖² to their local loss (see trainer.ts), so local models drift less on
 * non-IID data.
 *
 * @packageDocumentation
 */

import { PlexusError } from '../../errors.js'
import type { Strategy } from '../types.js'
import { statelessStrategy } from './apply-delta.js'

export function fedProx (mu: number): Strategy {
  if (!(mu >= 0 && Number.isFinite(mu))) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`fedprox: μ = ${mu} must be ≥ 0`])
  return statelessStrategy('fedprox', mu, 1)
}
