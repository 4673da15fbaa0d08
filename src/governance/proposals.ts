/**
 * Proposals and votes as ledger records (src/ledger/records.ts): a proposal is a `proposal` record
 * signed by its author, a vote a `vote` record signed by the voter. Their ids are derived from
 * their content (author, time, data), so a record cannot be re-labelled, and a replayed record has
 * the id of the original and is stored once.
 *
 * A proposal carries everything its tally needs — the rules it runs under (mode, quorum,
 * threshold), its end and the time it applies, and its electorate with each voter's weight (1 per
 * member, or micro-tokens at the proposal's start) — so any node recomputes the same tally from
 * the proposal and the recorded votes alone.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { canonicalJson } from '../crypto/signing.js'
import { PlexusError } from '../errors.js'
import { PeerIdSchema } from '../p2p/peer-id.js'
import type { SignedRecord } from '../ledger/records.js'
import { checkChange, type Change } from './params.js'

/** At most this many voters per proposal (a proposal record is at most 16 KiB). */
export const MAX_ELECTORATE = 100
export const CHOICES = ['yes', 'no', 'abstain'] as const
export type Choice = (typeof CHOICES)[number]

const Ms = z.number().int().min(0).max(8.64e15)

export const VoterSchema = z.strictObject({ peer: PeerIdSchema, weight: z.string().regex(/^(0|[1-9][0-9]{0,30})$/) })
export type Voter = z.output<typeof VoterSchema>

export const ProposalDataSchema = z.strictObject({
  network: z.string().min(1).max(64),
  title: z.string().min(1).max(200),
  description: z.string().max(4000),
  change: z.unknown(),
  /** Votes count when signed at or before this (ms). */
  end: Ms,
  /** A passed change takes effect at this time (ms). */
  applyAt: Ms,
  mode: z.enum(['member', 'token']),
  quorum: z.number().gt(0).max(1),
  threshold: z.number().min(0.5).lt(1),
  electorate: z.array(VoterSchema).min(1).max(MAX_ELECTORATE)
})
export type ProposalData = Omit<z.output<typeof ProposalDataSchema>, 'change'> & { change: Change }

export const VoteDataSchema = z.strictObject({ proposal: z.string().regex(/^gov-[0-9a-f]{32}$/), choice: z.enum(CHOICES) })
export type VoteData = z.output<typeof VoteDataSchema>

/** What a user submits (`plexus gov propose SPEC.json`). */
export const ProposalSpecSchema = z.strictObject({
  title: z.string().min(1).max(200),
  description: z.string().max(4000).default(''),
  change: z.unknown(),
  /** At least the network's voting period; longer is allowed. */
  votingPeriodSeconds: z.number().int().min(1).max(90 * 86_400).optional(),
  /** At least the network's timelock; longer is allowed. */
  timelockSeconds: z.number().int().min(0).max(90 * 86_400).optional()
})
export type ProposalSpec = z.input<typeof ProposalSpecSchema>

export interface Proposal { id: string, author: string, start: number, data: ProposalData, record: SignedRecord }
export interface Vote { id: string, voter: string, time: number, data: VoteData, record: SignedRecord }

/** The id a record of this author, time and data must have. */
export function contentId (prefix: 'gov' | 'vote', author: string, time: number, data: unknown): string {
  return `${prefix}-${createHash('sha256').update(canonicalJson({ author, time, data })).digest('hex').slice(0, 32)}`
}

function invalid (code: 'PLX_ERR_GOV_PROPOSAL_INVALID' | 'PLX_ERR_GOV_VOTE_INVALID', why: string): PlexusError {
  return new PlexusError(code, [why])
}

/** The data of a record of `kind`, parsed, with its content-derived id checked. */
function dataOf<S extends z.ZodType> (r: SignedRecord, kind: 'proposal' | 'vote', schema: S): z.output<S> {
  const { record } = r
  const code = kind === 'proposal' ? 'PLX_ERR_GOV_PROPOSAL_INVALID' : 'PLX_ERR_GOV_VOTE_INVALID'
  if (record.kind !== kind) throw invalid(code, `a '${record.kind}' record is not a ${kind}`)
  const d = schema.safeParse(record.data)
  if (!d.success) throw invalid(code, z.prettifyError(d.error).replace(/\n/g, ' '))
  if (record.id !== contentId(kind === 'proposal' ? 'gov' : 'vote', record.author, record.time, record.data)) throw invalid(code, `record id '${record.id}' does not match its content`)
  return d.data
}

/** A proposal from a verified record: schema, id, change and times checked. */
export function proposalOf (r: SignedRecord): Proposal {
  const { record } = r
  const data = dataOf(r, 'proposal', ProposalDataSchema)
  let change: Change
  try { change = checkChange(data.change) } catch (err) { throw invalid('PLX_ERR_GOV_PROPOSAL_INVALID', (err as Error).message) }
  if (data.end <= record.time || data.applyAt < data.end) throw invalid('PLX_ERR_GOV_PROPOSAL_INVALID', 'it must end after it starts and apply no earlier than it ends')
  const peers = data.electorate.map(v => v.peer)
  if (peers.some((x, i) => i > 0 && peers[i - 1]! >= x)) throw invalid('PLX_ERR_GOV_PROPOSAL_INVALID', 'the electorate must be sorted by peer id, each once')
  if (data.mode === 'member' && data.electorate.some(v => v.weight !== '1')) throw invalid('PLX_ERR_GOV_PROPOSAL_INVALID', 'in member mode every weight is 1')
  return { id: record.id, author: record.author, start: record.time, data: { ...data, change }, record: r }
}

/** A vote from a verified record: schema and id checked (not yet against its proposal). */
export function voteOf (r: SignedRecord): Vote {
  return { id: r.record.id, voter: r.record.author, time: r.record.time, data: dataOf(r, 'vote', VoteDataSchema), record: r }
}
