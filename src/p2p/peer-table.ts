import { z } from 'zod'
import { PeerIdSchema } from './peer-id.js'
import type { AdvertPayload } from './adverts.js'

/** What this node knows about one peer of its network. */
export interface PeerEntry {
  peerId: string
  advert: AdvertPayload
  /** When the latest advert arrived (ms since epoch). */
  receivedAt: number
  /** The advert is forgotten after this (ms since epoch) unless a newer one arrives. */
  expiresAt: number
  /** Round-trip time to the peer, exponentially weighted (ms); null until measured. */
  latencyMs: number | null
  /** Outcome score: up for served requests, down (faster) for failures. */
  reputation: number
  served: number
  failed: number
  /** Spot checks of this peer's work (re-runs on a third peer) that agreed, and that did not. */
  checksMatched: number
  mismatches: number
  /** Why the router no longer sends this peer work (null: it does). */
  excluded: string | null
}

/** What one spot-check mismatch costs a peer's reputation (a failure costs 3). */
export const MISMATCH_PENALTY = 5
export const REPUTATION_MIN = -20
export const REPUTATION_MAX = 20
const LATENCY_WEIGHT = 0.3

/** Peers whose outcomes are kept across restarts (the busiest ones). */
export const MAX_SAVED_PEERS = 1000

/** What the table keeps per peer: an entry's statistics, and the part of its reputation earned by outcomes. */
type PeerStats = Omit<PeerEntry, 'peerId' | 'advert' | 'receivedAt' | 'expiresAt'> & {
  /** Spot checks are replayed from the ledger at start, so only this part is saved. */
  outcomes: number
}

/** What of a peer's record survives a restart: its outcomes and the reputation they earned (validated when read back). */
export const SavedPeersSchema = z.record(PeerIdSchema, z.strictObject({
  served: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  failed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  outcomes: z.number().int().min(REPUTATION_MIN).max(REPUTATION_MAX)
})).refine(v => Object.keys(v).length <= MAX_SAVED_PEERS, `at most ${MAX_SAVED_PEERS} peers`)
export type SavedPeerStats = z.output<typeof SavedPeersSchema>[string]

const clamp = (v: number): number => Math.max(REPUTATION_MIN, Math.min(REPUTATION_MAX, v))

/**
 * The peers that advertised capabilities, with expiry, latency and reputation. Statistics outlive
 * adverts, so a peer that drops out and comes back keeps its reputation; the outcome part of it is
 * saved by the network (`snapshot`/`restore`), so it outlives a restart too.
 */
export class PeerTable {
  readonly #adverts = new Map<string, { advert: AdvertPayload, receivedAt: number, expiresAt: number }>()
  readonly #stats = new Map<string, PeerStats>()
  #changes = 0
  readonly #now: () => number

  constructor (options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now
  }

  /** Records an advert (already verified). Returns false if it is not newer than the one held. */
  upsert (advert: AdvertPayload): boolean {
    const held = this.#adverts.get(advert.peerId)
    if (held != null && held.advert.seq >= advert.seq) return false
    const now = this.#now()
    this.#adverts.set(advert.peerId, { advert, receivedAt: now, expiresAt: now + advert.ttlSeconds * 1000 })
    return true
  }

  /** The sequence number of the advert held for a peer, or -1. */
  seqOf (peerId: string): number {
    return this.#adverts.get(peerId)?.advert.seq ?? -1
  }

  remove (peerId: string): void {
    this.#adverts.delete(peerId)
  }

  #statsOf (peerId: string): PeerStats {
    let s = this.#stats.get(peerId)
    if (s == null) {
      s = { latencyMs: null, reputation: 0, served: 0, failed: 0, checksMatched: 0, mismatches: 0, excluded: null, outcomes: 0 }
      this.#stats.set(peerId, s)
    }
    return s
  }

  recordLatency (peerId: string, ms: number): void {
    const s = this.#statsOf(peerId)
    s.latencyMs = s.latencyMs == null ? ms : s.latencyMs * (1 - LATENCY_WEIGHT) + ms * LATENCY_WEIGHT
  }

  /** A request the peer completed (+1) or failed/stalled/refused (−3): failures weigh more. */
  recordOutcome (peerId: string, ok: boolean): void {
    const s = this.#statsOf(peerId)
    if (ok) s.served++
    else s.failed++
    s.reputation = clamp(s.reputation + (ok ? 1 : -3))
    s.outcomes = clamp(s.outcomes + (ok ? 1 : -3))
    this.#changes++
  }

  /** Counts changes worth saving (outcomes), so a saver can tell whether anything is new. */
  get changes (): number { return this.#changes }

  /** The outcomes of the busiest MAX_SAVED_PEERS peers, to save. */
  snapshot (): Record<string, SavedPeerStats> {
    const busy = [...this.#stats].filter(([, s]) => s.served + s.failed > 0)
      .sort(([a, x], [b, y]) => (y.served + y.failed) - (x.served + x.failed) || (a < b ? -1 : 1))
      .slice(0, MAX_SAVED_PEERS)
    return Object.fromEntries(busy.map(([id, s]) => [id, { served: s.served, failed: s.failed, outcomes: s.outcomes }]))
  }

  /** Takes back saved outcomes (added to what this table holds). */
  restore (saved: Record<string, SavedPeerStats>): void {
    for (const [id, v] of Object.entries(saved)) {
      const s = this.#statsOf(id)
      s.served += v.served
      s.failed += v.failed
      s.outcomes = clamp(s.outcomes + v.outcomes)
      s.reputation = clamp(s.reputation + v.outcomes)
    }
  }

  /**
   * The outcome of a spot check of the peer's work. A mismatch costs reputation; the
   * `maxMismatches`-th excludes the peer from routing for as long as this table lives.
   */
  recordCheck (peerId: string, match: boolean, maxMismatches: number, evidence = ''): void {
    const s = this.#statsOf(peerId)
    if (match) { s.checksMatched++; return }
    s.mismatches++
    s.reputation = clamp(s.reputation - MISMATCH_PENALTY)
    if (s.mismatches >= maxMismatches && s.excluded == null) {
      s.excluded = `${s.mismatches} spot-check mismatch${s.mismatches === 1 ? '' : 'es'}: outputs differ from a re-run on another peer${evidence !== '' ? ` (last: ${evidence})` : ''}`
    }
  }

  /** Why a peer is excluded from routing, or null. */
  excludedWhy (peerId: string): string | null {
    return this.#stats.get(peerId)?.excluded ?? null
  }

  get (peerId: string): PeerEntry | null {
    const held = this.#adverts.get(peerId)
    if (held == null || held.expiresAt <= this.#now()) return null
    const { outcomes: _outcomes, ...stats } = this.#statsOf(peerId)
    return { peerId, ...held, ...stats }
  }

  /** Live entries (expired adverts are dropped on the way). */
  list (): PeerEntry[] {
    this.prune()
    return [...this.#adverts.keys()].map(id => this.get(id)).filter((e): e is PeerEntry => e != null)
  }

  prune (): number {
    const now = this.#now()
    let n = 0
    for (const [id, held] of this.#adverts) {
      if (held.expiresAt <= now) { this.#adverts.delete(id); n++ }
    }
    return n
  }

  get size (): number { return this.list().length }
}
