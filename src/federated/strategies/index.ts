/**
 * Server strategies behind {@link Strategy}: FedAvg, FedProx, FedAdam, FedYogi, FedAdagrad, and
 * {@link createStrategy} to build one from a (validated) spec.
 *
 * @packageDocumentation
 */

import { z } from 'zod'
import { PlexusError } from '../../errors.js'
import type { Strategy } from '../types.js'
import { fedAvg } from './fed-avg.js'
import { fedProx } from './fed-prox.js'
import { fedAdam } from './fed-adam.js'
import { fedYogi } from './fed-yogi.js'
import { fedAdagrad } from './fed-adagrad.js'

export { fedAvg, fedProx, fedAdam, fedYogi, fedAdagrad }
export { fedOptStrategy, type FedOptParams } from './apply-delta.js'

/** Defaults of the adaptive optimisers (Reddi et al. tune η, τ per task; these suit small models). */
export const FEDOPT_DEFAULTS = { eta: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 } as const

const eta = z.number().positive().max(10).default(FEDOPT_DEFAULTS.eta)
const beta1 = z.number().min(0).lt(1).default(FEDOPT_DEFAULTS.beta1)
const beta2 = z.number().min(0).lt(1).default(FEDOPT_DEFAULTS.beta2)
const tau = z.number().positive().max(1).default(FEDOPT_DEFAULTS.tau)

/** A strategy and its parameters, as a job spec states it. */
export const StrategySpecSchema = z.discriminatedUnion('name', [
  z.strictObject({ name: z.literal('fedavg'), eta: z.number().positive().max(10).optional() }),
  z.strictObject({ name: z.literal('fedprox'), mu: z.number().min(0).max(100) }),
  z.strictObject({ name: z.literal('fedadam'), eta, beta1, beta2, tau }),
  z.strictObject({ name: z.literal('fedyogi'), eta, beta1, beta2, tau }),
  z.strictObject({ name: z.literal('fedadagrad'), eta, beta1: z.number().min(0).lt(1).default(0), tau })
])
export type StrategySpec = z.input<typeof StrategySpecSchema>

/** Builds the strategy a spec names; throws PLX_ERR_FL_CONFIG_INVALID for a bad spec. */
export function createStrategy (spec: unknown): Strategy {
  const r = StrategySpecSchema.safeParse(spec)
  if (!r.success) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`strategy: ${z.prettifyError(r.error).replace(/\n/g, '; ')}`])
  const s = r.data
  switch (s.name) {
    case 'fedavg': return fedAvg({ eta: s.eta })
    case 'fedprox': return fedProx(s.mu)
    case 'fedadam': return fedAdam(s)
    case 'fedyogi': return fedYogi(s)
    case 'fedadagrad': return fedAdagrad(s)
  }
}
