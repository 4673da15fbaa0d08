import { z } from 'zod'

/**
 * Response schemas of the cabinet routes. They list every field sent, so nothing else from a
 * cabinet can reach a response by accident (Fastify serialises only what the schema names).
 */

const EmbeddingModel = z.object({ name: z.string(), sha256: z.string(), dims: z.number() }).nullable()

export const TokenizerSettings = z.object({ stemming: z.boolean(), removeDiacritics: z.boolean(), cjkBigrams: z.boolean() })

export const CabinetStatsSchema = z.object({
  name: z.string(),
  cabinetId: z.string(),
  schemaVersion: z.number(),
  createdAt: z.number(),
  documents: z.number(),
  contents: z.number(),
  chunks: z.number(),
  vectors: z.number(),
  chunksMissingVectors: z.number(),
  embeddingModel: EmbeddingModel,
  tokenizer: TokenizerSettings,
  lastIngestedAt: z.number().nullable(),
  fileBytes: z.number()
})

export const CabinetSummarySchema = z.object({
  name: z.string(),
  locked: z.boolean(),
  fileBytes: z.number(),
  stats: CabinetStatsSchema.nullable()
})

const Progress = z.object({ filesTotal: z.number(), filesDone: z.number(), bytesDone: z.number(), current: z.string().nullable() })
const Report = z.object({
  added: z.number(),
  updated: z.number(),
  unchanged: z.number(),
  removed: z.number(),
  skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
  chunks: z.number()
})

export const IngestJobSchema = z.object({
  id: z.string(),
  cabinet: z.string(),
  state: z.enum(['running', 'done', 'failed', 'cancelled']),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  progress: Progress,
  report: Report.nullable(),
  error: z.string().nullable()
})

export const DocumentSchema = z.object({
  id: z.number(),
  path: z.string(),
  title: z.string().nullable(),
  mime: z.string(),
  mtime: z.number(),
  size: z.number(),
  sha256: z.string(),
  chunkCount: z.number(),
  ingestedAt: z.number()
})

export const HitSchema = z.object({
  cabinet: z.string(),
  documentId: z.number(),
  documentPath: z.string(),
  title: z.string().nullable(),
  mime: z.string(),
  chunkId: z.number(),
  ordinal: z.number(),
  heading: z.string().nullable(),
  score: z.number(),
  snippet: z.string()
})

export const SearchResultSchema = z.object({ mode: z.enum(['lexical', 'vector', 'hybrid']), fallbackReason: z.string().nullable(), hits: z.array(HitSchema) })

export const CitationSchema = z.object({
  index: z.number(),
  cabinet: z.string(),
  documentPath: z.string(),
  title: z.string().nullable(),
  chunkId: z.number(),
  score: z.number(),
  snippet: z.string()
})

export const AskResultSchema = z.object({
  answer: z.string(),
  mode: z.enum(['generated', 'extractive']),
  model: z.string().nullable(),
  citations: z.array(CitationSchema),
  privacy: z.object({ level: z.enum(['private', 'community', 'cloud']), pinnedBy: z.array(z.string()) }),
  usage: z.object({ promptTokens: z.number(), completionTokens: z.number() }).nullable()
})

export const AuditEntrySchema = z.object({
  id: z.number(),
  at: z.number(),
  action: z.string(),
  caller: z.string().nullable(),
  queryHash: z.string().nullable(),
  resultCount: z.number().nullable(),
  detail: z.unknown()
})
