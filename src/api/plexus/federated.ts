import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { DataRegistry } from '../../data/registry.js'
import type { FederatedService } from '../../federated/service.js'
import { BUILT_IN_TEMPLATES, jobFromTemplate } from '../../federated/templates.js'
import { ErrorSchema } from '../openai/schemas.js'
import { DatasetSchema, FromTemplateJobSchema, JobSummarySchema, ParticipationSchema, RoundSchema, TemplatesSchema } from './federated-schemas.js'

export interface FederatedRoutesOptions {
  data: DataRegistry
  federated: FederatedService
}

const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 500: ErrorSchema, 503: ErrorSchema }
const JobId = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) })

/** Local datasets (`/api/plexus/data`) and federated learning (`/api/plexus/fl`). */
export const federatedRoutes: FastifyPluginAsyncZod<FederatedRoutesOptions> = async (app, { data, federated }) => {
  app.get('/api/plexus/data', { schema: { tags: ['data'], summary: 'List local datasets', response: { 200: z.object({ datasets: z.array(DatasetSchema) }) } } }, async () => ({ datasets: data.list() }))

  app.post('/api/plexus/data', {
    schema: {
      tags: ['data'],
      summary: 'Register a local dataset from a file on the node\'s machine (CSV, TSV, Parquet, JSON)',
      body: z.object({
        name: z.string().min(1).max(64),
        path: z.string().min(1).max(4096),
        allowed_columns: z.array(z.string().min(1).max(128)).max(4096).optional(),
        header: z.boolean().optional(),
        skip_rows: z.number().int().min(0).max(1_000_000).optional(),
        column_names: z.array(z.string().min(1).max(128)).max(4096).optional()
      }),
      response: { 201: DatasetSchema, ...errors }
    }
  }, async (request, reply) => {
    const b = request.body
    const record = await data.add(b.name, b.path, { allowedColumns: b.allowed_columns, header: b.header, skipRows: b.skip_rows, columnNames: b.column_names })
    return await reply.status(201).send(record)
  })

  app.get('/api/plexus/data/:name', { schema: { tags: ['data'], summary: 'One dataset', params: z.object({ name: z.string().max(64) }), response: { 200: DatasetSchema, ...errors } } }, async (request) => data.get(request.params.name))

  app.delete('/api/plexus/data/:name', { schema: { tags: ['data'], summary: 'Remove a dataset', params: z.object({ name: z.string().max(64) }), response: { 200: z.object({ removed: z.string() }), ...errors } } }, async (request) => {
    await data.remove(request.params.name)
    return { removed: request.params.name }
  })

  app.get('/api/plexus/fl/jobs', { schema: { tags: ['federated'], summary: 'Jobs this node coordinates, and jobs it takes part in', response: { 200: z.object({ jobs: z.array(JobSummarySchema), participating: z.array(ParticipationSchema) }) } } }, async () => ({
    jobs: federated.jobs(),
    participating: federated.participations().map(p => ({ jobId: p.jobId, coordinator: p.coordinator, status: p.status, reason: p.reason, receivedAt: p.receivedAt, roundsTrained: p.roundsTrained, lastRound: p.lastRound, bytesSent: p.bytesSent, name: p.spec.name, dataset: p.spec.dataset.name }))
  }))

  app.post('/api/plexus/fl/jobs', {
    schema: { tags: ['federated'], summary: 'Create a job (this node coordinates it); the body is the job spec', body: z.record(z.string(), z.unknown()), response: { 201: JobSummarySchema, ...errors } }
  }, async (request, reply) => await reply.status(201).send(await federated.create(request.body)))

  app.get('/api/plexus/fl/templates', {
    schema: { tags: ['federated'], summary: 'Built-in job templates, and the template hashes governance approved', response: { 200: TemplatesSchema } }
  }, async () => ({ templates: BUILT_IN_TEMPLATES.map(t => ({ ...t, spec: t.spec as Record<string, unknown> })), approved: federated.approvedTemplates() }))

  app.post('/api/plexus/fl/templates/:id/jobs', {
    schema: {
      tags: ['federated'],
      summary: 'Create a job from a template bound to a local dataset: { name, dataset, label, features?, classes?, rounds?, participants? }',
      params: z.object({ id: z.string().max(64) }),
      body: z.record(z.string(), z.unknown()),
      response: { 201: FromTemplateJobSchema, ...errors }
    }
  }, async (request, reply) => {
    const { spec, hash } = jobFromTemplate({ ...request.body, template: request.params.id }, data)
    const job = await federated.create(spec)
    return await reply.status(201).send({ ...job, template: { id: request.params.id, hash, approved: federated.approvedTemplates().includes(hash) } })
  })

  app.get('/api/plexus/fl/jobs/:id', {
    schema: { tags: ['federated'], summary: 'A job: summary and per-round history', params: JobId, response: { 200: z.object({ job: JobSummarySchema, history: z.array(RoundSchema) }), ...errors } }
  }, async (request) => ({ job: federated.job(request.params.id), history: federated.history(request.params.id) }))

  app.get('/api/plexus/fl/jobs/:id/events', {
    schema: { tags: ['federated'], summary: 'Live progress (SSE): one event per finished round and per status change, until the job ends', params: JobId }
  }, async (request, reply) => {
    const id = request.params.id
    const job = federated.job(id)
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' })
    const send = (event: object): void => { reply.raw.write(`data: ${JSON.stringify(event)}\n\n`) }
    for (const record of federated.history(id)) send({ type: 'round', jobId: id, record })
    send({ type: 'status', jobId: id, status: job.status, reason: job.reason })
    if (['completed', 'failed', 'stopped'].includes(job.status)) { reply.raw.end(); return reply }
    await new Promise<void>(resolve => {
      const listener = (event: { type: string, status?: string }): void => {
        send(event)
        if (event.type === 'status' && ['completed', 'failed', 'stopped'].includes(event.status ?? '')) done()
      }
      const done = (): void => { federated.events.off(id, listener); reply.raw.end(); resolve() }
      federated.events.on(id, listener)
      reply.raw.once('close', done)
    })
    return reply
  })

  app.post('/api/plexus/fl/jobs/:id/stop', { schema: { tags: ['federated'], summary: 'Stop a running job', params: JobId, response: { 200: JobSummarySchema, ...errors } } }, async (request) => federated.cancel(request.params.id))

  app.post('/api/plexus/fl/jobs/:id/export', {
    schema: { tags: ['federated'], summary: 'Write the job\'s model in tfjs format to a directory on the node\'s machine', params: JobId, body: z.object({ dir: z.string().min(1).max(4096) }), response: { 200: z.object({ files: z.array(z.string()) }), ...errors } }
  }, async (request) => federated.exportModel(request.params.id, request.body.dir))

  app.post('/api/plexus/fl/offers/:id/join', { schema: { tags: ['federated'], summary: 'Approve a pending offer and join the job', params: JobId, response: { 200: ParticipationSchema.omit({ name: true, dataset: true }).extend({ spec: z.unknown() }), ...errors } } }, async (request) => await federated.join(request.params.id))

  app.post('/api/plexus/fl/offers/:id/decline', { schema: { tags: ['federated'], summary: 'Decline an offer', params: JobId, response: { 200: ParticipationSchema.omit({ name: true, dataset: true }).extend({ spec: z.unknown() }), ...errors } } }, async (request) => federated.decline(request.params.id))
}
