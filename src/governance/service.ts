/**
 * Governance as a node runs it: proposals and votes of this node and its peers, kept as records in
 * the node's ledger log; a tally (an `outcome` record) when a vote ends; and, after the timelock,
 * the passed change applied to the node's running configuration (an `applied` record). At start
 * the state is read back from the log and applied changes are applied again, so a restarted node
 * runs with what the community decided.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { Books } from '../ledger/books.js'
import { isRecord, verifyRecordWithJson, type SignedRecord } from '../ledger/records.js'
import { MAX_RECEIPT_RANGE } from '../ledger/log.js'
import type { LedgerLibp2p } from '../ledger/protocol.js'
import type { PlexusConfig } from '../node/config.js'
import { applyChange, checkChange, isRuleChange, PARAMS, settingAt, type AppliedSetting, type ApplyHooks, type Change } from './params.js'
import { contentId, MAX_ELECTORATE, proposalOf, ProposalSpecSchema, voteOf, type Choice, type Proposal, type ProposalData, type Vote, type Voter } from './proposals.js'
import { tally, type Tally } from './tally.js'
import { GovNet, MAX_SYNC_FRAME_BYTES, MAX_SYNC_RECORDS, type Have } from './protocol.js'

/** 16 hex characters of SHA-256 over a proposal's vote ids, sorted: equal when two nodes hold the same votes. */
function votesDigest (votes: readonly Vote[]): string {
  return createHash('sha256').update(votes.map(v => v.record.record.id).sort().join('\n')).digest('hex').slice(0, 16)
}

/** A vote is tallied this long after its end, so votes cast at the last moment can arrive. */
export const TALLY_GRACE_MS = 1000
/** Records dated further in the future than this are refused (clock skew allowance). */
const MAX_CLOCK_SKEW_MS = 60_000
/** Votes held for proposals not seen yet (gossip can overtake). */
const MAX_PENDING_VOTES = 1000
const TICK_MS = 250

export interface GovernanceComponents {
  books: Books
  /** The running configuration, changed in place when a change applies. */
  config: PlexusConfig
  logger: Logger
  hooks: ApplyHooks
  /** The network's libp2p host; null: a node on its own. */
  network: {
    libp2p: LedgerLibp2p
    networkId: string
    peers: () => string[]
    /** Calls `fn` with each peer that connects (identified); returns how to stop. */
    onPeer: (fn: (peerId: string) => void) => () => void
  } | null
  /** Micro-token balances from the reward epochs settled (ended, and their score windows passed) at or before `timeMs`. */
  balancesAt: (timeMs: number) => Promise<Map<string, bigint>>
}

export type ProposalStatus = 'voting' | 'counting' | 'passed' | 'rejected' | 'applied' | 'failed'

export interface ProposalView {
  id: string
  author: string
  title: string
  description: string
  change: Change
  start: string
  end: string
  applyAt: string
  mode: ProposalData['mode']
  quorum: number
  threshold: number
  electorate: Voter[]
  status: ProposalStatus
  votes: number
  outcome: Tally | null
  applied: { at: string, ok: boolean, before?: unknown, after?: unknown, error?: string } | null
}

interface Outcome extends Tally { at: number }
interface Applied { at: number, ok: boolean, before?: unknown, after?: unknown, error?: string }

/** Why a record from a peer was not taken; 'accepted' and 'duplicate' are fine. */
export type ReceiveResult = 'accepted' | 'duplicate' | 'pending' | string

export class GovernanceService {
  readonly #c: GovernanceComponents
  readonly #proposals = new Map<string, Proposal>()
  readonly #votes = new Map<string, Vote[]>()
  readonly #outcomes = new Map<string, Outcome>()
  readonly #applied = new Map<string, Applied>()
  readonly #pending = new Map<string, Vote[]>()
  /** Proposals being checked (a token-mode check reads the peers' logs; copies arriving meanwhile wait). */
  readonly #checking = new Set<string>()
  #pendingCount = 0
  #net: GovNet | null = null
  #timer: NodeJS.Timeout | null = null
  #syncTimer: NodeJS.Timeout | null = null
  #ticking = false
  readonly received: Record<string, number> = {}
  #offPeer: (() => void) | null = null

  constructor (components: GovernanceComponents) {
    this.#c = components
  }

  get networkId (): string { return this.#c.network?.networkId ?? 'local' }
  get peerId (): string { return this.#c.books.peerId }
  get net (): GovNet | null { return this.#net }

  async start (): Promise<void> {
    this.#load()
    const n = this.#c.network
    if (n != null) {
      this.#net = new GovNet({ libp2p: n.libp2p, logger: this.#c.logger, onRecord: async (r, from) => { this.#count(await this.receive(r), from) }, records: have => this.shareable(have), have: () => this.have() }, n.networkId)
      await this.#net.start()
      this.#offPeer = n.onPeer(peer => { void this.syncWith(peer) })
      this.#syncTimer = setInterval(() => { void this.syncAll() }, this.#c.config.governance.syncIntervalSeconds * 1000)
      this.#syncTimer.unref()
    }
    this.#timer = setInterval(() => { void this.tick() }, TICK_MS)
    this.#timer.unref()
  }

  async stop (): Promise<void> {
    if (this.#timer != null) clearInterval(this.#timer)
    if (this.#syncTimer != null) clearInterval(this.#syncTimer)
    this.#offPeer?.()
    await this.#net?.stop()
  }

  #count (res: ReceiveResult, from: string): void {
    this.received[res] = (this.received[res] ?? 0) + 1
    if (res !== 'accepted' && res !== 'duplicate' && res !== 'pending') this.#c.logger.debug({ from, why: res }, 'governance record refused')
  }

  /** Reads proposals, votes, outcomes and applied changes from the log; applies the applied ones again. */
  #load (): void {
    const log = this.#c.books.log
    for (let start = 0; start < log.size; start += MAX_RECEIPT_RANGE) {
      for (const { receipt: e } of log.receipts(start, Math.min(log.size, start + MAX_RECEIPT_RANGE))) {
        if (!isRecord(e)) continue
        try {
          const { kind, author, data } = e.record
          if (kind === 'proposal') this.#proposals.set(e.record.id, proposalOf(e))
          else if (kind === 'vote') this.#addVote(voteOf(e))
          else if (kind === 'outcome' && author === this.peerId) {
            // What was decided then; the per-vote detail is recomputed from the same recorded votes.
            const p = this.#proposals.get(String(data.proposal))
            const detail = p != null ? tally(p, this.#records(p.id)) : { counted: [], ignored: {} }
            const { votes: _votes, ...decided } = data as Record<string, unknown>
            this.#outcomes.set(String(data.proposal), { ...(decided as unknown as Tally), counted: detail.counted, ignored: detail.ignored, at: e.record.time })
          }
          else if (kind === 'applied' && author === this.peerId) {
            const p = this.#proposals.get(String(data.proposal))
            if (p != null && data.ok === true) applyChange(this.#c.config, p.data.change, this.#c.hooks)
            this.#applied.set(String(data.proposal), { ...(data as unknown as Applied), at: e.record.time })
          }
        } catch (err) {
          this.#c.logger.warn({ id: e.record.id, err: (err as Error).message }, 'governance record in the log not usable')
        }
      }
    }
  }

  #addVote (v: Vote): void {
    const list = this.#votes.get(v.data.proposal) ?? []
    list.push(v)
    this.#votes.set(v.data.proposal, list)
  }

  /**
   * What a peer catching up receives: the newest proposals it does not hold with the same votes
   * (by `have`; null: it says nothing, so all of them), as many as fit in one answer, oldest first,
   * then their votes.
   */
  shareable (have: Have | null): SignedRecord[] {
    const ps: Proposal[] = []
    let bytes = 0
    let count = 0
    for (const p of [...this.#proposals.values()].sort((a, b) => b.start - a.start)) {
      const votes = this.#votes.get(p.id) ?? []
      const held = have?.[p.id]
      if (held != null && held === votesDigest(votes)) continue
      bytes += JSON.stringify(p.record).length + votes.reduce((n, v) => n + JSON.stringify(v.record).length, 0)
      count += 1 + votes.length
      if (bytes > MAX_SYNC_FRAME_BYTES * 0.9 || count > MAX_SYNC_RECORDS) break
      ps.push(p)
    }
    ps.reverse()
    return [...ps.map(p => p.record), ...ps.flatMap(p => (this.#votes.get(p.id) ?? []).map(v => v.record))]
  }

  /** The newest proposals this node holds (at most MAX_SYNC_RECORDS), each with a digest of its votes. */
  have (): Have {
    const newest = [...this.#proposals.values()].sort((a, b) => b.start - a.start).slice(0, MAX_SYNC_RECORDS)
    return Object.fromEntries(newest.map(p => [p.id, votesDigest(this.#votes.get(p.id) ?? [])]))
  }

  // ------------------------------------------------------------------------------------------
  // Electorate

  /** Voters (with weight) of a proposal starting now, by this node's view. */
  async #electorate (mode: 'member' | 'token', start: number): Promise<Voter[]> {
    const peers = this.#members()
    if (mode === 'member') return peers.map(peer => ({ peer, weight: '1' }))
    const balances = await this.#c.balancesAt(start)
    return peers.map(peer => ({ peer, weight: (balances.get(peer) ?? 0n).toString() })).filter(v => v.weight !== '0')
  }

  /** The members list; empty in the configuration: this node and every peer it has seen, less the denied. */
  #members (): string[] {
    const g = this.#c.config.governance
    const denied = new Set(this.#c.config.network.denyPeers)
    const list = g.members.length > 0 ? g.members : [this.peerId, ...(this.#c.network?.peers() ?? [])]
    return [...new Set(list)].filter(p => !denied.has(p)).sort()
  }

  // ------------------------------------------------------------------------------------------
  // Proposing and voting (this node)

  async propose (spec: unknown): Promise<ProposalView> {
    const s = ProposalSpecSchema.safeParse(spec)
    if (!s.success) throw new PlexusError('PLX_ERR_GOV_PROPOSAL_INVALID', [z.prettifyError(s.error).replace(/\n/g, ' ')])
    const change = checkChange(s.data.change)
    const g = this.#c.config.governance
    const period = s.data.votingPeriodSeconds ?? g.votingPeriodSeconds
    const lock = s.data.timelockSeconds ?? g.timelockSeconds
    if (period < g.votingPeriodSeconds || lock < g.timelockSeconds) throw new PlexusError('PLX_ERR_GOV_PROPOSAL_INVALID', [`the voting period and timelock must be at least the network's (${g.votingPeriodSeconds} s, ${g.timelockSeconds} s)`])
    const time = Date.now()
    const electorate = await this.#electorate(g.mode, time)
    if (electorate.length === 0) throw new PlexusError('PLX_ERR_GOV_PROPOSAL_INVALID', ['nobody could vote on it (in token mode: no member holds tokens at its start)'])
    if (electorate.length > MAX_ELECTORATE) throw new PlexusError('PLX_ERR_GOV_PROPOSAL_INVALID', [`an electorate of ${electorate.length}; at most ${MAX_ELECTORATE}`])
    const data: ProposalData = {
      network: this.networkId,
      title: s.data.title,
      description: s.data.description,
      change,
      end: time + period * 1000,
      applyAt: time + (period + lock) * 1000,
      mode: g.mode,
      quorum: g.quorum,
      threshold: isRuleChange(change) ? g.ruleThreshold : g.threshold,
      electorate
    }
    const record = this.#c.books.note({ kind: 'proposal', id: contentId('gov', this.peerId, time, data), time, data: data as unknown as Record<string, unknown> })
    const p = proposalOf(record)
    this.#proposals.set(p.id, p)
    await this.#net?.publish(record)
    return this.view(p.id)
  }

  async vote (id: string, choice: Choice): Promise<{ vote: string, proposal: ProposalView }> {
    const p = this.#get(id)
    const time = Date.now()
    if (!p.data.electorate.some(v => v.peer === this.peerId)) throw new PlexusError('PLX_ERR_GOV_NOT_ELIGIBLE', [this.peerId, id])
    if (time > p.data.end || this.#outcomes.has(id)) throw new PlexusError('PLX_ERR_GOV_CLOSED', [id, new Date(p.data.end).toISOString()])
    const data = { proposal: id, choice }
    const record = this.#c.books.note({ kind: 'vote', id: contentId('vote', this.peerId, time, data), time, data })
    this.#addVote(voteOf(record))
    await this.#net?.publish(record)
    return { vote: record.record.id, proposal: this.view(id) }
  }

  // ------------------------------------------------------------------------------------------
  // Records from peers (gossip, catch-up, HTTP)

  /**
   * Takes a signed proposal or vote from anywhere: checks it, records it in the log and the state.
   * Never throws for bad input; says why it was not taken.
   */
  async receive (value: unknown): Promise<ReceiveResult> {
    let r: SignedRecord
    try {
      r = verifyRecordWithJson(value).record
    } catch {
      return 'invalid'
    }
    if (this.#c.books.log.receipt(r.record.id) != null) return 'duplicate'
    if (r.record.time > Date.now() + MAX_CLOCK_SKEW_MS) return 'from-the-future'
    if (r.record.kind === 'proposal') {
      let p: Proposal
      try { p = proposalOf(r) } catch { return 'invalid-proposal' }
      if (this.#proposals.has(p.id) || this.#checking.has(p.id)) return 'duplicate'
      this.#checking.add(p.id)
      let why: string | null
      try { why = await this.#checkProposal(p) } finally { this.#checking.delete(p.id) }
      if (why != null) return why
      this.#c.books.record(r)
      this.#proposals.set(p.id, p)
      const waiting = this.#pending.get(p.id) ?? []
      this.#pending.delete(p.id)
      this.#pendingCount -= waiting.length
      for (const v of waiting) this.#takeVote(v, p)
      return 'accepted'
    }
    if (r.record.kind !== 'vote') return 'wrong-kind'
    let v: Vote
    try { v = voteOf(r) } catch { return 'invalid-vote' }
    const p = this.#proposals.get(v.data.proposal)
    if (p != null) return this.#takeVote(v, p)
    if (this.#pendingCount >= MAX_PENDING_VOTES) return 'unknown-proposal'
    this.#pending.set(v.data.proposal, [...(this.#pending.get(v.data.proposal) ?? []), v])
    this.#pendingCount++
    return 'pending'
  }

  #takeVote (v: Vote, p: Proposal): ReceiveResult {
    if (!p.data.electorate.some(e => e.peer === v.voter)) return 'not-eligible'
    if (v.time < p.start) return 'before-start'
    if (v.time > p.data.end) return 'late'
    if (this.#outcomes.has(p.id)) return 'closed'
    if (this.#c.books.log.receipt(v.id) != null) return 'duplicate'
    this.#c.books.record(v.record)
    this.#addVote(v)
    return 'accepted'
  }

  /** A peer's proposal must match this node's network, rules and electorate while it is open. */
  async #checkProposal (p: Proposal): Promise<string | null> {
    if (p.data.network !== this.networkId) return 'wrong-network'
    // A proposal already closed (learned while catching up) ran under the rules of its time.
    if (Date.now() > p.data.end) return null
    const g = this.#c.config.governance
    const threshold = isRuleChange(p.data.change) ? g.ruleThreshold : g.threshold
    if (p.data.mode !== g.mode || p.data.quorum !== g.quorum || p.data.threshold !== threshold ||
      p.data.end - p.start < g.votingPeriodSeconds * 1000 || p.data.applyAt - p.data.end < g.timelockSeconds * 1000) return 'rules-mismatch'
    const peers = p.data.electorate.map(v => v.peer)
    if (g.members.length > 0) {
      const members = this.#members()
      if (p.data.mode === 'member' ? peers.join() !== members.join() : peers.some(x => !members.includes(x))) return 'electorate-mismatch'
    }
    if (p.data.mode === 'token') {
      const mine = await this.#c.balancesAt(p.start)
      if (p.data.electorate.some(v => (mine.get(v.peer) ?? 0n).toString() !== v.weight)) return 'snapshot-mismatch'
    }
    return null
  }

  // ------------------------------------------------------------------------------------------
  // Catching up

  /** Asks one peer for the proposals and votes it holds. */
  async syncWith (peer: string): Promise<number> {
    if (this.#net == null || peer === this.peerId) return 0
    try {
      const n = await this.#net.sync(peer)
      await this.tick()
      return n
    } catch (err) {
      this.#c.logger.debug({ peer, err: (err as Error).message }, 'governance catch-up failed')
      return 0
    }
  }

  async syncAll (): Promise<void> {
    for (const peer of this.#c.network?.peers() ?? []) await this.syncWith(peer)
  }

  // ------------------------------------------------------------------------------------------
  // Tallying and applying

  /** Tallies ended votes and applies passed changes whose timelock is over (runs on a timer). */
  async tick (now = Date.now()): Promise<void> {
    if (this.#ticking) return
    this.#ticking = true
    try {
      const order = (key: (p: Proposal) => number) => [...this.#proposals.values()].sort((a, b) => key(a) - key(b) || (a.id < b.id ? -1 : 1))
      for (const p of order(p => p.data.end)) {
        if (this.#outcomes.has(p.id) || now < p.data.end + TALLY_GRACE_MS) continue
        const t = tally(p, this.#records(p.id))
        const data = { proposal: p.id, passed: t.passed, quorumMet: t.quorumMet, thresholdMet: t.thresholdMet, eligible: t.eligible, yes: t.yes, no: t.no, abstain: t.abstain, votes: t.counted.map(c => c.vote) }
        const r = this.#c.books.note({ kind: 'outcome', id: `outcome-${p.id.slice(4)}`, time: now, data })
        this.#outcomes.set(p.id, { ...t, at: r.record.time })
        this.#c.logger.info({ proposal: p.id, passed: t.passed, yes: t.yes, no: t.no, abstain: t.abstain }, 'governance vote tallied')
      }
      for (const p of order(p => p.data.applyAt)) {
        if (this.#outcomes.get(p.id)?.passed !== true || this.#applied.has(p.id) || now < p.data.applyAt) continue
        let a: Applied
        try {
          a = { at: now, ok: true, ...applyChange(this.#c.config, p.data.change, this.#c.hooks) }
          this.#c.logger.info({ proposal: p.id, change: p.data.change }, 'governance change applied')
        } catch (err) {
          a = { at: now, ok: false, error: (err as Error).message }
        }
        this.#c.books.note({ kind: 'applied', id: `applied-${p.id.slice(4)}`, time: now, data: { proposal: p.id, change: p.data.change, ...a } as Record<string, unknown> })
        this.#applied.set(p.id, a)
      }
    } finally {
      this.#ticking = false
    }
  }

  /** The `set` changes this node applied, each in force from its proposal's `applyAt`. */
  appliedSettings (): AppliedSetting[] {
    const out: AppliedSetting[] = []
    for (const [id, a] of this.#applied) {
      const p = this.#proposals.get(id)
      if (p == null || !a.ok || p.data.change.type !== 'set') continue
      out.push({ param: p.data.change.param, fromMs: p.data.applyAt, before: a.before, after: a.after })
    }
    return out
  }

  /**
   * The reward weights in force at `timeMs`: each weight a passed proposal changed is the value it
   * had then (settlement pays an epoch at the weights of its start, so a vote re-prices no epoch
   * begun before its change applies).
   */
  weightsAt (timeMs: number): PlexusConfig['ledger']['weights'] {
    const now = this.#c.config.ledger.weights
    const settings = this.appliedSettings()
    const out = { ...now }
    for (const k of Object.keys(now) as Array<keyof typeof now>) {
      const v = settingAt(settings, `ledger.weights.${k}`, now[k], timeMs)
      if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) out[k] = v
    }
    return out
  }

  #records (id: string): SignedRecord[] {
    return (this.#votes.get(id) ?? []).map(v => v.record)
  }

  // ------------------------------------------------------------------------------------------
  // Views

  #get (id: string): Proposal {
    const p = this.#proposals.get(id)
    if (p == null) throw new PlexusError('PLX_ERR_GOV_NOT_FOUND', [id.slice(0, 80)])
    return p
  }

  view (id: string): ProposalView {
    const p = this.#get(id)
    const o = this.#outcomes.get(id) ?? null
    const a = this.#applied.get(id) ?? null
    const now = Date.now()
    const status: ProposalStatus = o == null
      ? (now <= p.data.end ? 'voting' : 'counting')
      : !o.passed ? 'rejected' : a == null ? 'passed' : a.ok ? 'applied' : 'failed'
    const { at: _at, ...outcome } = o ?? { at: 0 }
    return {
      id,
      author: p.author,
      title: p.data.title,
      description: p.data.description,
      change: p.data.change,
      start: new Date(p.start).toISOString(),
      end: new Date(p.data.end).toISOString(),
      applyAt: new Date(p.data.applyAt).toISOString(),
      mode: p.data.mode,
      quorum: p.data.quorum,
      threshold: p.data.threshold,
      electorate: p.data.electorate,
      status,
      votes: this.#votes.get(id)?.length ?? 0,
      outcome: o == null ? null : outcome as Tally,
      applied: a == null ? null : { ...a, at: new Date(a.at).toISOString() }
    }
  }

  list (): ProposalView[] {
    return [...this.#proposals.values()].sort((a, b) => b.start - a.start || (a.id < b.id ? -1 : 1)).map(p => this.view(p.id))
  }

  /** A proposal with every vote recorded for it. */
  show (id: string): ProposalView & { voteRecords: Array<{ id: string, voter: string, choice: Choice, time: string }> } {
    return { ...this.view(id), voteRecords: (this.#votes.get(id) ?? []).map(v => ({ id: v.id, voter: v.voter, choice: v.data.choice, time: new Date(v.time).toISOString() })) }
  }

  /** The tally recomputed now from the recorded votes (what any node holding them gets). */
  tally (id: string): Tally {
    return tally(this.#get(id), this.#records(id))
  }

  /** Raw records of a proposal and its votes (for an independent recount). */
  records (id: string): { proposal: SignedRecord, votes: SignedRecord[] } {
    return { proposal: this.#get(id).record, votes: this.#records(id) }
  }

  status (): { networkId: string, rules: Omit<PlexusConfig['governance'], 'members' | 'flTemplates'>, members: string[], openMembership: boolean, params: Array<{ name: string, value: unknown, rule: boolean, help: string }>, received: Record<string, number>, net: GovNet['stats'] | null } {
    const { members: _m, flTemplates: _f, ...rules } = this.#c.config.governance
    return {
      networkId: this.networkId,
      rules,
      members: this.#members(),
      openMembership: this.#c.config.governance.members.length === 0,
      params: Object.entries(PARAMS).map(([name, spec]) => ({ name, value: spec.get(this.#c.config), rule: spec.rule === true, help: spec.help })),
      received: { ...this.received },
      net: this.#net?.stats ?? null
    }
  }
}
