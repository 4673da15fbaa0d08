import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { StatsService } from '../../analytics/service.js'
import { StatsQuerySchema } from '../../analytics/query.js'
import { ErrorSchema } from '../openai/schemas.js'

export interface StatsRoutesOptions {
  stats: StatsService
}

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema, 500: ErrorSchema, 502: ErrorSchema, 503: ErrorSchema }
const PeerList = z.array(z.string().min(1).max(128)).max(256)
// Results are function-specific objects (see src/analytics/pool.ts); described loosely here.
const Result = z.record(z.string(), z.unknown())
const SiteOutcomeSchema = z.object({
  peer: z.string(), status: z.enum(['ok', 'queued', 'refused', 'absent', 'error']), code: z.string().optional(), message: z.string().optional(),
  approval: z.string().optional(), result: Result.optional()
})
const ApprovalSchema = z.object({
  id: z.string(), analyst: z.string(), query: z.record(z.string(), z.unknown()), hash: z.string(), status: z.string(), requestedAt: z.string(), decidedAt: z.string().nullable()
})

/** Federated statistics: queries as an analyst, and the owner's approvals queue and audit log as a site. */
export const statsRoutes: FastifyPluginAsyncZod<StatsRoutesOptions> = async (app, { stats }) => {
  app.post('/api/plexus/stats/query', {
    schema: {
      tags: ['stats'],
      summary: 'Run a federated statistics query across the sites of the network and pool the answers',
      body: StatsQuerySchema.extend({ peers: PeerList.optional(), partial: z.boolean().optional(), secure: z.boolean().optional(), timeout_ms: z.number().int().min(100).max(600_000).optional() }),
      response: { 200: z.object({ id: z.string(), query: Result, sites: z.array(SiteOutcomeSchema), pooled: Result.nullable(), complete: z.boolean(), secure: z.boolean() }), ...errors }
    }
  }, async (request) => {
    const { peers, partial, secure, timeout_ms: timeoutMs, ...query } = request.body
    return await stats.query(query, { peers, partial, secure, timeoutMs }) as never
  })

  app.get('/api/plexus/stats/approvals', {
    schema: { tags: ['stats'], summary: 'Queries from analysts waiting for (or decided by) the owner', response: { 200: z.object({ approvals: z.array(ApprovalSchema) }) } }
  }, async () => ({ approvals: stats.site.approvals() as never }))

  app.post('/api/plexus/stats/approvals/:id/:decision', {
    schema: {
      tags: ['stats'],
      summary: 'Approve or deny a queued query (the analyst then runs it again)',
      params: z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), decision: z.enum(['approve', 'deny']) }),
      response: { 200: ApprovalSchema, ...errors }
    }
  }, async (request) => stats.site.decide(request.params.id, request.params.decision) as never)

  app.get('/api/plexus/stats/audit', {
    schema: {
      tags: ['stats'],
      summary: 'The site\'s audit log: every query, its verdict and what was released',
      querystring: z.object({ limit: z.coerce.number().int().min(1).max(100_000).default(1000) }),
      response: { 200: z.object({ entries: z.array(Result) }) }
    }
  }, async (request) => ({ entries: stats.site.audit(request.query.limit) as never }))
}
