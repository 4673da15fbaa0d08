import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { GovernanceService } from '../../governance/service.js'
import { CHOICES } from '../../governance/proposals.js'
import { PlexusError } from '../../errors.js'
import { ErrorSchema } from '../openai/schemas.js'

export interface GovRoutesOptions {
  governance: GovernanceService
}

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 500: ErrorSchema }
const Loose = z.record(z.string(), z.unknown())
const Id = z.object({ id: z.string().max(128) })

/** Community governance: proposals, votes, tallies, the governable parameters. */
export const govRoutes: FastifyPluginAsyncZod<GovRoutesOptions> = async (app, { governance }) => {
  app.get('/api/plexus/gov', {
    schema: { tags: ['governance'], summary: 'Governance rules, members and the governable parameters with their current values', response: { 200: Loose } }
  }, async () => governance.status() as never)

  app.get('/api/plexus/gov/proposals', {
    schema: { tags: ['governance'], summary: 'Every proposal this node knows, newest first', response: { 200: z.object({ proposals: z.array(Loose) }) } }
  }, async () => ({ proposals: governance.list() as never }))

  app.post('/api/plexus/gov/proposals', {
    schema: { tags: ['governance'], summary: 'Propose a change (signed by this node and gossiped); invalid changes are refused', body: Loose, response: { 201: Loose, ...errors } }
  }, async (request, reply) => {
    const view = await governance.propose(request.body)
    return await reply.code(201).send(view as never)
  })

  app.get('/api/plexus/gov/proposals/:id', {
    schema: { tags: ['governance'], summary: 'A proposal with its votes, outcome and applied change', params: Id, response: { 200: Loose, ...errors } }
  }, async (request) => governance.show(request.params.id) as never)

  app.post('/api/plexus/gov/proposals/:id/votes', {
    schema: { tags: ['governance'], summary: 'This node votes yes, no or abstain (a later vote replaces an earlier one until the end)', params: Id, body: Loose, response: { 200: Loose, ...errors } }
  }, async (request) => {
    const r = z.strictObject({ choice: z.enum(CHOICES) }).safeParse(request.body)
    if (!r.success) throw new PlexusError('PLX_ERR_GOV_VOTE_INVALID', [z.prettifyError(r.error).replace(/\n/g, ' ')])
    return await governance.vote(request.params.id, r.data.choice) as never
  })

  app.get('/api/plexus/gov/proposals/:id/tally', {
    schema: { tags: ['governance'], summary: 'The tally recomputed now from the recorded votes, with the signed records for an independent recount', params: Id, response: { 200: Loose, ...errors } }
  }, async (request) => ({ tally: governance.tally(request.params.id), records: governance.records(request.params.id) }) as never)

  app.post('/api/plexus/gov/records', {
    schema: { tags: ['governance'], summary: 'Hand this node a signed proposal or vote record (as gossip would); says whether it was taken', body: Loose, response: { 200: z.object({ result: z.string() }), ...errors } }
  }, async (request) => ({ result: await governance.receive(request.body) }))
}
