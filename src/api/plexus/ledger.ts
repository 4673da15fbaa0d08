import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Books } from '../../ledger/books.js'
import { MAX_RECEIPT_RANGE } from '../../ledger/log.js'
import { ErrorSchema } from '../openai/schemas.js'

export interface LedgerRoutesOptions {
  books: Books
}

const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 500: ErrorSchema, 503: ErrorSchema }
const Loose = z.record(z.string(), z.unknown())

/** The node's books: receipts, heads, proofs, verification and rewards. */
export const ledgerRoutes: FastifyPluginAsyncZod<LedgerRoutesOptions> = async (app, { books }) => {
  app.get('/api/plexus/ledger', {
    schema: { tags: ['ledger'], summary: 'This node\'s log: size, root, latest signed head, heads seen from peers, evidence', response: { 200: Loose } }
  }, async () => ({
    owner: books.log.owner,
    size: books.log.size,
    root: books.log.root(),
    head: books.log.latestHead(),
    seen: books.book.heads().map(h => ({ log: h.sth.head.log, size: h.sth.head.size, root: h.sth.head.root, timestamp: h.sth.head.timestamp, status: h.status })),
    evidence: books.book.equivocations(),
    network: books.service?.stats ?? null,
    spotChecks: books.spotChecks?.stats ?? null
  }))

  app.get('/api/plexus/ledger/receipts', {
    schema: {
      tags: ['ledger'],
      summary: `Receipts [start, end) of this node's log (at most ${MAX_RECEIPT_RANGE})`,
      querystring: z.object({ start: z.coerce.number().int().min(0).default(0), end: z.coerce.number().int().min(0).optional() }),
      response: { 200: z.object({ size: z.number(), receipts: z.array(Loose) }), ...errors }
    }
  }, async (request) => {
    const size = books.log.size
    const start = Math.min(request.query.start, size)
    const end = Math.min(request.query.end ?? size, start + MAX_RECEIPT_RANGE, size)
    return { size, receipts: books.log.receipts(start, Math.max(start, end)) as never }
  })

  app.get('/api/plexus/ledger/receipts/:id', {
    schema: { tags: ['ledger'], summary: 'One receipt with its inclusion proof under the current tree', params: z.object({ id: z.string().max(128) }), response: { 200: Loose, ...errors } }
  }, async (request) => {
    const proof = books.log.inclusionProof(request.params.id)
    return { receipt: books.log.receipt(request.params.id)?.receipt, proof, root: books.log.root(proof.size) }
  })

  app.post('/api/plexus/ledger/heads', {
    schema: { tags: ['ledger'], summary: 'Sign a head of the log now and gossip it', response: { 200: Loose } }
  }, async () => await books.publishHead() as never)

  app.get('/api/plexus/ledger/consistency', {
    schema: {
      tags: ['ledger'],
      summary: 'A signed consistency proof between two sizes of this node\'s log',
      querystring: z.object({ first: z.coerce.number().int().min(0), second: z.coerce.number().int().min(0).optional() }),
      response: { 200: Loose, ...errors }
    }
  }, async (request) => books.log.signedConsistency(request.query.first, request.query.second) as never)

  app.get('/api/plexus/ledger/verify', {
    schema: { tags: ['ledger'], summary: 'Re-check every receipt signature, the tree, this log\'s heads and every head seen', response: { 200: Loose } }
  }, async () => books.verify() as never)

  app.get('/api/plexus/rewards', {
    schema: { tags: ['ledger'], summary: 'Reward tables of the finished epochs and balances, recomputed from this node\'s and its peers\' logs', response: { 200: Loose, ...errors } }
  }, async () => await books.rewards() as never)
}
