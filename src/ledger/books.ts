/**
 * A node's verifiable books, as the node runs them: its receipt log and the heads it has seen
 * (one SQLite file, `<data-dir>/ledger.db`), the ledger protocol and head gossip when the node is
 * on a network, a signed head published every `headIntervalSeconds` (and whenever asked), and
 * reward settlement — epochs recomputed from the receipts this node holds and those it fetches
 * from its peers' logs, so any node with the same logs gets the same tables and roots.
 *
 * @packageDocumentation
 */
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from '../logger.js'
import type { PlexusNetwork } from '../p2p/network.js'
import type { Signer } from '../crypto/signing.js'
import { PlexusError } from '../errors.js'
import { LedgerLog, MAX_RECEIPT_RANGE, type AppendResult, type VerifyReport } from './log.js'
import { HeadBook, type Equivocation } from './heads.js'
import { LedgerService, type LedgerLibp2p } from './protocol.js'
import { peerSigner, type PeerSigner } from './peer-keys.js'
import { entryId, isRecord, signRecord, verifyEntry, type LedgerEntry, type RecordBody, type SignedRecord } from './records.js'
import { countersignReceipt, signReceipt, type InferenceReceiptBody, type ProviderSignedReceipt, type ReceiptBody, type SignedReceipt } from './receipts.js'
import type { ReceiptKeeper } from './inference.js'
import { SpotChecker } from './spot-check.js'
import { addUptime, balances, epochBounds, settleEpoch, settlementTime, tallyReceipts, type RewardParams, type RewardTable, type RewardWeights } from './rewards.js'
import { SCORE_OUTCOMES, isScoreRecord, noneIgnored, tallyScores, type ScoreOutcome } from './scores.js'
import { UptimeScorer } from './uptime.js'
import { deleteMeta, getMeta, setMeta } from './store.js'

export interface LedgerConfig {
  /** Seconds between signed heads this node publishes. */
  headIntervalSeconds: number
  /** Length of a reward epoch. */
  epochSeconds: number
  /** Start of epoch 0 (ISO date). */
  genesis: string
  /** Points per unit of work (the governance issue makes them votable). */
  weights: RewardWeights
  /** Share of countersigned community inference receipts re-run on a third peer. */
  spotCheckFraction: number
  /** Spot-check mismatches after which a provider is excluded from routing. */
  maxMismatches: number
  /** After an epoch: the window for uptime-score commitments, then the one for reveals (s). */
  commitSeconds: number
  revealSeconds: number
  uptime: { probeIntervalSeconds: number }
}

export interface BooksComponents {
  dir: string
  identity: Signer & { publicKey: Uint8Array }
  logger: Logger
  config: () => LedgerConfig
  /**
   * The reward weights in force at a time (governance changes take effect from their time on);
   * absent: the configured weights for every epoch.
   */
  weightsAt?: (timeMs: number) => RewardWeights
}

export interface RewardsReport {
  /** Settled (finished) epochs, oldest first, with their tables. */
  epochs: RewardTable[]
  /** Micro-tokens per peer over the settled epochs, as decimal strings. */
  balances: Record<string, string>
  /** Receipts counted, and refused. */
  counted: number
  rejected: number
  /** Uptime-score records and scores ignored over the settled epochs, by reason (scores.ts). */
  scoresIgnored: Record<ScoreOutcome, number>
  /** Peers whose logs were read (this node first). */
  logs: string[]
  /** Peers whose logs could not be read. */
  unreachable: string[]
}

export class Books implements ReceiptKeeper {
  readonly log: LedgerLog
  readonly book: HeadBook
  readonly signer: PeerSigner
  #service: LedgerService | null = null
  #timer: NodeJS.Timeout | null = null
  readonly #c: BooksComponents
  #network: PlexusNetwork | null = null
  #spot: SpotChecker | null = null
  #uptime: UptimeScorer | null = null

  constructor (components: BooksComponents) {
    this.#c = components
    this.signer = peerSigner(components.identity)
    this.log = LedgerLog.open({ file: join(components.dir, 'ledger.db'), signer: this.signer })
    this.book = new HeadBook(this.log.db)
  }

  get service (): LedgerService | null { return this.#service }
  /** This node's uptime probes and scores (null when the node is not on a network). */
  get uptime (): UptimeScorer | null { return this.#uptime }
  /** Spot checks of peers' work (null when the node is not on a network). */
  get spotChecks (): SpotChecker | null { return this.#spot }
  get peerId (): string { return this.signer.peerId }

  /** Serves the log and gossips heads on the network (without one, the books are local only). */
  async start (network: PlexusNetwork | null): Promise<void> {
    this.#network = network
    if (network == null) return
    this.#service = new LedgerService({ libp2p: network.libp2p as unknown as LedgerLibp2p, log: this.log, book: this.book, logger: this.#c.logger }, { networkId: network.networkId })
    await this.#service.start()
    const config = this.#c.config
    this.#spot = new SpotChecker({
      network,
      note: body => this.note(body),
      logger: this.#c.logger,
      settings: () => ({ fraction: config().spotCheckFraction, maxMismatches: config().maxMismatches })
    })
    this.#spot.restore(this.entries(), this.signer.peerId)
    this.#uptime = new UptimeScorer({
      signer: this.signer,
      peers: () => network.table.list().map(e => e.peerId),
      ping: async (peer, signal) => await network.libp2p.services.ping.ping(peerIdFromString(peer), { signal }),
      note: body => this.note(body),
      has: id => this.log.receipt(id) != null,
      getMeta: key => getMeta(this.log.db, key),
      setMeta: (key, value) => { if (value == null) deleteMeta(this.log.db, key); else setMeta(this.log.db, key, value) },
      params: () => this.#params(),
      probeIntervalSeconds: () => config().uptime.probeIntervalSeconds,
      logger: this.#c.logger
    })
    this.#uptime.start()
    const every = Math.max(1, this.#c.config().headIntervalSeconds) * 1000
    this.#timer = setInterval(() => { void this.publishHead().catch(err => this.#c.logger.debug({ err: (err as Error).message }, 'head not published')) }, every)
    this.#timer.unref()
  }

  async stop (): Promise<void> {
    if (this.#timer != null) clearInterval(this.#timer)
    this.#uptime?.stop()
    await this.#spot?.stop()
    await this.#service?.stop().catch(() => {})
    this.log.close()
  }

  /** Signs a head of the log now and gossips it (when on a network). */
  async publishHead (): Promise<ReturnType<LedgerLog['signHead']>> {
    if (this.#service != null) return await this.#service.publishHead()
    return this.log.signHead()
  }

  /** Signs a receipt body as its provider. */
  sign (body: InferenceReceiptBody | ReceiptBody): ProviderSignedReceipt {
    return signReceipt(this.signer, body)
  }

  /** Countersigns a provider-signed receipt as its requester. */
  countersign (partial: ProviderSignedReceipt): SignedReceipt {
    return countersignReceipt(this.signer, partial)
  }

  /** Appends a receipt with both signatures, or a record (already there: a no-op that returns the entry). */
  record (entry: unknown): AppendResult {
    const e = verifyEntry(entry)
    const existing = this.log.receipt(entryId(e))
    if (existing != null) return { index: existing.index, id: entryId(e), leafHash: '' }
    return this.log.append(e)
  }

  /** Signs a record of this node (a spot check, a vote, …) and appends it. */
  note (body: Omit<RecordBody, 'v' | 'author'>): SignedRecord {
    const r = signRecord(this.signer, body)
    this.log.append(r)
    return r
  }

  verify (): { log: VerifyReport, heads: ReturnType<HeadBook['verify']>, evidence: Equivocation[] } {
    return { log: this.log.verify(), heads: this.book.verify(), evidence: this.book.equivocations() }
  }

  #params (): RewardParams {
    const c = this.#c.config()
    const genesisMs = Date.parse(c.genesis)
    if (!Number.isFinite(genesisMs)) throw new PlexusError('PLX_ERR_LEDGER_REWARDS_CONFIG', [`ledger.genesis '${c.genesis}' is not a date`])
    const p: RewardParams = { genesisMs, epochSeconds: c.epochSeconds, weights: c.weights, commitSeconds: c.commitSeconds, revealSeconds: c.revealSeconds }
    const weightsAt = this.#c.weightsAt
    // An epoch is paid at the weights in force when it started: a change re-prices no epoch begun before it.
    return weightsAt == null ? p : { ...p, weightsFor: e => weightsAt(epochBounds(p, e).start) }
  }

  /** Every entry of this node's log, oldest first. */
  * entries (): Generator<LedgerEntry> {
    const size = this.log.size
    for (let start = 0; start < size; start += MAX_RECEIPT_RANGE) {
      for (const e of this.log.receipts(start, Math.min(size, start + MAX_RECEIPT_RANGE))) yield e.receipt
    }
  }

  /** Every receipt and uptime-score record of this node's log, then of each peer's (fetched over the ledger protocol). */
  async #allReceipts (): Promise<{ receipts: LedgerEntry[], logs: string[], unreachable: string[] }> {
    const receipts: LedgerEntry[] = []
    for (const e of this.entries()) if (counts(e)) receipts.push(e)
    const logs = [this.signer.peerId]
    const unreachable: string[] = []
    const service = this.#service
    const peers = service == null ? [] : this.#network?.table.list().map(e => e.peerId) ?? []
    // Every peer at once (an unreachable one costs its timeout once, not once per peer before it).
    const read = await Promise.allSettled(peers.map(async peer => await this.#peerReceipts(service!, peer)))
    read.forEach((r, i) => {
      const peer = peers[i]!
      if (r.status === 'fulfilled') {
        logs.push(peer)
        for (const receipt of r.value) receipts.push(receipt)
      } else {
        unreachable.push(peer)
        this.#c.logger.debug({ peer, err: (r.reason as Error).message }, 'ledger of a peer not read for rewards')
      }
    })
    return { receipts, logs, unreachable }
  }

  /** Receipts already read from each peer's log, up to `size` (a log only grows). */
  readonly #peerLogs = new Map<string, { size: number, receipts: LedgerEntry[] }>()

  /**
   * A peer's receipts up to its latest signed head, fetching only what was added since the last
   * read. A head smaller than what was read (a rewritten log: the head book convicts it) starts
   * over.
   */
  async #peerReceipts (service: LedgerService, peer: string): Promise<LedgerEntry[]> {
    const head = await service.fetchHead(peer)
    const size = head?.head.size ?? 0
    let known = this.#peerLogs.get(peer)
    if (known == null || known.size > size) known = { size: 0, receipts: [] }
    const added: LedgerEntry[] = []
    for (let start = known.size; start < size; start += 100) {
      for (const e of await service.fetchReceipts(peer, start, Math.min(size, start + 100))) if (counts(e.receipt)) added.push(e.receipt)
    }
    const updated = { size, receipts: added.length === 0 ? known.receipts : [...known.receipts, ...added] }
    this.#peerLogs.set(peer, updated)
    return updated.receipts
  }

  /**
   * Settles every epoch whose commit and reveal windows have passed, from the logs this node can
   * read: points from receipts plus uptime points from the revealed scores.
   */
  async rewards (): Promise<RewardsReport> {
    const p = this.#params()
    const { receipts, logs, unreachable } = await this.#allReceipts()
    const byEpoch = tallyReceipts(p, receipts.filter(e => !isRecord(e)))
    const scores = tallyScores(p, receipts.filter(e => isRecord(e)))
    const now = Date.now()
    const settled = [...new Set([...byEpoch.keys(), ...scores.keys()])].filter(e => e >= 0 && settlementTime(p, e) <= now).sort((a, b) => a - b)
    const scoresIgnored = noneIgnored()
    const epochs = settled.map(e => {
      const uptime = scores.get(e)?.uptime ?? new Map<string, number>()
      for (const o of SCORE_OUTCOMES) if (o !== 'invalid') scoresIgnored[o] += scores.get(e)?.ignored[o] ?? 0
      const points = addUptime(p, e, byEpoch.get(e) ?? { points: new Map(), counted: 0, rejected: 0 }, uptime).points
      return settleEpoch(p, e, points, uptime)
    })
    scoresIgnored.invalid = [...scores.values()][0]?.ignored.invalid ?? 0
    let counted = 0
    let rejected = 0
    for (const t of byEpoch.values()) { counted += t.counted; rejected += t.rejected }
    const bal: Record<string, string> = {}
    for (const [peer, v] of balances(epochs)) bal[peer] = v.toString()
    return { epochs, balances: bal, counted, rejected, scoresIgnored, logs, unreachable }
  }
}

/** What settlement reads from a log: receipts and uptime-score records. */
function counts (e: LedgerEntry): boolean {
  return !isRecord(e) || isScoreRecord(e)
}
