/**
 * Uptime scores by commit-then-reveal, kept in the logs. After an epoch ends, each node appends to
 * its own log a signed `score-commit` record: a hash of its scores for every peer it probed in
 * that epoch and a secret salt. After the commit window closes it appends a `score-reveal` record
 * with the scores and the salt. Nobody can copy another scorer's scores: when they are revealed,
 * the commit window is over, and the hash names its scorer, so a copied commitment opens for no
 * one else.
 *
 * Anyone reading the logs recomputes the epoch's uptime the same way (`tallyScores`): records are
 * deduplicated and taken in (time, bytes) order; a commitment counts only when made inside the
 * commit window (the scorer's first such one per epoch), a reveal only inside the reveal window,
 * opening its scorer's counting commitment, once. Everything else is ignored and counted by
 * outcome. A subject's uptime is the lower median of the scores revealed for it by others (per
 * mille): one liar cannot move it past an honest score.
 *
 * The windows are judged by each record's `time`, which its author states and signs; the heads
 * its log gossips bind the record to the log from then on.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { signingBytes } from '../crypto/signing.js'
import { PeerIdSchema } from '../p2p/peer-id.js'
import { SCORE_COMMIT_DOMAIN, SCORE_SALT_DOMAIN } from './constants.js'
import type { PeerSigner } from './peer-keys.js'
import { verifyRecordWithJson, type RecordBody, type SignedRecord } from './records.js'
import { epochBounds, scoreWindows, type RewardParams } from './rewards.js'

/** At most this many subjects in one scorer's record (keeps a reveal under MAX_RECORD_BYTES). */
export const MAX_SCORED_PEERS = 200
/** A score is per mille: the share of probes a peer answered. */
export const MAX_SCORE = 1000

const Epoch = z.number().int().min(0).max(2 ** 40)
const Scores = z.record(PeerIdSchema, z.number().int().min(0).max(MAX_SCORE)).refine(s => Object.keys(s).length <= MAX_SCORED_PEERS, `at most ${MAX_SCORED_PEERS} subjects`)
export const ScoreCommitDataSchema = z.strictObject({ epoch: Epoch, commitment: z.string().regex(/^[0-9a-f]{64}$/) })
export const ScoreRevealDataSchema = z.strictObject({ epoch: Epoch, scores: Scores, salt: z.string().regex(/^[A-Za-z0-9_-]{22,128}$/, 'at least 16 bytes, base64url') })
export type UptimeScores = Record<string, number>

/** Why a score record, or one score in a reveal, did not count. */
export const SCORE_OUTCOMES = ['invalid', 'commit-outside-window', 'duplicate', 'no-commit', 'mismatch', 'early', 'late', 'self'] as const
export type ScoreOutcome = (typeof SCORE_OUTCOMES)[number]

export interface ScoreTally {
  /** Per subject, the lower median of the valid revealed scores (per mille), by peer id. */
  uptime: Map<string, number>
  /** Scorers whose reveal counted. */
  scorers: string[]
  /** Records (for `self`: scores) ignored, by reason. */
  ignored: Record<ScoreOutcome, number>
}

/** The record ids of a scorer's commitment and reveal for an epoch (one of each per log). */
export function scoreRecordIds (scorer: string, epoch: number): { commit: string, reveal: string } {
  return { commit: `score-commit:${epoch}:${scorer}`, reveal: `score-reveal:${epoch}:${scorer}` }
}

/** H(domain ‖ canonical { epoch, scorer, scores, salt }): the scorer is inside the hash. */
export function scoreCommitment (scorer: string, epoch: number, scores: UptimeScores, salt: string): string {
  return createHash('sha256').update(signingBytes(SCORE_COMMIT_DOMAIN, { v: 1, epoch, scorer, scores, salt })).digest('hex')
}

/**
 * The scorer's salt for an epoch: a hash of its own (deterministic Ed25519) signature over the
 * epoch, in a domain nothing else signs. Secret until revealed, and the same after a restart.
 */
export function scoreSalt (scorer: PeerSigner, epoch: number): string {
  const signature = scorer.sign(signingBytes(SCORE_SALT_DOMAIN, { epoch, scorer: scorer.peerId }))
  return createHash('sha256').update(signature).digest('base64url')
}

/** Scores kept to the bounds: no self-score, at most MAX_SCORED_PEERS subjects (by peer id), keys sorted. */
export function boundScores (scorer: string, scores: UptimeScores): UptimeScores {
  const out: UptimeScores = {}
  for (const subject of Object.keys(scores).filter(s => s !== scorer).sort().slice(0, MAX_SCORED_PEERS)) out[subject] = scores[subject]!
  return out
}

type Body = Omit<RecordBody, 'v' | 'author'>

/** The `score-commit` record body for `scores` (sign and append it with `Books.note`). */
export function scoreCommitRecord (scorer: PeerSigner, epoch: number, scores: UptimeScores, time: number): Body {
  const commitment = scoreCommitment(scorer.peerId, epoch, boundScores(scorer.peerId, scores), scoreSalt(scorer, epoch))
  return { kind: 'score-commit', id: scoreRecordIds(scorer.peerId, epoch).commit, time, data: { epoch, commitment } }
}

/** The `score-reveal` record body that opens the commitment `scoreCommitRecord` made. */
export function scoreRevealRecord (scorer: PeerSigner, epoch: number, scores: UptimeScores, time: number): Body {
  return { kind: 'score-reveal', id: scoreRecordIds(scorer.peerId, epoch).reveal, time, data: { epoch, scores: boundScores(scorer.peerId, scores), salt: scoreSalt(scorer, epoch) } }
}

export function isScoreRecord (value: unknown): boolean {
  const kind = (value as { record?: { kind?: unknown } } | null)?.record?.kind
  return kind === 'score-commit' || kind === 'score-reveal'
}

/** A count of zero for every outcome. */
export function noneIgnored (): Record<ScoreOutcome, number> {
  return Object.fromEntries(SCORE_OUTCOMES.map(o => [o, 0])) as Record<ScoreOutcome, number>
}

function lowerMedian (values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor((s.length - 1) / 2)]!
}

/**
 * Uptime per epoch from score records in any order, from any logs (copies count once). Values
 * that are not score records are left out; score records that are malformed or badly signed
 * count as `invalid` (in no epoch: reported with every epoch tallied, as receipts' refusals).
 */
export function tallyScores (p: RewardParams, values: Iterable<unknown>): Map<number, ScoreTally> {
  const byJson = new Map<string, SignedRecord>()
  let invalid = 0
  for (const value of values) {
    if (!isScoreRecord(value)) continue
    try {
      const { record, json } = verifyRecordWithJson(value)
      const schema = record.record.kind === 'score-commit' ? ScoreCommitDataSchema : ScoreRevealDataSchema
      if (!schema.safeParse(record.record.data).success) { invalid++; continue }
      byJson.set(json, record)
    } catch {
      invalid++
    }
  }
  const sorted = [...byJson].sort(([ja, a], [jb, b]) => a.record.time - b.record.time || (ja < jb ? -1 : ja > jb ? 1 : 0)).map(([, r]) => r)
  const { commitMs, revealMs } = scoreWindows(p)
  const out = new Map<number, ScoreTally & { commits: Map<string, string>, revealed: Map<string, UptimeScores> }>()
  const epochTally = (e: number): ScoreTally & { commits: Map<string, string>, revealed: Map<string, UptimeScores> } => {
    let t = out.get(e)
    if (t == null) { t = { uptime: new Map(), scorers: [], ignored: noneIgnored(), commits: new Map(), revealed: new Map() }; out.set(e, t) }
    return t
  }
  for (const { record } of sorted) {
    const epoch = (record.data as { epoch: number }).epoch
    const t = epochTally(epoch)
    const { end } = epochBounds(p, epoch)
    const scorer = record.author
    if (record.kind === 'score-commit') {
      if (record.time < end || record.time >= end + commitMs) { t.ignored['commit-outside-window']++; continue }
      if (t.commits.has(scorer)) { t.ignored.duplicate++; continue }
      t.commits.set(scorer, (record.data as z.output<typeof ScoreCommitDataSchema>).commitment)
      continue
    }
    const { scores, salt } = record.data as z.output<typeof ScoreRevealDataSchema>
    const committed = t.commits.get(scorer)
    if (record.time < end + commitMs) { t.ignored.early++; continue }
    if (record.time >= end + commitMs + revealMs) { t.ignored.late++; continue }
    if (committed == null) { t.ignored['no-commit']++; continue }
    if (scoreCommitment(scorer, epoch, scores, salt) !== committed) { t.ignored.mismatch++; continue }
    if (t.revealed.has(scorer)) { t.ignored.duplicate++; continue }
    t.revealed.set(scorer, scores)
  }
  const result = new Map<number, ScoreTally>()
  for (const [epoch, t] of [...out].sort(([a], [b]) => a - b)) {
    const bySubject = new Map<string, number[]>()
    for (const [scorer, scores] of t.revealed) {
      for (const [subject, score] of Object.entries(scores)) {
        if (subject === scorer) { t.ignored.self++; continue }
        const list = bySubject.get(subject)
        if (list == null) bySubject.set(subject, [score])
        else list.push(score)
      }
    }
    const uptime = new Map([...bySubject.keys()].sort().map(subject => [subject, lowerMedian(bySubject.get(subject)!)]))
    t.ignored.invalid = invalid
    result.set(epoch, { uptime, scorers: [...t.revealed.keys()].sort(), ignored: t.ignored })
  }
  return result
}
