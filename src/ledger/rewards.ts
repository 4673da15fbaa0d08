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
 * (stats-query), each times a weight (governable parameters). Uptime points come from the peers'
 * scores, committed and then revealed in their logs (scores.ts): the lower median of the scores
 * revealed for a node (per mille) times the uptime weight.
 *
 * **Settlement time.** Scores of an epoch are committed in the `commitSeconds` after it ends and
 * revealed in the `revealSeconds` after that, so an epoch is settled only when both windows have
 * passed (`settlementTime`); from then on nothing can change its table.
 *
 * @packageDocumentation
 */
import { canonicalJson } from '../crypto/signing.js'
import { PlexusError } from '../errors.js'
import { MerkleTree, toHex } from './merkle.js'
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
  /**
   * The weights in force for an epoch, when they changed over time (a governance change takes
   * effect from the first epoch that starts at or after its time); default: `weights` for all.
   */
  weightsFor?: (epoch: number) => RewardWeights
  /** The emission period (default 36 months); tests shorten it. */
  emissionSeconds?: number
  /** Tokens a node can earn over the emission period (default 1,500). */
  tokensPerNode?: bigint
  /** After an epoch ends: the window for score commitments, then the one for reveals (default 300 s each). */
  commitSeconds?: number
  revealSeconds?: number
}

/** The default commit and reveal windows (as `ledger.commitSeconds`, `ledger.revealSeconds`). */
export const DEFAULT_SCORE_WINDOW_SECONDS = 300

interface Resolved { genesisMs: number, epochMs: bigint, emissionMs: bigint, totalMicro: bigint, weights: Record<keyof RewardWeights, bigint>, commitMs: number, revealMs: number }

function config (why: string): PlexusError {
  return new PlexusError('PLX_ERR_LEDGER_REWARDS_CONFIG', [why])
}

function bigintWeights (w: RewardWeights): Record<keyof RewardWeights, bigint> {
  const weights = {} as Record<keyof RewardWeights, bigint>
  for (const k of Object.keys(DEFAULT_WEIGHTS) as Array<keyof RewardWeights>) {
    const v = w[k]
    if (!Number.isSafeInteger(v) || v < 0) throw config(`weight ${k} must be a non-negative whole number`)
    weights[k] = BigInt(v)
  }
  return weights
}

/** The weights of each epoch asked for, computed once per epoch. */
function weightsByEpoch (p: RewardParams): (epoch: number) => Record<keyof RewardWeights, bigint> {
  const fixed = resolve(p).weights
  if (p.weightsFor == null) return () => fixed
  const seen = new Map<number, Record<keyof RewardWeights, bigint>>()
  return epoch => {
    let w = seen.get(epoch)
    if (w == null) { w = bigintWeights(p.weightsFor!(epoch)); seen.set(epoch, w) }
    return w
  }
}

function resolve (p: RewardParams): Resolved {
  const emission = p.emissionSeconds ?? EMISSION_SECONDS
  if (!Number.isSafeInteger(p.genesisMs) || p.genesisMs < 0) throw config('genesisMs must be a whole number of milliseconds')
  if (!Number.isSafeInteger(emission) || emission <= 0) throw config('emissionSeconds must be a positive whole number')
  if (!Number.isSafeInteger(p.epochSeconds) || p.epochSeconds <= 0 || p.epochSeconds > emission) throw config(`epochSeconds must be a whole number from 1 to ${emission}`)
  const total = (p.tokensPerNode ?? MAX_TOKENS_PER_NODE) * MICRO_PER_TOKEN
  if (total < 0n) throw config('tokensPerNode must not be negative')
  const weights = bigintWeights(p.weights ?? DEFAULT_WEIGHTS)
  const windowMs = (name: string, v: number | undefined): number => {
    const s = v ?? DEFAULT_SCORE_WINDOW_SECONDS
    if (!Number.isSafeInteger(s) || s < 1 || s > EMISSION_SECONDS) throw config(`${name} must be a whole number from 1 to ${EMISSION_SECONDS}`)
    return s * 1000
  }
  const commitMs = windowMs('commitSeconds', p.commitSeconds)
  const revealMs = windowMs('revealSeconds', p.revealSeconds)
  return { genesisMs: p.genesisMs, epochMs: BigInt(p.epochSeconds) * 1000n, emissionMs: BigInt(emission) * 1000n, totalMicro: total, weights, commitMs, revealMs }
}

/** The commit and reveal windows after an epoch, in ms. */
export function scoreWindows (p: RewardParams): { commitMs: number, revealMs: number } {
  const { commitMs, revealMs } = resolve(p)
  return { commitMs, revealMs }
}

/** When an epoch can be settled: its end plus the commit and reveal windows (ms). */
export function settlementTime (p: RewardParams, epoch: number): number {
  const { commitMs, revealMs } = resolve(p)
  return epochBounds(p, epoch).end + commitMs + revealMs
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
  const weightsOf = weightsByEpoch(p)
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
    const w = weightsOf(e)
    const n = b.kind === 'inference'
      ? BigInt(b.promptTokens) * w.promptToken + BigInt(b.completionTokens) * w.completionToken
      : b.kind === 'fl-round' ? BigInt(b.samples) * w.flSample : BigInt(b.queries) * w.statsQuery
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
  return addUptime(p, epoch, t, uptime)
}

/** Adds uptime points (median peer score × the epoch's uptime weight) to an epoch's points. */
export function addUptime (p: RewardParams, epoch: number, t: EpochPoints, uptime: ReadonlyMap<string, number>): EpochPoints {
  const w = weightsByEpoch(p)(epoch).uptime
  const points = new Map(t.points)
  for (const [peer, score] of uptime) {
    if (Number.isSafeInteger(score) && score > 0) points.set(peer, (points.get(peer) ?? 0n) + BigInt(score) * w)
  }
  return { ...t, points }
}

export interface RewardRow {
  peer: string
  points: string
  /** The node's uptime score (median of its peers' revealed scores, per mille), or null when unscored. */
  uptime: number | null
  rewardMicro: string
}

export interface RewardTable {
  epoch: number
  start: number
  end: number
  /** When the table became final: the end plus the commit and reveal windows (ms). */
  settledAt: number
  capMicro: string
  poolMicro: string
  paidMicro: string
  totalPoints: string
  /** Eligible nodes (points > 0), by peer id. */
  rows: RewardRow[]
  /** RFC 9162 root over the canonical JSON of each row. */
  root: string
}

/** Splits the epoch's pool by points (see the module comment); `uptime` fills the rows' uptime column. */
export function settleEpoch (p: RewardParams, epoch: number, points: ReadonlyMap<string, bigint>, uptime: ReadonlyMap<string, number> = new Map()): RewardTable {
  const cap = nodeCap(p, epoch)
  const eligible = [...points].filter(([, v]) => v > 0n).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const total = eligible.reduce((s, [, v]) => s + v, 0n)
  const pool = cap * BigInt(eligible.length)
  let paid = 0n
  const rows = eligible.map(([peer, v]) => {
    const share = (pool * v) / total
    const reward = share < cap ? share : cap
    paid += reward
    return { peer, points: v.toString(), uptime: uptime.get(peer) ?? null, rewardMicro: reward.toString() }
  })
  const { start, end } = epochBounds(p, epoch)
  return { epoch, start, end, settledAt: settlementTime(p, epoch), capMicro: cap.toString(), poolMicro: pool.toString(), paidMicro: paid.toString(), totalPoints: total.toString(), rows, root: rewardRoot(epoch, rows) }
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
