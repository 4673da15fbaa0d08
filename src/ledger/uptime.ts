/**
 * Uptime as a node measures it and scores it. Every `probeIntervalSeconds` the node pings (libp2p
 * ping) each peer it has known in this run and counts, per epoch and peer, the probes answered. A
 * peer that drops out stays on the list, so its silence counts against it. After an epoch ends,
 * the node commits its scores (⌊1000 × answered / sent⌋ per peer) to its log, and after the
 * commit window it reveals them (scores.ts). The scores it committed are kept in the ledger file
 * until revealed, so a restart in between still reveals what was committed. The counts of the
 * current and the previous epoch, and the peers known, are saved there too (each probe round and
 * at stop), so a node restarted during an epoch goes on from what it had counted.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import type { Logger } from '../logger.js'
import { PeerIdSchema } from '../p2p/peer-id.js'
import type { PeerSigner } from './peer-keys.js'
import type { RecordBody } from './records.js'
import { epochBounds, epochOf, scoreWindows, type RewardParams } from './rewards.js'
import { MAX_SCORE, boundScores, scoreCommitRecord, scoreRecordIds, scoreRevealRecord, type UptimeScores } from './scores.js'

export interface UptimeComponents {
  signer: PeerSigner
  /** The peers to probe now (the node's peer table). */
  peers: () => string[]
  /** One libp2p ping; rejects when the peer does not answer. */
  ping: (peer: string, signal: AbortSignal) => Promise<unknown>
  /** Signs and appends a record of this node. */
  note: (body: Omit<RecordBody, 'v' | 'author'>) => unknown
  /** Whether this node's log holds an entry with this id. */
  has: (id: string) => boolean
  /** A small persistent key–value store (the ledger file's meta table). */
  getMeta: (key: string) => string | null
  setMeta: (key: string, value: string | null) => void
  params: () => RewardParams
  probeIntervalSeconds: () => number
  logger: Logger
  now?: () => number
}

/** Longest a probe may take, whatever the interval. */
const MAX_PROBE_MS = 5000
/** Shortest time a probe is given (a busy machine answers slowly, not never). */
const MIN_PROBE_MS = 2000
/** Epochs looked back for a reveal still due (windows many epochs long are unusual). */
const MAX_EPOCHS_BACK = 1000
/** Most peers probed (and saved); beyond it newly seen peers are not added. */
export const MAX_PROBED_PEERS = 1000

const KNOWN_KEY = 'uptime-known'
const COUNTS_KEY = 'uptime-counts'
const KnownSchema = z.array(PeerIdSchema).max(MAX_PROBED_PEERS)
const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const PeerCounts = z.record(PeerIdSchema, z.strictObject({ sent: Count, answered: Count }).refine(c => c.answered <= c.sent))
  .refine(c => Object.keys(c).length <= MAX_PROBED_PEERS)
/** By epoch (as a decimal string), the counts per peer: the current and the previous epoch. */
const CountsSchema = z.record(z.string().regex(/^\d{1,15}$/), PeerCounts).refine(c => Object.keys(c).length <= 2)

export class UptimeScorer {
  readonly #c: UptimeComponents
  readonly #now: () => number
  /** Peers seen in this run (they stay probed after they vanish from the table). */
  readonly #known = new Set<string>()
  /** Per epoch, per peer: probes sent and answered. */
  readonly #counts = new Map<number, Map<string, { sent: number, answered: number }>>()
  readonly #inFlight = new Set<string>()
  /** What was last written under each meta key (a probe round with nothing new writes nothing). */
  readonly #saved = new Map<string, string>()
  #probeTimer: NodeJS.Timeout | null = null
  #scoreTimer: NodeJS.Timeout | null = null
  #stopped = false

  constructor (components: UptimeComponents) {
    this.#c = components
    this.#now = components.now ?? Date.now
  }

  start (): void {
    this.#restore()
    const every = Math.max(1, this.#c.probeIntervalSeconds()) * 1000
    this.#probeTimer = setInterval(() => { this.probe() }, every)
    this.#probeTimer.unref()
    // Commits and reveals are checked a few times per window, so each lands well inside it.
    const { commitMs, revealMs } = scoreWindows(this.#c.params())
    this.#scoreTimer = setInterval(() => { this.score() }, Math.max(250, Math.min(5000, Math.floor(Math.min(commitMs, revealMs) / 4))))
    this.#scoreTimer.unref()
  }

  stop (): void {
    if (this.#probeTimer != null) clearInterval(this.#probeTimer)
    if (this.#scoreTimer != null) clearInterval(this.#scoreTimer)
    if (!this.#stopped) this.#save()
    this.#stopped = true
  }

  /** Peers probed from now on (known in this run or saved by the last one). */
  known (): string[] {
    return [...this.#known]
  }

  /** Takes back the peers and the counts of the current and previous epoch a last run saved. */
  #restore (): void {
    const current = this.#epochNow()
    if (current == null) return
    const known = this.#read(KNOWN_KEY, KnownSchema)
    for (const peer of known ?? []) if (peer !== this.#c.signer.peerId) this.#known.add(peer)
    const saved = this.#read(COUNTS_KEY, CountsSchema) ?? {}
    for (const e of [current - 1, current]) {
      const counts = saved[String(e)]
      if (counts == null) continue
      this.#counts.set(e, new Map(Object.entries(counts)))
    }
  }

  #read<T> (key: string, schema: z.ZodType<T>): T | null {
    const raw = this.#c.getMeta(key)
    if (raw == null) return null
    try {
      const parsed = schema.safeParse(JSON.parse(raw))
      if (parsed.success) return parsed.data
    } catch {}
    this.#c.logger.warn({ key }, 'saved uptime counts unreadable; starting them again')
    return null
  }

  /** Saves the peers and the counts kept (the current and the previous epoch), each only when it changed. */
  #save (): void {
    try {
      const latest = [...this.#counts].sort(([a], [b]) => b - a).slice(0, 2)
      this.#write(KNOWN_KEY, JSON.stringify([...this.#known]))
      this.#write(COUNTS_KEY, JSON.stringify(Object.fromEntries(latest.map(([e, counts]) => [String(e), Object.fromEntries(counts)]))))
    } catch (err) {
      this.#c.logger.warn({ err: (err as Error).message }, 'uptime counts not saved')
    }
  }

  #write (key: string, json: string): void {
    if (this.#saved.get(key) === json) return
    this.#c.setMeta(key, json)
    this.#saved.set(key, json)
  }

  #epochNow (): number | null {
    try {
      const e = epochOf(this.#c.params(), this.#now())
      return e < 0 ? null : e
    } catch {
      return null
    }
  }

  /** The counts of an epoch, created when first asked for (older epochs than the previous one are dropped). */
  #epochCounts (epoch: number): Map<string, { sent: number, answered: number }> {
    let counts = this.#counts.get(epoch)
    if (counts == null) {
      counts = new Map()
      this.#counts.set(epoch, counts)
      for (const old of this.#counts.keys()) if (old < epoch - 1) this.#counts.delete(old)
    }
    return counts
  }

  /** The counts so far for an epoch, as scores (per mille), by peer id. */
  scores (epoch: number): UptimeScores {
    const out: UptimeScores = {}
    for (const [peer, c] of this.#counts.get(epoch) ?? []) if (c.sent > 0) out[peer] = Math.floor((MAX_SCORE * c.answered) / c.sent)
    return out
  }

  /** Pings every known peer once (a peer still answering the previous probe is skipped). */
  probe (): void {
    const epoch = this.#epochNow()
    if (epoch == null) return
    for (const peer of this.#c.peers()) {
      if (peer !== this.#c.signer.peerId && this.#known.size < MAX_PROBED_PEERS) this.#known.add(peer)
    }
    const counts = this.#epochCounts(epoch)
    // What the last round counted is saved before this one starts.
    this.#save()
    const timeout = Math.min(MAX_PROBE_MS, Math.max(MIN_PROBE_MS, this.#c.probeIntervalSeconds() * 1000))
    for (const peer of this.#known) {
      if (this.#inFlight.has(peer)) continue
      this.#inFlight.add(peer)
      const tally = counts
      void this.#c.ping(peer, AbortSignal.timeout(timeout)).then(() => true, () => false).then(ok => {
        this.#inFlight.delete(peer)
        if (this.#stopped) return
        const c = tally.get(peer) ?? { sent: 0, answered: 0 }
        c.sent++
        if (ok) c.answered++
        tally.set(peer, c)
      })
    }
  }

  /** Commits the last epoch's scores inside its commit window, reveals them inside the reveal window. */
  score (): void {
    try {
      this.#score()
    } catch (err) {
      this.#c.logger.warn({ err: (err as Error).message }, 'uptime scores not recorded')
    }
  }

  #score (): void {
    const p = this.#c.params()
    const now = this.#now()
    const current = epochOf(p, now)
    if (current < 1) return
    const { commitMs, revealMs } = scoreWindows(p)
    const me = this.#c.signer
    for (let e = current - 1; e >= 0 && e >= current - MAX_EPOCHS_BACK; e--) {
      const end = epochBounds(p, e).end
      if (now >= end + commitMs + revealMs) break
      const ids = scoreRecordIds(me.peerId, e)
      const key = `uptime-scores:${e}`
      if (now < end + commitMs) {
        if (this.#c.has(ids.commit)) continue
        const stored = this.#c.getMeta(key)
        const scores = stored != null ? JSON.parse(stored) as UptimeScores : boundScores(me.peerId, this.scores(e))
        if (Object.keys(scores).length === 0) continue
        // Kept before the commitment goes in: what is committed can always be revealed.
        this.#c.setMeta(key, JSON.stringify(scores))
        this.#c.note(scoreCommitRecord(me, e, scores, now))
        this.#c.logger.debug({ epoch: e, peers: Object.keys(scores).length }, 'uptime scores committed')
      } else if (this.#c.has(ids.commit) && !this.#c.has(ids.reveal)) {
        const stored = this.#c.getMeta(key)
        if (stored == null) continue
        this.#c.note(scoreRevealRecord(me, e, JSON.parse(stored) as UptimeScores, now))
        this.#c.setMeta(key, null)
        this.#c.logger.debug({ epoch: e }, 'uptime scores revealed')
      }
    }
  }
}
