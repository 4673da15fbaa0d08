/**
 * Deterministic reward settlement. Every node that holds the same receipts computes the same
 * epoch table, bit for bit, and the same Merkle root: integer arithmetic only (micro-tokens as
 * bigint), receipts deduplicated and sorted, rows ordered by peer id.
 *
 * **Emission.** Each node can earn at most 1,500 tokens over 36 months (a month is 365.25 / 12
 * days), released evenly from genesis: by time t a node can have been offered at most
 * ⌊1,500,000,000 µ × t / 36 months⌋. Epoch e (of `epochSeconds`, starting at genesis) therefore
 * has the per-node cap released(end) − released(start): caps differ by at most one micro-token,
 * add up to exactly 1,500 tokens, and are zero after the 36 months. What a node does not earn in an
 * epoch is not carried over.
 *
 * **Split.** A node is eligible in an epoch when it has points. The pool is cap × eligible nodes.
 * Each node gets ⌊pool × its points / all points⌋, capped at the cap: a node with at least the
 * average contribution earns the full cap, others in proportion; what the cap cuts off is not
 * minted. So no node ever exceeds its cap and no epoch pays more than its pool.
 *
 * **Points.** From verified receipts whose `endedAt` falls in the epoch, credited to the provider:
 * prompt and completion tokens served (inference), samples trained (fl-round), queries answered
 * (stats-query), each times a weight (parameters, to become votable). Uptime points come from peer
 * scores gathered by commit-then-reveal (`ScoreRound`): the median of the scores revealed for a
 * node (per mille) times the uptime weight.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { canonicalJson, signPayload, signingBytes } from '../crypto/signing.js'
import { PlexusError } from '../errors.js'
import { SCORE_COMMIT_DOMAIN } from './constants.js'
import { MerkleTree, toHex } from './merkle.js'
import { verifyByPeer, type PeerSigner } from './peer-keys.js'
import { verifyReceipt, type SignedReceipt } from './receipts.js'

export const MICRO_PER_TOKEN = 1_000_000n
/** 365.25 days / 12, in seconds. */
export const MONTH_SECONDS = 2_629_800
export const EMISSION_SECONDS = 36 * MONTH_SECONDS
export const MAX_TOKENS_PER_NODE = 1500n

export interface RewardWeights {
  promptToken: number
  completionToken: number
  flSample: number
  statsQuery: number
  /** Per point of median uptime score (scores are per mille). */
  uptime: number
}

/** Generation costs more than reading the prompt; a federated sample or a query is more work than a token. */
export const DEFAULT_WEIGHTS: RewardWeights = { promptToken: 1, completionToken: 4, flSample: 20, statsQuery: 2000, uptime: 10 }

export interface RewardParams {
  /** Start of epoch 0, ms since the Unix epoch. */
  genesisMs: number
  epochSeconds: number
  weights?: RewardWeights
  /** The emission period (default 36 months); tests shorten it. */
  emissionSeconds?: number
  /** Tokens a node can earn over the emission period (default 1,500). */
  tokensPerNode?: bigint
}

interface Resolved { genesisMs: number, epochMs: bigint, emissionMs: bigint, totalMicro: bigint, weights: Record<keyof RewardWeights, bigint> }

function config (why: string): PlexusError {
  return new PlexusError('PLX_ERR_LEDGER_REWARDS_CONFIG', [why])
}

function resolve (p: RewardParams): Resolved {
  const emission = p.emissionSeconds ?? EMISSION_SECONDS
  if (!Number.isSafeInteger(p.genesisMs) || p.genesisMs < 0) throw config('genesisMs must be a whole number of milliseconds')
  if (!Number.isSafeInteger(emission) || emission <= 0) throw config('emissionSeconds must be a positive whole number')
  if (!Number.isSafeInteger(p.epochSeconds) || p.epochSeconds <= 0 || p.epochSeconds > emission) throw config(`epochSeconds must be a whole number from 1 to ${emission}`)
  const total = (p.tokensPerNode ?? MAX_TOKENS_PER_NODE) * MICRO_PER_TOKEN
  if (total < 0n) throw config('tokensPerNode must not be negative')
  const w = p.weights ?? DEFAULT_WEIGHTS
  const weights = {} as Record<keyof RewardWeights, bigint>
  for (const k of Object.keys(DEFAULT_WEIGHTS) as Array<keyof RewardWeights>) {
    const v = w[k]
    if (!Number.isSafeInteger(v) || v < 0) throw config(`weight ${k} must be a non-negative whole number`)
    weights[k] = BigInt(v)
  }
  return { genesisMs: p.genesisMs, epochMs: BigInt(p.epochSeconds) * 1000n, emissionMs: BigInt(emission) * 1000n, totalMicro: total, weights }
}

/** The epoch containing `timeMs` (−1 before genesis). */
export function epochOf (p: RewardParams, timeMs: number): number {
  const r = resolve(p)
  if (timeMs < r.genesisMs) return -1
  return Number((BigInt(timeMs) - BigInt(r.genesisMs)) / r.epochMs)
}

/** [start, end) of an epoch, in ms. */
export function epochBounds (p: RewardParams, epoch: number): { start: number, end: number } {
  const r = resolve(p)
  const start = BigInt(r.genesisMs) + BigInt(epoch) * r.epochMs
  return { start: Number(start), end: Number(start + r.epochMs) }
}

/** Epochs with a non-zero cap (the last may be partial). */
export function emissionEpochs (p: RewardParams): number {
  const r = resolve(p)
  return Number((r.emissionMs + r.epochMs - 1n) / r.epochMs)
}

function released (r: Resolved, elapsedMs: bigint): bigint {
  const t = elapsedMs < r.emissionMs ? elapsedMs : r.emissionMs
  return (r.totalMicro * t) / r.emissionMs
}

/** The most one node can earn in `epoch`, in micro-tokens. */
export function nodeCap (p: RewardParams, epoch: number): bigint {
  const r = resolve(p)
  if (!Number.isSafeInteger(epoch) || epoch < 0) return 0n
  const e = BigInt(epoch)
  return released(r, (e + 1n) * r.epochMs) - released(r, e * r.epochMs)
}

export interface EpochPoints {
  points: Map<string, bigint>
  /** Receipts counted, and refused (bad signatures, malformed, conflicting ids). */
  counted: number
  rejected: number
}

/**
 * Points per provider and epoch (by `endedAt`) from receipts in any order. Every receipt is
 * verified once; copies of one receipt (the provider's and the requester's logs both hold it)
 * count once; two different receipts with one id count for neither.
 */
export function tallyReceipts (p: RewardParams, receipts: Iterable<unknown>): Map<number, EpochPoints> {
  const r = resolve(p)
  const byId = new Map<string, { text: string, receipt: SignedReceipt } | null>()
  let rejected = 0
  for (const value of receipts) {
    let receipt: SignedReceipt
    try {
      receipt = verifyReceipt(value)
    } catch {
      rejected++
      continue
    }
    const text = canonicalJson(receipt)
    const seen = byId.get(receipt.body.id)
    if (seen === undefined) byId.set(receipt.body.id, { text, receipt })
    else if (seen != null && seen.text !== text) byId.set(receipt.body.id, null)
  }
  const out = new Map<number, EpochPoints>()
  const epoch = (e: number): EpochPoints => {
    let t = out.get(e)
    if (t == null) { t = { points: new Map(), counted: 0, rejected: 0 }; out.set(e, t) }
    return t
  }
  for (const entry of byId.values()) {
    if (entry == null) { rejected++; continue }
    const b = entry.receipt.body
    const e = epochOf(p, b.endedAt)
    if (e < 0) continue
    const t = epoch(e)
    t.counted++
    const n = b.kind === 'inference'
      ? BigInt(b.promptTokens) * r.weights.promptToken + BigInt(b.completionTokens) * r.weights.completionToken
      : b.kind === 'fl-round' ? BigInt(b.samples) * r.weights.flSample : BigInt(b.queries) * r.weights.statsQuery
    if (n > 0n) t.points.set(b.provider, (t.points.get(b.provider) ?? 0n) + n)
  }
  // Refusals belong to no epoch; report them with every epoch tallied.
  for (const t of out.values()) t.rejected = rejected
  return out
}

/** Points per provider for one epoch, plus uptime points from peer-score medians (per mille). */
export function pointsFromReceipts (p: RewardParams, epoch: number, receipts: Iterable<unknown>, uptime: ReadonlyMap<string, number> = new Map()): EpochPoints {
  const all = tallyReceipts(p, receipts)
  const t = all.get(epoch) ?? { points: new Map<string, bigint>(), counted: 0, rejected: [...all.values()][0]?.rejected ?? 0 }
  return addUptime(p, t, uptime)
}

/** Adds uptime points (median peer score × the uptime weight) to an epoch's points. */
export function addUptime (p: RewardParams, t: EpochPoints, uptime: ReadonlyMap<string, number>): EpochPoints {
  const w = resolve(p).weights.uptime
  const points = new Map(t.points)
  for (const [peer, score] of uptime) {
    if (Number.isSafeInteger(score) && score > 0) points.set(peer, (points.get(peer) ?? 0n) + BigInt(score) * w)
  }
  return { ...t, points }
}

export interface RewardRow { peer: string, points: string, rewardMicro: string }

export interface RewardTable {
  epoch: number
  start: number
  end: number
  capMicro: string
  poolMicro: string
  paidMicro: string
  totalPoints: string
  /** Eligible nodes (points > 0), by peer id. */
  rows: RewardRow[]
  /** RFC 9162 root over the canonical JSON of each row. */
  root: string
}

/** Splits the epoch's pool by points (see the module comment). */
export function settleEpoch (p: RewardParams, epoch: number, points: ReadonlyMap<string, bigint>): RewardTable {
  const cap = nodeCap(p, epoch)
  const eligible = [...points].filter(([, v]) => v > 0n).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const total = eligible.reduce((s, [, v]) => s + v, 0n)
  const pool = cap * BigInt(eligible.length)
  let paid = 0n
  const rows = eligible.map(([peer, v]) => {
    const share = (pool * v) / total
    const reward = share < cap ? share : cap
    paid += reward
    return { peer, points: v.toString(), rewardMicro: reward.toString() }
  })
  const { start, end } = epochBounds(p, epoch)
  return { epoch, start, end, capMicro: cap.toString(), poolMicro: pool.toString(), paidMicro: paid.toString(), totalPoints: total.toString(), rows, root: rewardRoot(epoch, rows) }
}

/** The Merkle root of a table's rows (each leaf: canonical JSON of { epoch, ...row }). */
export function rewardRoot (epoch: number, rows: readonly RewardRow[]): string {
  const tree = new MerkleTree()
  for (const row of rows) tree.append(new TextEncoder().encode(canonicalJson({ epoch, ...row })))
  return toHex(tree.root())
}

/** Balances in micro-tokens: the sum of settled epochs (each epoch counted once). */
export function balances (tables: Iterable<RewardTable>): Map<string, bigint> {
  const seen = new Set<number>()
  const out = new Map<string, bigint>()
  for (const t of tables) {
    if (seen.has(t.epoch)) continue
    seen.add(t.epoch)
    for (const row of t.rows) out.set(row.peer, (out.get(row.peer) ?? 0n) + BigInt(row.rewardMicro))
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Commit-then-reveal peer scores

const ScoreCommitSchema = z.strictObject({
  v: z.literal(1),
  round: z.string().min(1).max(128),
  scorer: z.string().min(1).max(128),
  subject: z.string().min(1).max(128),
  commitment: z.string().regex(/^[0-9a-f]{64}$/)
})
export const SignedScoreCommitSchema = z.strictObject({ commit: ScoreCommitSchema, signature: z.string().max(128) })
export type SignedScoreCommit = z.output<typeof SignedScoreCommitSchema>

export const ScoreRevealSchema = z.strictObject({
  v: z.literal(1),
  round: z.string().min(1).max(128),
  scorer: z.string().min(1).max(128),
  subject: z.string().min(1).max(128),
  /** Per mille (0–1000). */
  score: z.number().int().min(0).max(1000),
  salt: z.string().regex(/^[A-Za-z0-9_-]{22,128}$/, 'at least 16 random bytes, base64url')
})
export type ScoreReveal = z.output<typeof ScoreRevealSchema>

/**
 * H(domain ‖ round ‖ scorer ‖ subject ‖ score ‖ salt). The scorer is inside the hash, so copying
 * another scorer's commitment is useless: it can only be opened by a reveal naming that scorer.
 */
export function scoreCommitment (reveal: Omit<ScoreReveal, 'v'>): string {
  return createHash('sha256').update(signingBytes(SCORE_COMMIT_DOMAIN, { v: 1, ...reveal })).digest('hex')
}

/** A scorer's commitment, signed, and the reveal to send later. */
export function commitScore (scorer: PeerSigner, round: string, subject: string, score: number, salt: string): { commit: SignedScoreCommit, reveal: ScoreReveal } {
  const parsed = ScoreRevealSchema.safeParse({ v: 1, round, scorer: scorer.peerId, subject, score, salt })
  if (!parsed.success) throw new PlexusError('PLX_ERR_LEDGER_SCORE_INVALID', [z.prettifyError(parsed.error).replace(/\n/g, ' ')])
  const reveal = parsed.data
  const commit = { v: 1 as const, round, scorer: scorer.peerId, subject, commitment: scoreCommitment(reveal) }
  return { commit: { commit, signature: signPayload(scorer, SCORE_COMMIT_DOMAIN, commit) }, reveal }
}

export type CommitOutcome = 'accepted' | 'duplicate' | 'late'
export type RevealOutcome = 'accepted' | 'no-commit' | 'early' | 'late' | 'mismatch' | 'duplicate'

/**
 * One round of peer scoring: commitments until `commitDeadline`, reveals from then until
 * `revealDeadline` (ms). Reveals without a commitment, outside the window, or not matching their
 * commitment are ignored (and counted). A scorer's first commitment per subject is the one that
 * counts; nobody scores itself.
 */
export class ScoreRound {
  readonly round: string
  readonly commitDeadline: number
  readonly revealDeadline: number
  readonly #commits = new Map<string, string>()
  readonly #scores = new Map<string, Map<string, number>>()
  readonly ignored: Record<Exclude<CommitOutcome | RevealOutcome, 'accepted'>, number> = { duplicate: 0, late: 0, 'no-commit': 0, early: 0, mismatch: 0 }

  constructor (init: { round: string, commitDeadline: number, revealDeadline: number }) {
    if (!(init.revealDeadline > init.commitDeadline)) throw config('the reveal deadline must come after the commit deadline')
    this.round = init.round
    this.commitDeadline = init.commitDeadline
    this.revealDeadline = init.revealDeadline
  }

  /** Throws `PLX_ERR_LEDGER_SCORE_INVALID` for a malformed or badly signed commitment. */
  commit (value: unknown, now: number): CommitOutcome {
    const r = SignedScoreCommitSchema.safeParse(value)
    if (!r.success) throw new PlexusError('PLX_ERR_LEDGER_SCORE_INVALID', ['malformed commitment'])
    const { commit, signature } = r.data
    if (commit.round !== this.round) throw new PlexusError('PLX_ERR_LEDGER_SCORE_INVALID', [`commitment for round '${commit.round}', not '${this.round}'`])
    if (commit.scorer === commit.subject) throw new PlexusError('PLX_ERR_LEDGER_SCORE_INVALID', ['a node cannot score itself'])
    if (!verifyByPeer(commit.scorer, SCORE_COMMIT_DOMAIN, commit, signature)) throw new PlexusError('PLX_ERR_LEDGER_SCORE_INVALID', [`commitment not signed by ${commit.scorer}`])
    return this.#count(this.#commitChecked(commit.scorer, commit.subject, commit.commitment, now))
  }

  #commitChecked (scorer: string, subject: string, commitment: string, now: number): CommitOutcome {
    if (now >= this.commitDeadline) return 'late'
    const key = `${scorer} ${subject}`
    if (this.#commits.has(key)) return 'duplicate'
    this.#commits.set(key, commitment)
    return 'accepted'
  }

  /** Throws `PLX_ERR_LEDGER_SCORE_INVALID` for a malformed reveal; otherwise says what became of it. */
  reveal (value: unknown, now: number): RevealOutcome {
    const r = ScoreRevealSchema.safeParse(value)
    if (!r.success || r.data.round !== this.round) throw new PlexusError('PLX_ERR_LEDGER_SCORE_INVALID', ['malformed reveal, or for another round'])
    const rev = r.data
    const key = `${rev.scorer} ${rev.subject}`
    const committed = this.#commits.get(key)
    if (committed == null) return this.#count('no-commit')
    if (now < this.commitDeadline) return this.#count('early')
    if (now >= this.revealDeadline) return this.#count('late')
    if (scoreCommitment(rev) !== committed) return this.#count('mismatch')
    let bySubject = this.#scores.get(rev.subject)
    if (bySubject == null) { bySubject = new Map(); this.#scores.set(rev.subject, bySubject) }
    if (bySubject.has(rev.scorer)) return this.#count('duplicate')
    bySubject.set(rev.scorer, rev.score)
    return 'accepted'
  }

  #count<T extends CommitOutcome | RevealOutcome> (outcome: T): T {
    if (outcome !== 'accepted') this.ignored[outcome as Exclude<T, 'accepted'>]++
    return outcome
  }

  /** Per subject, the (lower) median of its revealed scores: one liar cannot move it far. */
  medians (): Map<string, number> {
    const out = new Map<string, number>()
    for (const subject of [...this.#scores.keys()].sort()) {
      const s = [...this.#scores.get(subject)!.values()].sort((a, b) => a - b)
      out.set(subject, s[Math.floor((s.length - 1) / 2)]!)
    }
    return out
  }
}
