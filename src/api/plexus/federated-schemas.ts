/** Response shapes of the federated learning API (`/api/plexus/data`, `/api/plexus/fl`); the dashboard takes its types from here. */
import { z } from 'zod'

export const DatasetSchema = z.object({
  name: z.string(), source: z.string(), sha256: z.string(), rows: z.number(),
  columns: z.array(z.object({ name: z.string(), type: z.string() })), allowedColumns: z.array(z.string()), addedAt: z.string()
})

export const JobSummarySchema = z.object({
  id: z.string(), name: z.string(), role: z.literal('coordinator'), status: z.string(), reason: z.string().nullable(), round: z.number(), rounds: z.number(),
  roster: z.array(z.string()), pending: z.array(z.string()), declined: z.array(z.object({ peer: z.string(), reason: z.string() })),
  parameters: z.number(), epsilon: z.number().nullable(), lastAccuracy: z.number().nullable(), createdAt: z.string(), updatedAt: z.string()
})

export const RoundSchema = z.object({
  round: z.number(), startedAt: z.string(), finishedAt: z.string(), selected: z.array(z.string()), contributed: z.array(z.string()), dropped: z.array(z.string()),
  trainLoss: z.number().nullable(), evaluation: z.object({ loss: z.number(), accuracy: z.number(), numExamples: z.number() }).nullable(), epsilon: z.number().nullable(),
  /** Why the round aborted (secure aggregation below its threshold); the model did not change. */
  aborted: z.string().optional()
})

export const ParticipationSchema = z.object({
  jobId: z.string(), coordinator: z.string(), status: z.string(), reason: z.string().nullable(), receivedAt: z.string(), roundsTrained: z.number(), lastRound: z.number(), bytesSent: z.number(),
  name: z.string(), dataset: z.string()
})

export const TemplateSchema = z.object({ id: z.string(), title: z.string(), description: z.string(), spec: z.record(z.string(), z.unknown()) })
export const TemplatesSchema = z.object({
  templates: z.array(TemplateSchema),
  /** Template hashes governance approved (`governance.flTemplates`): offers of these are joined without review. */
  approved: z.array(z.string())
})
export const FromTemplateJobSchema = JobSummarySchema.extend({ template: z.object({ id: z.string(), hash: z.string(), approved: z.boolean() }) })
