/**
 * The tally of a proposal, a pure function of the proposal and the votes: the same inputs in any
 * order give the same result on every node. Integer arithmetic only (weights are bigints,
 * quorum and threshold are taken in parts per million).
 *
 * - A vote counts when its signature verifies, it names the proposal, its voter is in the
 *   electorate, and it was signed within [start, end].
 * - A voter's latest vote counts (by signing time, then by id); earlier ones are replaced.
 * - Quorum: yes + no + abstain ≥ quorum × the electorate's weight.
 * - Threshold: yes > threshold × (yes + no).
 *
 * @packageDocumentation
 */
import { verifyRecordWithJson, type SignedRecord } from '../ledger/records.js'
import type { Choice, Proposal } from './proposals.js'
import { voteOf, type Vote } from './proposals.js'

const PPM = 1_000_000n

export interface Tally {
  proposal: string
  eligible: string
  yes: string
  no: string
  abstain: string
  /** Voters whose vote counted, with their choice, sorted by peer id. */
  counted: Array<{ voter: string, choice: Choice, vote: string }>
  /** Votes that did not count (or were replaced), by reason. */
  ignored: Record<string, number>
  quorumMet: boolean
  thresholdMet: boolean
  passed: boolean
}

const ppm = (share: number): bigint => BigInt(Math.round(share * 1_000_000))

export function tally (proposal: Proposal, records: Iterable<SignedRecord>): Tally {
  const weights = new Map(proposal.data.electorate.map(v => [v.peer, BigInt(v.weight)]))
  const ignored: Record<string, number> = {}
  const skip = (why: string): void => { ignored[why] = (ignored[why] ?? 0) + 1 }
  const latest = new Map<string, Vote>()
  const seen = new Set<string>()
  for (const r of records) {
    let vote: Vote
    try {
      vote = voteOf(verifyRecordWithJson(r).record)
    } catch {
      skip('invalid'); continue
    }
    if (seen.has(vote.id)) { skip('duplicate'); continue }
    seen.add(vote.id)
    if (vote.data.proposal !== proposal.id) { skip('other-proposal'); continue }
    if (!weights.has(vote.voter)) { skip('not-eligible'); continue }
    if (vote.time < proposal.start) { skip('before-start'); continue }
    if (vote.time > proposal.data.end) { skip('after-end'); continue }
    const prev = latest.get(vote.voter)
    if (prev == null) { latest.set(vote.voter, vote); continue }
    const newer = vote.time > prev.time || (vote.time === prev.time && vote.id > prev.id)
    latest.set(vote.voter, newer ? vote : prev)
    skip('replaced')
  }
  const sums: Record<Choice, bigint> = { yes: 0n, no: 0n, abstain: 0n }
  for (const v of latest.values()) sums[v.data.choice] += weights.get(v.voter)!
  let eligible = 0n
  for (const w of weights.values()) eligible += w
  const cast = sums.yes + sums.no + sums.abstain
  const quorumMet = eligible > 0n && cast * PPM >= ppm(proposal.data.quorum) * eligible
  const thresholdMet = sums.yes * PPM > ppm(proposal.data.threshold) * (sums.yes + sums.no)
  return {
    proposal: proposal.id,
    eligible: eligible.toString(),
    yes: sums.yes.toString(),
    no: sums.no.toString(),
    abstain: sums.abstain.toString(),
    counted: [...latest.values()].sort((a, b) => a.voter < b.voter ? -1 : 1).map(v => ({ voter: v.voter, choice: v.data.choice, vote: v.id })),
    ignored,
    quorumMet,
    thresholdMet,
    passed: quorumMet && thresholdMet
  }
}
