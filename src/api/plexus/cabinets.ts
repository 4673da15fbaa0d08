import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { CabinetService } from '../../cabinets/service.js'
import { SearchFiltersSchema } from '../../cabinets/retrieval/filters.js'
import { MAX_QUERY_CHARS, MAX_TOP_K, MAX_PASSPHRASE_CHARS } from '../../cabinets/constants.js'
import { requestedLevel } from '../../router/privacy.js'
import { ErrorSchema } from '../openai/schemas.js'
import { CabinetSummarySchema, CabinetStatsSchema, IngestJobSchema, DocumentSchema, SearchResultSchema, AskResultSchema, AuditEntrySchema, TokenizerSettings } from './cabinet-schemas.js'

export interface CabinetRoutesOptions {
  cabinets: CabinetService
}

/** Who made a request, as recorded in a cabinet's audit log (never the key itself). */
export function callerId (request: FastifyRequest): string {
  const c = request.caller
  if (c == null) return 'unknown'
  if (c.kind === 'key') return `key:${c.id}`
  if (c.kind === 'local') return 'local-cli'
  return `anonymous:${c.address}`
}

const Name = z.object({ name: z.string().min(1).max(64) })
const Passphrase = z.string().min(1).max(MAX_PASSPHRASE_CHARS)
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 423: ErrorSchema, 500: ErrorSchema }

const SearchBody = z.object({
  query: z.string().min(1).max(MAX_QUERY_CHARS),
  top_k: z.number().int().min(1).max(MAX_TOP_K).optional(),
  mode: z.enum(['lexical', 'vector', 'hybrid']).optional(),
  filters: SearchFiltersSchema.optional()
})

const AskBody = z.object({
  question: z.string().min(1).max(MAX_QUERY_CHARS),
  top_k: z.number().int().min(1).max(MAX_TOP_K).optional(),
  model: z.string().min(1).max(256).optional(),
  mode: z.enum(['auto', 'generated', 'extractive']).optional(),
  privacy: z.enum(['private', 'community', 'cloud']).optional()
})

/**
 * Cabinets over HTTP under `/api/plexus/cabinets`. Passphrases travel in request bodies; the node
 * binds to loopback by default and needs an API key elsewhere. A locked cabinet answers 423.
 */
export const cabinetRoutes: FastifyPluginAsyncZod<CabinetRoutesOptions> = async (app, { cabinets }) => {
  const tags = ['cabinets']

  app.get('/', { schema: { tags, summary: 'List cabinets', response: { 200: z.object({ cabinets: z.array(CabinetSummarySchema) }) } } }, async () => ({ cabinets: cabinets.list() }))

  app.post('/', {
    schema: { tags, summary: 'Create a cabinet (left unlocked)', body: z.object({ name: z.string().min(1).max(64), passphrase: Passphrase, embedding_model: z.string().min(1).max(256).optional() }), response: { 201: CabinetSummarySchema, ...errors } }
  }, async (request, reply) => {
    const summary = await cabinets.create(request.body.name, request.body.passphrase, { embeddingModel: request.body.embedding_model })
    return await reply.status(201).send(summary)
  })

  app.get('/:name', { schema: { tags, summary: 'Cabinet summary and statistics', params: Name, response: { 200: CabinetSummarySchema, ...errors } } }, async (request) => {
    return cabinets.summary(request.params.name)
  })

  app.delete('/:name', {
    schema: { tags, summary: 'Delete a cabinet (passphrase required)', params: Name, body: z.object({ passphrase: Passphrase }), response: { 200: z.object({ deleted: z.string() }), ...errors } }
  }, async (request) => {
    await cabinets.remove(request.params.name, request.body.passphrase)
    return { deleted: request.params.name }
  })

  app.post('/:name/unlock', { schema: { tags, summary: 'Unlock with the passphrase', params: Name, body: z.object({ passphrase: Passphrase }), response: { 200: CabinetSummarySchema, ...errors } } }, async (request) =>
    await cabinets.unlock(request.params.name, request.body.passphrase))

  app.post('/:name/lock', { schema: { tags, summary: 'Lock (forget the keys)', params: Name, response: { 200: z.object({ name: z.string(), locked: z.literal(true) }), ...errors } } }, async (request) => {
    cabinets.lock(request.params.name)
    return { name: request.params.name, locked: true as const }
  })

  app.post('/:name/passwd', {
    schema: { tags, summary: 'Change the passphrase (re-wraps the key; data is not re-encrypted)', params: Name, body: z.object({ old_passphrase: Passphrase, new_passphrase: Passphrase }), response: { 200: z.object({ name: z.string(), changed: z.literal(true) }), ...errors } }
  }, async (request) => {
    await cabinets.passwd(request.params.name, request.body.old_passphrase, request.body.new_passphrase)
    return { name: request.params.name, changed: true as const }
  })

  app.post('/:name/reindex', {
    schema: {
      tags,
      summary: 'Rebuild the full-text index with other tokenizer settings (the cabinet must be unlocked)',
      params: Name,
      body: TokenizerSettings.partial().strict(),
      response: { 200: z.object({ name: z.string(), chunks: z.number(), tokenizer: TokenizerSettings }), ...errors }
    }
  }, async (request) => ({ name: request.params.name, ...cabinets.reindex(request.params.name, request.body) }))

  app.put('/:name/embedding-model', {
    schema: { tags, summary: 'Set (or clear, with null) the embedding model; re-embeds in the background', params: Name, body: z.object({ model: z.string().min(1).max(256).nullable() }), response: { 200: CabinetStatsSchema, ...errors } }
  }, async (request) => await cabinets.setEmbeddingModel(request.params.name, request.body.model))

  app.post('/:name/ingest', {
    schema: { tags, summary: 'Ingest files or folders on this machine, as a background job', params: Name, body: z.object({ paths: z.array(z.string().min(1).max(4096)).min(1).max(1000) }), response: { 202: IngestJobSchema, ...errors } }
  }, async (request, reply) => {
    const job = cabinets.startIngest(request.params.name, request.body.paths, { caller: callerId(request) })
    return await reply.status(202).send(job)
  })

  app.get('/:name/jobs/:id', { schema: { tags, summary: 'Progress of an ingest job', params: Name.extend({ id: z.string().max(64) }), response: { 200: IngestJobSchema, ...errors } } }, async (request) =>
    cabinets.job(request.params.id))

  app.delete('/:name/jobs/:id', { schema: { tags, summary: 'Cancel an ingest job', params: Name.extend({ id: z.string().max(64) }), response: { 200: IngestJobSchema, ...errors } } }, async (request) =>
    cabinets.cancelJob(request.params.id))

  app.post('/:name/documents', {
    schema: {
      tags,
      summary: 'Upload one file (base64) and ingest it; parsed in memory, never stored in clear',
      params: Name,
      body: z.object({
        filename: z.string().min(1).max(255).regex(/^[^/\\]+$/, 'a file name, not a path'),
        content_base64: z.string().max(512 * 1024 * 1024).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64'),
        path: z.string().min(1).max(4096).optional()
      }),
      response: { 201: z.object({ path: z.string(), outcome: z.enum(['added', 'updated', 'unchanged']), chunks: z.number() }), 413: ErrorSchema, 415: ErrorSchema, 422: ErrorSchema, ...errors }
    }
  }, async (request, reply) => {
    const b = request.body
    const r = await cabinets.ingestUpload(request.params.name, { fileName: b.filename, bytes: Buffer.from(b.content_base64, 'base64'), path: b.path, caller: callerId(request) })
    return await reply.status(201).send(r)
  })

  app.get('/:name/documents', {
    schema: { tags, summary: 'List documents', params: Name, querystring: z.object({ path_prefix: z.string().max(4096).optional(), limit: z.coerce.number().int().min(1).max(10_000).default(1000), offset: z.coerce.number().int().min(0).default(0) }), response: { 200: z.object({ documents: z.array(DocumentSchema) }), ...errors } }
  }, async (request) => ({ documents: cabinets.documents(request.params.name, { pathPrefix: request.query.path_prefix, limit: request.query.limit, offset: request.query.offset }) }))

  app.post('/:name/search', { schema: { tags, summary: 'Search (lexical BM25, vector, or hybrid)', params: Name, body: SearchBody, response: { 200: SearchResultSchema, ...errors } } }, async (request) => {
    const b = request.body
    return await cabinets.search([request.params.name], b.query, { topK: b.top_k, mode: b.mode, filters: b.filters, caller: callerId(request) })
  })

  app.post('/:name/ask', { schema: { tags, summary: 'Answer a question with citations (private to this node)', params: Name, body: AskBody, response: { 200: AskResultSchema, ...errors } } }, async (request) => {
    const b = request.body
    const level = requestedLevel(request.headers['x-plexus-privacy'] as string | undefined, b.privacy)
    const r = await cabinets.ask([request.params.name], b.question, { topK: b.top_k, model: b.model, mode: b.mode, caller: callerId(request), privacy: level })
    return { ...r, privacy: { level: r.privacy.level, pinnedBy: [...r.privacy.pinnedBy] } }
  })

  app.get('/:name/audit', {
    schema: { tags, summary: 'Audit log (ingest, search, ask)', params: Name, querystring: z.object({ limit: z.coerce.number().int().min(1).max(10_000).default(100) }), response: { 200: z.object({ entries: z.array(AuditEntrySchema) }), ...errors } }
  }, async (request) => ({ entries: cabinets.audit(request.params.name, { limit: request.query.limit }) }))
}
