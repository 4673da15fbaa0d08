/**
 * FedAvg (McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from
 * Decentralized Data", https://arxiv.org/abs/1602.05629): the next global model is the old one
 * plus the round's aggregated delta (optionally scaled by a server learning rate η, default 1).
 *
 * @packageDocumentation
 */

import { PlexusError } from '../../errors.js'
import type { Strategy } from '../types.js'
import { statelessStrategy } from './apply-delta.js'

export function fedAvg (options: { eta?: number } = {}): Strategy {
  const eta = options.eta ?? 1
  if (!(eta > 0 && Number.isFinite(eta))) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`fedavg: server learning rate η = ${eta} must be positive`])
  return statelessStrategy('fedavg', 0, eta)
}
