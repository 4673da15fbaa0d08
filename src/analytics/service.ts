/**
 * Federated statistics on a node: it is a *site* for the analysts of its network (answering
 * `/plexus/stats/1.0.0` from its own datasets through {@link StatsSite}) and an *analyst* for its
 * owner (`plexus stats query`, `POST /api/plexus/stats/query`), asking the sites and pooling
 * their answers. The owner's own node takes part as a site when it holds the dataset.
 *
 * A query runs in steps: factor levels first when the function needs them (the union of the
 * sites' levels fixes the layout), then the computation — one call per site, or one per IRLS
 * iteration for `glm`. Pooled results are returned only when every site that holds the dataset
 * answered; sites that do not hold it are listed and left out.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { PlexusError, isPlexusError } from '../errors.js'
import type { PeerSigner } from '../ledger/peer-keys.js'
import type { Logger } from '../logger.js'
import type { DataRegistry } from '../data/registry.js'
import type { PlexusNetwork } from '../p2p/network.js'
import { StatsSite, type SiteStep, type StatsPolicy } from './site.js'
import { statsCall, statsHandler, STATS_PROTOCOL } from './protocol.js'
import { finalize, glmResult, vectorLength, type StatsResult } from './pool.js'
import { runSecureSum, SecureSumSite, type SecureSumCall } from './secure-sum.js'
import { factorColumns, parseQuery, type StatsQuery } from './query.js'
import { fitGlm, type SiteStatistics } from './glm.js'
import { canonicalJson } from '../crypto/signing.js'
import type { ProviderSignedReceipt } from '../ledger/receipts.js'
import { checkStatsReceipt, statsReceiptBody, type StatsReceiptKeeper } from '../ledger/stats.js'

export interface StatsComponents {
  network: PlexusNetwork | null
  data: DataRegistry
  logger: Logger
  /** Folder for the site's approvals, history, budgets and audit log. */
  dir: string
  policy: () => StatsPolicy
  /** Signs, countersigns and records `stats-query` receipts (the node's books); none: no receipts. */
  receipts?: StatsReceiptKeeper
  /** The node's key (signs this site's secure-sum keys). */
  signer: PeerSigner
}

/** Receipts of plain compute steps, both ways. */
export interface StatsReceiptStats {
  /** As a site: receipts signed, and those the analyst countersigned (recorded). */
  signed: number
  recorded: number
  /** As the analyst: sites' receipts countersigned, and refused (they did not match). */
  countersigned: number
  refused: number
}

/** A site keeps a signed receipt this long (and at most this many) for the analyst's countersignature. */
const COUNTERSIGN_WAIT_MS = 60_000
const MAX_PENDING_RECEIPTS = 4096

export interface QueryOptions {
  /** Sites to ask (peer ids; this node's own id for its data); default: this node and every known peer. */
  peers?: string[]
  /** Pool over the sites that answered even when some refused or failed (default false). */
  partial?: boolean
  /** Per call, in ms (default 30 s). */
  timeoutMs?: number
  /**
   * Secure aggregation: the sites' vectors are summed with Bonawitz et al.'s protocol so that
   * this node sees only the totals (no per-site results; needs at least 3 sites; small cells are
   * refused rather than suppressed).
   */
  secure?: boolean
}

export type SiteStatus = 'ok' | 'queued' | 'refused' | 'absent' | 'error'

export interface SiteOutcome {
  peer: string
  status: SiteStatus
  code?: string
  message?: string
  /** The site's approval id, when the query waits for its owner. */
  approval?: string
  /** This site's own result (plain queries; not for glm). */
  result?: StatsResult
}

export interface QueryAnswer {
  id: string
  query: StatsQuery
  sites: SiteOutcome[]
  /** The pooled result, or null when a site did not answer (see `sites`). */
  pooled: StatsResult | null
  complete: boolean
  /** True when the sites' answers were combined by secure aggregation. */
  secure: boolean
}

interface StepReply { status: 'ok' | 'queued', vector?: number[], suppressed?: number[], levels?: Record<string, string[]>, approval?: string, receipt?: ProviderSignedReceipt }

export class StatsService {
  readonly site: StatsSite
  readonly #secureSite: SecureSumSite
  readonly #c: StatsComponents
  readonly receiptStats: StatsReceiptStats = { signed: 0, recorded: 0, countersigned: 0, refused: 0 }
  /** Receipts this site signed, by id, waiting for the analyst's countersignature. */
  readonly #pending = new Map<string, { peer: string, partial: string, until: number }>()
  readonly #countersigning = new Set<Promise<void>>()

  constructor (components: StatsComponents) {
    this.#c = components
    this.site = new StatsSite({ data: components.data, dir: components.dir, logger: components.logger, policy: components.policy })
    this.#secureSite = new SecureSumSite({
      logger: components.logger,
      signer: components.signer,
      compute: async (step, analyst) => {
        const r = await this.site.answer(analyst, step, { secure: true }) as StepReply
        if (r.status === 'queued') throw new PlexusError('PLX_ERR_STATS_QUEUED', [String(r.approval ?? '')])
        return Float64Array.from(r.vector ?? [])
      }
    })
  }

  /** This node's id as an analyst and as a site (its peer id, or `local` without a network). */
  get selfId (): string { return this.#c.network?.peerId ?? 'local' }

  async start (): Promise<void> {
    await this.#c.network?.libp2p.handle(STATS_PROTOCOL, statsHandler(async (peer, message) => await this.#handle(peer, message)), { maxInboundStreams: 64 })
  }

  async stop (): Promise<void> {
    await this.#c.network?.libp2p.unhandle(STATS_PROTOCOL).catch(() => {})
  }

  async #handle (peer: string, message: unknown): Promise<Record<string, unknown>> {
    const m = message as { type?: unknown, step?: unknown, receipt?: unknown } | null
    if (m?.type === 'stats.step') {
      const startedAt = Date.now()
      const r = await this.site.answer(peer, m.step)
      return { ...r, ...this.#signRelease(peer, m.step, r, startedAt) }
    }
    if (m?.type === 'stats.receipt') return this.#takeCountersigned(peer, m.receipt)
    if (this.#secureSite.isSecureSumMessage(message)) return await this.#secureSite.handle(peer, message)
    throw new PlexusError('PLX_ERR_STATS_PROTOCOL', ['unknown message type'])
  }

  /** As a site: a receipt for a released plain compute step, to send with the reply. */
  #signRelease (peer: string, step: unknown, r: Awaited<ReturnType<StatsSite['answer']>>, startedAt: number): { receipt?: ProviderSignedReceipt } {
    const keeper = this.#c.receipts
    if (keeper == null || peer === this.selfId || r.status !== 'ok' || !('vector' in r) || (step as { op?: unknown }).op !== 'compute') return {}
    // The rows the statistic covered when its figures imply them anyway; else the dataset's size.
    let rows = (r as { rows?: number }).rows ?? 0
    if ((r as { rows?: number }).rows == null) { try { rows = this.#c.data.get(String((step as { query: { dataset?: unknown } }).query.dataset)).rows } catch {} }
    const partial = keeper.sign(statsReceiptBody({ provider: keeper.peerId, requester: peer, step, release: r, rows, startedAt, endedAt: Date.now() }))
    const now = Date.now()
    for (const [id, p] of this.#pending) if (p.until < now || this.#pending.size >= MAX_PENDING_RECEIPTS) this.#pending.delete(id)
    this.#pending.set(partial.body.id, { peer, partial: canonicalJson(partial), until: now + COUNTERSIGN_WAIT_MS })
    this.receiptStats.signed++
    return { receipt: partial }
  }

  /** As a site: the analyst's countersignature of a receipt this site signed for it. */
  #takeCountersigned (peer: string, receipt: unknown): Record<string, unknown> {
    const keeper = this.#c.receipts
    if (keeper == null) throw new PlexusError('PLX_ERR_STATS_PROTOCOL', ['this site keeps no receipts'])
    const r = receipt as { body?: { id?: unknown }, providerSignature?: unknown } | null
    const id = typeof r?.body?.id === 'string' ? r.body.id : ''
    const pending = this.#pending.get(id)
    if (pending == null || pending.peer !== peer) throw new PlexusError('PLX_ERR_LEDGER_RECEIPT_INVALID', ['no receipt of this site waits for that countersignature'])
    if (canonicalJson({ body: r!.body, providerSignature: r!.providerSignature }) !== pending.partial) throw new PlexusError('PLX_ERR_LEDGER_RECEIPT_INVALID', ['the countersigned receipt is not the one this site signed'])
    keeper.record(receipt)
    this.#pending.delete(id)
    this.receiptStats.recorded++
    return { recorded: id }
  }

  /** As the analyst: checks a site's receipt against the step and the figures, countersigns it, records it and sends it back. */
  async #countersign (peer: string, step: SiteStep, r: StepReply, timeoutMs: number): Promise<void> {
    const keeper = this.#c.receipts
    if (keeper == null || r.receipt == null) return
    try {
      // The step as the site read it (JSON drops undefined fields).
      checkStatsReceipt(r.receipt, { provider: peer, requester: keeper.peerId, step: JSON.parse(JSON.stringify(step)), release: r })
      const signed = keeper.countersign(r.receipt)
      keeper.record(signed)
      this.receiptStats.countersigned++
      await this.#call(peer, { type: 'stats.receipt', receipt: signed }, timeoutMs)
    } catch (err) {
      if (isPlexusError(err, 'PLX_ERR_LEDGER_RECEIPT_INVALID')) this.receiptStats.refused++
      this.#c.logger.debug({ peer, err: (err as Error).message }, 'statistics receipt not exchanged')
    }
  }

  /** Waits for the countersignatures being sent (tests). */
  async receiptsIdle (): Promise<void> {
    while (this.#countersigning.size > 0) await Promise.all([...this.#countersigning])
  }

  #sites (options: QueryOptions): string[] {
    if (options.peers != null && options.peers.length > 0) return [...new Set(options.peers.map(p => p === 'self' ? this.selfId : p))]
    return [this.selfId, ...(this.#c.network?.table.list().map(e => e.peerId) ?? [])]
  }

  async #step (peer: string, step: SiteStep, timeoutMs: number): Promise<StepReply> {
    return await this.#call(peer, { type: 'stats.step', step }, timeoutMs) as unknown as StepReply
  }

  /** One message to a site: over the network, or to this node's own site (same JSON round trip). */
  readonly #call: SecureSumCall = async (peer, message, timeoutMs) => {
    if (peer === this.selfId) return await this.#handle(peer, JSON.parse(JSON.stringify(message)))
    const network = this.#c.network
    if (network == null) throw new PlexusError('PLX_ERR_NETWORK_OFF')
    let id
    try { id = peerIdFromString(peer) } catch { throw new PlexusError('PLX_ERR_STATS_QUERY_INVALID', [`'${peer.slice(0, 80)}' is not a peer id`]) }
    await network.whenReachable(peer, Math.min(timeoutMs, 15_000))
    return await statsCall((p, proto, o) => network.libp2p.dialProtocol(p, proto, o), id, message, timeoutMs)
  }

  /**
   * One secure sum over the live sites. A site's refusal fails it (recorded against that site);
   * sites that dropped out are recorded as errors.
   */
  async #secureSum (session: string, sites: string[], step: SiteStep, length: number, outcomes: Map<string, SiteOutcome>, timeoutMs: number): Promise<Float64Array | null> {
    try {
      const r = await runSecureSum({ session, sites, length, query: step, call: this.#call, deadlineMs: timeoutMs, logger: this.#c.logger })
      for (const peer of r.contributed) outcomes.set(peer, { peer, status: 'ok' })
      for (const peer of r.dropped) outcomes.set(peer, { peer, status: 'error', message: 'dropped out of the secure aggregation' })
      return r.sum
    } catch (err) {
      const code = isPlexusError(err) ? err.code : 'PLX_ERR_INTERNAL'
      const site = /^Site '([^']+)'/.exec((err as Error).message)?.[1]
      const status: SiteStatus = code === 'PLX_ERR_STATS_QUEUED' ? 'queued' : REFUSALS.includes(code) ? 'refused' : 'error'
      for (const peer of site != null ? [site] : sites) outcomes.set(peer, { peer, status, code, message: (err as Error).message })
      return null
    }
  }

  /**
   * Asks every site one step. Sites whose answer is not `ok` are recorded in `outcomes` and left
   * out of the returned map.
   */
  async #round (sites: string[], step: SiteStep, outcomes: Map<string, SiteOutcome>, timeoutMs: number): Promise<Map<string, StepReply>> {
    const replies = new Map<string, StepReply>()
    await Promise.all(sites.map(async peer => {
      try {
        const r = await this.#step(peer, step, timeoutMs)
        if (r.receipt != null && r.status === 'ok' && peer !== this.selfId) {
          // Off the query's path: the follow-up message goes while the analyst pools.
          const p = this.#countersign(peer, step, r, timeoutMs).finally(() => this.#countersigning.delete(p))
          this.#countersigning.add(p)
        }
        if (r.status === 'queued') outcomes.set(peer, { peer, status: 'queued', approval: String(r.approval ?? ''), message: 'waits for the site owner\'s approval' })
        else replies.set(peer, r)
      } catch (err) {
        const code = isPlexusError(err) ? err.code : 'PLX_ERR_INTERNAL'
        const status: SiteStatus = code === 'PLX_ERR_DATASET_NOT_FOUND' ? 'absent' : REFUSALS.includes(code) ? 'refused' : 'error'
        outcomes.set(peer, { peer, status, code, message: (err as Error).message })
      }
    }))
    return replies
  }

  /** Runs a query across the sites and pools the answers. */
  async query (input: unknown, options: QueryOptions = {}): Promise<QueryAnswer> {
    const q = parseQuery(input)
    const timeoutMs = options.timeoutMs ?? 30_000
    const sites = this.#sites(options)
    if (sites.length > 256) throw new PlexusError('PLX_ERR_STATS_QUERY_INVALID', ['at most 256 sites per query'])
    const outcomes = new Map<string, SiteOutcome>()
    const live = (): string[] => sites.filter(s => !outcomes.has(s) || outcomes.get(s)!.status === 'ok')
    const blocked = (): boolean => [...outcomes.values()].some(o => o.status !== 'ok' && o.status !== 'absent')
    const id = `sq-${randomBytes(5).toString('base64url')}`
    const answer = (pooled: StatsResult | null): QueryAnswer => {
      const list = sites.map(s => outcomes.get(s) ?? { peer: s, status: 'error' as const, message: 'no answer' })
      const contributing = list.filter(o => o.status === 'ok')
      const complete = !list.some(o => o.status !== 'ok' && o.status !== 'absent') && contributing.length > 0
      this.#c.logger.info({ query: id, fn: q.fn, dataset: q.dataset, sites: list.map(o => `${o.peer.slice(-6)}:${o.status}`) }, 'statistics query')
      return { id, query: q, sites: list, pooled: complete || (options.partial === true && contributing.length > 0) ? pooled : null, complete, secure }
    }
    const secure = options.secure === true

    if (secure) {
      // Who holds the dataset and would answer: the secure sum needs its sites fixed beforehand.
      await this.#round(sites, { op: 'probe', query: q }, outcomes, timeoutMs)
      for (const peer of live()) outcomes.delete(peer)
      if (blocked() && options.partial !== true) return answer(null)
    }

    // Levels of the factors, united across sites.
    const levels: Record<string, string[]> = {}
    if (factorColumns(q).length > 0) {
      const replies = await this.#round(sites, { op: 'levels', query: q }, outcomes, timeoutMs)
      for (const f of factorColumns(q)) {
        const set = new Set<string>()
        for (const r of replies.values()) for (const l of r.levels?.[f] ?? []) set.add(l)
        levels[f] = [...set].sort()
      }
      if (blocked() && options.partial !== true) return answer(null)
    }

    if (q.fn === 'glm') {
      const p = q.columns.length
      let fit
      let round = 0
      try {
        fit = await fitGlm(q.family ?? 'gaussian', p, async (beta) => {
          if (secure) {
            const sum = await this.#secureSum(`${id}/${round++}`, live(), { op: 'compute', query: q, beta: [...beta] }, vectorLength(q, levels), outcomes, timeoutMs)
            if (sum == null || (blocked() && options.partial !== true)) throw new PlexusError('PLX_ERR_STATS_FAILED', ['a site did not answer'])
            return [siteStats(p, [...sum])]
          }
          const replies = await this.#round(live(), { op: 'compute', query: q, beta: [...beta] }, outcomes, timeoutMs)
          for (const peer of live()) if (!replies.has(peer)) outcomes.set(peer, outcomes.get(peer) ?? { peer, status: 'error', message: 'no answer' })
          if (blocked() && options.partial !== true) throw new PlexusError('PLX_ERR_STATS_FAILED', ['a site did not answer'])
          for (const [peer] of replies) outcomes.set(peer, { peer, status: 'ok' })
          return [...replies.values()].map(r => siteStats(p, r.vector ?? []))
        })
      } catch (err) {
        if (isPlexusError(err) && err.code === 'PLX_ERR_STATS_FAILED' && blocked()) return answer(null)
        throw err
      }
      return answer(glmResult(q, fit))
    }

    if (secure) {
      const sum = await this.#secureSum(id, live(), { op: 'compute', query: q, levels }, vectorLength(q, levels), outcomes, timeoutMs)
      return answer(sum == null ? null : finalize(q, sum, levels))
    }
    const replies = await this.#round(live(), { op: 'compute', query: q, levels }, outcomes, timeoutMs)
    let total: number[] | null = null
    const suppressed = new Set<number>()
    for (const [peer, r] of replies) {
      const v = r.vector ?? []
      let result: StatsResult | undefined
      try {
        result = finalize(q, v, levels, r.suppressed ?? [])
      } catch (err) {
        outcomes.set(peer, { peer, status: 'error', code: isPlexusError(err) ? err.code : 'PLX_ERR_INTERNAL', message: (err as Error).message })
        continue
      }
      outcomes.set(peer, { peer, status: 'ok', result })
      for (const i of r.suppressed ?? []) suppressed.add(i)
      if (total == null) total = [...v]
      else for (let i = 0; i < total.length; i++) total[i]! += v[i]!
    }
    return answer(total == null ? null : finalize(q, total, levels, [...suppressed].sort((a, b) => a - b)))
  }
}

/** Error codes that mean a site refused (rather than failed). */
const REFUSALS: string[] = ['PLX_ERR_STATS_DISCLOSURE', 'PLX_ERR_STATS_FORBIDDEN', 'PLX_ERR_STATS_DENIED', 'PLX_ERR_STATS_COLUMN_DENIED']

function siteStats (p: number, v: number[]): SiteStatistics {
  if (v.length !== 2 + p * p + p || !v.every(Number.isFinite)) throw new PlexusError('PLX_ERR_STATS_GLM_INVALID', ['a site returned statistics of the wrong shape'])
  return { n: v[0]!, xtwx: Float64Array.from(v.slice(1, 1 + p * p)), xtwz: Float64Array.from(v.slice(1 + p * p, 1 + p * p + p)), deviance: v[1 + p * p + p]! }
}
