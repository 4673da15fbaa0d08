/**
 * Receipts for federated statistics: after a plain (not secure) compute step, the site signs a
 * `stats-query` receipt as provider and sends it with its reply; the analyst checks that it names
 * both of them, the step it sent and exactly the figures it received, countersigns it and sends it
 * back in a follow-up `stats.receipt` message. Both append it.
 *
 * Hashes: the input is the canonical JSON of the step as sent (query, levels, coefficients); the
 * output is the canonical JSON of `{ vector, suppressed }` as released.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import { canonicalJson } from '../crypto/signing.js'
import { PlexusError } from '../errors.js'
import { sha256Hex, type ProviderSignedReceipt, type ReceiptBody } from './receipts.js'
import type { ReceiptKeeper } from './inference.js'

/** What signs and records statistics receipts on a node (its books): as for inference, any body kind. */
export type StatsReceiptKeeper = Omit<ReceiptKeeper, 'sign'> & { sign: (body: ReceiptBody) => ProviderSignedReceipt }

export function statsInputHash (step: unknown): string {
  return sha256Hex(canonicalJson(step))
}

export function statsOutputHash (release: { vector?: readonly number[], suppressed?: readonly number[] }): string {
  return sha256Hex(canonicalJson({ vector: release.vector ?? [], suppressed: release.suppressed ?? [] }))
}

/** The body a site signs for one released compute step. `rows`: the rows the statistic covered (the dataset's size when a cell was suppressed or noise added). */
export function statsReceiptBody (o: { provider: string, requester: string, step: unknown, release: { vector?: readonly number[], suppressed?: readonly number[] }, rows: number, startedAt: number, endedAt: number }): ReceiptBody {
  const jobId = randomBytes(9).toString('base64url')
  return {
    v: 1,
    kind: 'stats-query',
    id: `sq:${o.provider.slice(-12)}:${jobId}`,
    jobId,
    provider: o.provider,
    requester: o.requester,
    inputSha256: statsInputHash(o.step),
    outputSha256: statsOutputHash(o.release),
    startedAt: o.startedAt,
    endedAt: Math.max(o.startedAt, o.endedAt),
    queries: 1,
    rows: Math.max(0, Math.floor(o.rows))
  }
}

/**
 * The analyst's check of a site's receipt against the step it sent and the figures it received;
 * throws `PLX_ERR_LEDGER_RECEIPT_INVALID` naming the first field that differs.
 */
export function checkStatsReceipt (partial: ProviderSignedReceipt, expected: { provider: string, requester: string, step: unknown, release: { vector?: readonly number[], suppressed?: readonly number[] } }): void {
  const b = partial.body
  const differs = (what: string): never => { throw new PlexusError('PLX_ERR_LEDGER_RECEIPT_INVALID', [`the site's receipt does not match the query: ${what}`]) }
  if (b.kind !== 'stats-query') differs('kind')
  if (b.provider !== expected.provider) differs('provider')
  if (b.requester !== expected.requester) differs('requester')
  if (b.inputSha256 !== statsInputHash(expected.step)) differs('input')
  if (b.outputSha256 !== statsOutputHash(expected.release)) differs('output')
}
