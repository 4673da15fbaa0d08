/**
 * A federated learning job, as its coordinator declares it. Validated with zod; combinations
 * that cannot work together are refused here with a reason.
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { canonicalJson } from '../crypto/signing.js'
import { PlexusError } from '../errors.js'
import { DatasetNameSchema } from '../data/registry.js'
import { StrategySpecSchema } from './strategies/index.js'
import { AggregatorSpecSchema } from './robust/index.js'

const PeerId = z.string().regex(/^[1-9A-HJ-NP-Za-km-z]{46,60}$/, 'a libp2p peer id')
const Column = z.string().min(1).max(128)

export const ModelSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('logistic') }),
  z.strictObject({ kind: z.literal('mlp'), hidden: z.array(z.number().int().min(1).max(4096)).min(1).max(8) }),
  z.strictObject({
    kind: z.literal('tfjs'),
    /** A tfjs layers model topology (`model.toJSON()`); initial weights from `seed` unless given. */
    topology: z.record(z.string(), z.unknown()),
    /** Initial weights, flat float32, base64. */
    weights: z.string().max(64 * 1024 * 1024).optional()
  })
])

export const JobSpecSchema = z.strictObject({
  name: z.string().min(1).max(128),
  model: ModelSpecSchema,
  /** Each participant binds this dataset name locally; the columns must exist there. */
  dataset: z.strictObject({ name: DatasetNameSchema, features: z.array(Column).min(1).max(4096), label: Column }),
  classes: z.number().int().min(2).max(10_000),
  /** Each participant standardises features with its own mean and deviation (nothing is shared). */
  standardize: z.boolean().default(true),
  /** Share of each participant's rows held out for federated evaluation. */
  testFraction: z.number().min(0).max(0.9).default(0.2),
  /** Participants to invite (peer ids); default: every peer of the network. */
  participants: z.array(PeerId).max(1000).optional(),
  rounds: z.number().int().min(1).max(10_000),
  clients: z.strictObject({
    fraction: z.number().gt(0).max(1).default(1),
    min: z.number().int().min(1).max(10_000).default(2)
  }).default({ fraction: 1, min: 2 }),
  local: z.strictObject({
    epochs: z.number().int().min(1).max(1000).default(1),
    batchSize: z.number().int().min(1).max(100_000).default(32),
    learningRate: z.number().positive().max(100).default(0.05)
  }).default({ epochs: 1, batchSize: 32, learningRate: 0.05 }),
  strategy: StrategySpecSchema.default({ name: 'fedavg' }),
  robust: AggregatorSpecSchema.default({ rule: 'mean' }),
  secureAggregation: z.strictObject({
    enabled: z.boolean().default(false),
    /** Fraction of a round's clients that must survive to unmask (Shamir threshold). */
    threshold: z.number().gt(0.5).max(1).default(2 / 3),
    /** Updates are clipped to ±clipRange per coordinate before quantisation. */
    clipRange: z.number().positive().max(1e6).default(4),
    /**
     * FedAvg weights under secure aggregation: a client with n examples counts as min(n, maxWeight)
     * (its update is scaled by that over maxWeight before masking, so ±clipRange still bounds every
     * coordinate). At most 100,000, so that the summed weights of 10,000 clients fit the 32-bit
     * sum. With DP on, every client weighs 1 (see secure-round.ts).
     */
    maxWeight: z.number().int().min(1).max(100_000).default(10_000)
  }).default({ enabled: false, threshold: 2 / 3, clipRange: 4, maxWeight: 10_000 }),
  dp: z.strictObject({
    enabled: z.boolean().default(false),
    /** L2 norm each client update is clipped to. */
    clipNorm: z.number().positive().max(1e6).default(1),
    noiseMultiplier: z.number().min(0).max(1000).default(1),
    delta: z.number().gt(0).lt(1).default(1e-5),
    /** The job stops before a round would push ε beyond this. */
    epsilonBudget: z.number().positive().optional()
  }).default({ enabled: false, clipNorm: 1, noiseMultiplier: 1, delta: 1e-5 }),
  evaluation: z.strictObject({ everyRounds: z.number().int().min(1).max(10_000).default(1) }).default({ everyRounds: 1 }),
  roundDeadlineSeconds: z.number().min(1).max(86_400).default(300),
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0)
})
export type JobSpecInput = z.input<typeof JobSpecSchema>
export type JobSpec = z.output<typeof JobSpecSchema>

/**
 * The hash that names a job's *template*: the sha256 of the canonical JSON of the parsed spec
 * without `participants` (a template is reusable with any set of sites). Governance approves
 * templates by this hash (`governance.flTemplates`); offers of an approved template are accepted
 * without the owner's review. `plexus fl template SPEC.json` prints it.
 */
export function templateHash (spec: JobSpec): string {
  const { participants: _participants, ...rest } = spec as JobSpec & { participants?: unknown }
  return createHash('sha256').update(canonicalJson(rest)).digest('hex')
}

/** Parses a job spec, refusing combinations that cannot work. */
export function parseJobSpec (input: unknown): JobSpec {
  const r = JobSpecSchema.safeParse(input)
  if (!r.success) throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', [z.prettifyError(r.error).replace(/\n/g, '; ')])
  const spec = r.data
  if (spec.secureAggregation.enabled && !['mean', 'norm-bound'].includes(spec.robust.rule)) {
    throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', [`robust rule '${spec.robust.rule}' needs each client's update, which secure aggregation hides; use 'mean' or 'norm-bound' (clipping happens on the clients) with secure aggregation`])
  }
  if (spec.dataset.features.includes(spec.dataset.label)) throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', [`label '${spec.dataset.label}' is also listed as a feature`])
  if (new Set(spec.dataset.features).size !== spec.dataset.features.length) throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', ['features must be unique'])
  if ((spec.robust.rule === 'krum' || spec.robust.rule === 'multi-krum') && spec.clients.min < 2 * spec.robust.byzantine + 3) {
    throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', [`Krum with ${spec.robust.byzantine} Byzantine clients needs at least ${2 * spec.robust.byzantine + 3} clients per round (clients.min)`])
  }
  if (spec.dp.epsilonBudget != null && !spec.dp.enabled) throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', ['dp.epsilonBudget needs dp.enabled'])
  return spec
}
