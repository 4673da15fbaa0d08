/**
 * Job templates: ready-made federated learning setups (model, rounds, local training, privacy)
 * that a job is made from by naming a dataset and its label column. The dashboard's "new job" form
 * and `GET /api/plexus/fl/templates` list them; `jobFromTemplate` binds one to a local dataset.
 * A bound template's `templateHash` is what governance approves (`governance.flTemplates`).
 */
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import type { DataRegistry } from '../data/registry.js'
import { DatasetNameSchema } from '../data/registry.js'
import { parseJobSpec, templateHash, type JobSpec, type JobSpecInput } from './spec.js'

/** Everything of a job spec but its name, dataset and participants. */
export type TemplateSpec = Omit<JobSpecInput, 'name' | 'dataset' | 'participants'>

export interface JobTemplate {
  id: string
  title: string
  description: string
  spec: TemplateSpec
}

export const BUILT_IN_TEMPLATES: readonly JobTemplate[] = Object.freeze([
  {
    id: 'logistic',
    title: 'Logistic regression (FedAvg)',
    description: 'A linear classifier averaged over the sites each round; quick, a good first job.',
    spec: { model: { kind: 'logistic' }, classes: 2, rounds: 10, local: { epochs: 1, batchSize: 16, learningRate: 0.1 } }
  },
  {
    id: 'mlp',
    title: 'Small neural network (FedAvg)',
    description: 'One hidden layer of 16 units; learns non-linear boundaries, needs a few more rounds.',
    spec: { model: { kind: 'mlp', hidden: [16] }, classes: 2, rounds: 15, local: { epochs: 1, batchSize: 16, learningRate: 0.05 } }
  },
  {
    id: 'logistic-dp',
    title: 'Logistic regression with differential privacy',
    description: 'Each site clips its update and the coordinator adds Gaussian noise; ε is reported per round.',
    spec: { model: { kind: 'logistic' }, classes: 2, rounds: 10, local: { epochs: 1, batchSize: 16, learningRate: 0.1 }, dp: { enabled: true, clipNorm: 1, noiseMultiplier: 0.5, delta: 1e-5 } }
  },
  {
    id: 'logistic-secagg',
    title: 'Logistic regression with secure aggregation',
    description: 'The coordinator only ever sees the sum of the sites\' masked updates.',
    spec: { model: { kind: 'logistic' }, classes: 2, rounds: 10, local: { epochs: 1, batchSize: 16, learningRate: 0.1 }, secureAggregation: { enabled: true } }
  }
] satisfies JobTemplate[])

const Column = z.string().min(1).max(128)

/** What a user fills in to make a job of a template. */
export const FromTemplateSchema = z.strictObject({
  template: z.string().min(1).max(64),
  name: z.string().min(1).max(128),
  dataset: DatasetNameSchema,
  label: Column,
  /** Default: every allowed column of the local dataset but the label. */
  features: z.array(Column).min(1).max(4096).optional(),
  classes: z.number().int().min(2).max(10_000).optional(),
  rounds: z.number().int().min(1).max(10_000).optional(),
  participants: z.array(z.string().max(128)).max(1000).optional()
})
export type FromTemplate = z.input<typeof FromTemplateSchema>

export function findTemplate (id: string): JobTemplate {
  const t = BUILT_IN_TEMPLATES.find(x => x.id === id)
  if (t == null) throw new PlexusError('PLX_ERR_FL_TEMPLATE_NOT_FOUND', [id, BUILT_IN_TEMPLATES.map(x => x.id).join(', ')])
  return t
}

/**
 * Binds a template to a dataset of this node: checks the label and features against its allowed
 * columns and returns the parsed job spec and its template hash.
 */
export function jobFromTemplate (input: unknown, data: DataRegistry): { spec: JobSpec, hash: string } {
  const r = FromTemplateSchema.safeParse(input)
  if (!r.success) throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', [z.prettifyError(r.error).replace(/\n/g, '; ')])
  const f = r.data
  const template = findTemplate(f.template)
  const dataset = data.get(f.dataset)
  if (!dataset.allowedColumns.includes(f.label)) {
    throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', [`dataset '${f.dataset}' has no allowed column '${f.label}' for the label`])
  }
  const features = f.features ?? dataset.allowedColumns.filter(c => c !== f.label)
  const missing = features.find(c => !dataset.allowedColumns.includes(c))
  if (missing != null) throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', [`dataset '${f.dataset}' has no allowed column '${missing}'`])
  const spec = parseJobSpec({
    ...template.spec,
    name: f.name,
    dataset: { name: f.dataset, features, label: f.label },
    ...(f.classes != null ? { classes: f.classes } : {}),
    ...(f.rounds != null ? { rounds: f.rounds } : {}),
    ...(f.participants != null ? { participants: f.participants } : {})
  })
  return { spec, hash: templateHash(spec) }
}
