/**
 * The coordinator side of a federated job: invites participants, runs the rounds (selection,
 * training calls with a deadline, aggregation, the server optimiser, differential privacy and its
 * accountant, secure aggregation when asked), evaluates, and persists after every round so that a
 * restarted node resumes from the last completed one.
 */
import { PlexusError, isPlexusError } from '../errors.js'
import type { Logger } from '../logger.js'
import { encodeVector, decodeVector } from './protocol.js'
import type { CoordinatorStore, JobState } from './store.js'
import type { JobSpec } from './spec.js'
import type { ClientUpdate, ModelDescriptor, RoundRecord, Strategy, UpdateAggregator } from './types.js'
import type { Learning } from './learning.js'
import { seededRandom } from '../random.js'
import { runSecureRound, secureMeanFromSum } from './secure-round.js'
import { sha256Hex, type ReceiptBody } from '../ledger/receipts.js'
import type { ReceiptKeeper } from '../ledger/inference.js'
import type { FederatedTestHooks } from './test-hooks.js'

/** Secure rounds that may abort in a row before the job fails (each leaves the model as it was). */
export const MAX_CONSECUTIVE_ABORTS = 3

export type CallPeer = (peer: string, message: object, timeoutMs: number, signal?: AbortSignal) => Promise<Record<string, unknown>>

export interface CoordinatorComponents {
  call: CallPeer
  /** Peers to invite when the spec names none. */
  candidates: () => string[]
  store: CoordinatorStore
  learning: Learning
  logger: Logger
  onEvent: (event: JobEvent) => void
  /** Set by in-process tests only (see test-hooks.ts). */
  hooks?: FederatedTestHooks
  /** Countersigns and keeps the participants' round receipts (the node's books). */
  receipts?: ReceiptKeeper
}

export type JobEvent =
  | { type: 'status', jobId: string, status: JobState['status'], reason: string | null }
  | { type: 'round', jobId: string, record: RoundRecord }


/** The clients of a round: max(min, ⌈fraction·n⌉) of the roster, drawn with the job's seed. */
export function selectClients (roster: string[], spec: Pick<JobSpec, 'clients' | 'seed'>, round: number): string[] {
  const k = Math.min(roster.length, Math.max(spec.clients.min, Math.ceil(spec.clients.fraction * roster.length)))
  const rng = seededRandom(spec.seed * 100_003 + round)
  const pool = [...roster].sort()
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    ;[pool[i], pool[j]] = [pool[j] as string, pool[i] as string]
  }
  return pool.slice(0, k)
}

function finite (v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`${what} is not a finite number`])
  return v
}

interface RoundOutcome {
  /** The aggregated update; null when the round aborted. */
  delta: Float32Array | null
  contributed: string[]
  trainLoss: number | null
  /** Why the round aborted (secure aggregation below its threshold). */
  aborted?: string
  /** Samples each contributor reported (plain rounds; secure rounds hide them). */
  examples?: Map<string, number>
}

export class Coordinator {
  readonly #c: CoordinatorComponents
  readonly state: JobState
  #weights: Float32Array
  readonly #descriptor: ModelDescriptor
  readonly #strategy: Strategy
  readonly #aggregator: UpdateAggregator
  readonly #stop = new AbortController()
  #joinWaiters: Array<() => void> = []

  constructor (components: CoordinatorComponents, state: JobState, weights: Float32Array | null) {
    this.#c = components
    this.state = state
    this.#descriptor = components.learning.descriptor(state.spec)
    this.#weights = weights ?? components.learning.initialWeights(this.#descriptor, state.spec)
    this.state.parameters = this.#weights.length
    this.#strategy = components.learning.strategy(state.spec)
    if (Object.keys(state.strategyState).length > 0) this.#strategy.restore(state.strategyState)
    this.#aggregator = components.learning.aggregator(state.spec)
  }

  get id (): string { return this.state.id }
  get spec (): JobSpec { return this.state.spec }
  get weights (): Float32Array { return this.#weights }
  get descriptor (): ModelDescriptor { return this.#descriptor }

  stop (): void {
    this.#stop.abort()
    for (const w of this.#joinWaiters) w()
  }

  /** A participant approved the job after its owner's review. */
  addJoin (peer: string): void {
    if (this.state.roster.includes(peer)) return
    if (!this.state.pending.includes(peer) && !this.#invitees().includes(peer)) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`peer ${peer} was not invited to job ${this.id}`])
    this.state.pending = this.state.pending.filter(p => p !== peer)
    this.state.roster.push(peer)
    this.#save()
    for (const w of this.#joinWaiters) w()
  }

  #invitees (): string[] {
    return this.spec.participants ?? this.#c.candidates()
  }

  /** Once stopped, a coordinator never writes again: a restarted node may own the job by then. */
  #save (weights?: Float32Array): void {
    if (this.#stop.signal.aborted) return
    this.#c.store.save(this.state, weights)
  }

  #call (peer: string, message: object, timeoutMs: number): Promise<Record<string, unknown>> {
    return this.#c.call(peer, message, timeoutMs, this.#stop.signal)
  }

  #setStatus (status: JobState['status'], reason: string | null = null): void {
    this.state.status = status
    this.state.reason = reason
    this.#save()
    this.#c.onEvent({ type: 'status', jobId: this.id, status, reason })
  }

  get #deadlineMs (): number { return this.spec.roundDeadlineSeconds * 1000 }

  /** Runs the job to its end (or resumes it). Never throws: failures end in status `failed`. */
  async run (): Promise<void> {
    try {
      if (this.state.status === 'inviting') await this.#invite()
      if (this.state.status === 'running') await this.#rounds()
    } catch (err) {
      if (this.#stop.signal.aborted) return
      const reason = isPlexusError(err) ? err.message : String((err as Error).message)
      this.#c.logger.warn({ job: this.id, reason }, 'federated job failed')
      this.#setStatus('failed', reason)
    }
  }

  async #invite (): Promise<void> {
    const { spec } = this
    const offer = { type: 'offer', jobId: this.id, spec }
    await Promise.all(this.#invitees().map(async peer => {
      try {
        const reply = await this.#call(peer, offer, Math.min(this.#deadlineMs, 30_000))
        if (reply.status === 'accepted') { if (!this.state.roster.includes(peer)) this.state.roster.push(peer) } else if (reply.status === 'pending') this.state.pending.push(peer)
        else this.state.declined.push({ peer, reason: String(reply.reason ?? 'declined') })
      } catch (err) {
        this.state.declined.push({ peer, reason: (err as Error).message })
      }
    }))
    this.#save()
    // Wait (up to one round deadline) for owners who review offers by hand.
    const deadline = Date.now() + this.#deadlineMs
    while (this.state.roster.length < spec.clients.min && this.state.pending.length > 0 && Date.now() < deadline && !this.#stop.signal.aborted) {
      await new Promise<void>(resolve => {
        const t = setTimeout(resolve, Math.max(0, deadline - Date.now()))
        this.#joinWaiters.push(() => { clearTimeout(t); resolve() })
      })
      this.#joinWaiters = []
    }
    if (this.#stop.signal.aborted) return
    if (this.state.roster.length < spec.clients.min) {
      throw new PlexusError('PLX_ERR_FL_JOB_FAILED', [this.id, `${this.state.roster.length} participant(s) accepted, ${spec.clients.min} needed (declined: ${this.state.declined.map(d => `${d.peer.slice(-6)}: ${d.reason}`).join('; ') || 'none'}; pending: ${this.state.pending.length})`])
    }
    this.#setStatus('running')
  }

  async #rounds (): Promise<void> {
    const { spec } = this
    for (let round = this.state.round + 1; round <= spec.rounds; round++) {
      if (this.#stop.signal.aborted) return
      const selected = selectClients(this.state.roster, spec, round)
      if (spec.dp.enabled && spec.dp.epsilonBudget != null) {
        const q = selected.length / this.state.roster.length
        const next = this.#c.learning.epsilon([...this.state.accountant.steps, { q, sigma: spec.dp.noiseMultiplier }], spec.dp.delta)
        if (next > spec.dp.epsilonBudget) {
          this.#setStatus('completed', `privacy budget spent: another round would reach ε = ${next.toFixed(3)} > ${spec.dp.epsilonBudget}`)
          await this.#finish()
          return
        }
      }
      const startedAt = new Date().toISOString()
      const inputSha256 = sha256Hex(encodeVector(this.#weights))
      const outcome = spec.secureAggregation.enabled ? await this.#secureRound(round, selected) : await this.#plainRound(round, selected)
      if (this.#stop.signal.aborted) return
      if (outcome.delta != null) this.#weights = this.#strategy.apply(round, this.#weights, outcome.delta)
      let epsilon: number | null = null
      // An aborted round is charged too: conservative, since a coordinator that only claimed the
      // abort after unmasking would otherwise get one release for free.
      if (spec.dp.enabled) {
        this.state.accountant.steps.push({ q: selected.length / this.state.roster.length, sigma: spec.dp.noiseMultiplier })
        epsilon = this.#c.learning.epsilon(this.state.accountant.steps, spec.dp.delta)
        this.state.epsilon = epsilon
      }
      const evaluation = round % spec.evaluation.everyRounds === 0 || round === spec.rounds ? await this.#evaluate(round) : null
      if (this.#stop.signal.aborted) return
      const record: RoundRecord = {
        round, startedAt, finishedAt: new Date().toISOString(), selected,
        contributed: outcome.contributed, dropped: selected.filter(p => !outcome.contributed.includes(p)),
        trainLoss: outcome.trainLoss, evaluation, epsilon, ...(outcome.aborted != null ? { aborted: outcome.aborted } : {})
      }
      this.state.round = round
      this.state.history.push(record)
      this.state.strategyState = this.#strategy.state()
      this.#save(this.#weights)
      this.#c.onEvent({ type: 'round', jobId: this.id, record })
      this.#c.logger.info({ job: this.id, round, contributed: outcome.contributed.length, accuracy: evaluation?.accuracy, aborted: outcome.aborted }, 'federated round done')
      await this.#receipts(round, inputSha256, outcome)
      const aborts = this.state.history.length - 1 - this.state.history.findLastIndex(h => h.aborted == null)
      if (aborts >= MAX_CONSECUTIVE_ABORTS) {
        throw new PlexusError('PLX_ERR_FL_JOB_FAILED', [this.id, `secure aggregation aborted in ${aborts} rounds in a row (last, round ${round}: ${outcome.aborted ?? ''})`])
      }
    }
    this.#setStatus('completed', null)
    await this.#finish()
  }

  #fitConfig (round: number): Record<string, unknown> {
    const { spec } = this
    return {
      epochs: spec.local.epochs,
      batchSize: spec.local.batchSize,
      learningRate: spec.local.learningRate,
      proximalMu: this.#strategy.proximalMu,
      seed: spec.seed * 100_003 + round
    }
  }

  /** Reads and checks one client's fit reply. */
  #parseFit (peer: string, reply: Record<string, unknown>): ClientUpdate & { loss: number } {
    const numExamples = finite(reply.numExamples, 'numExamples')
    if (!Number.isInteger(numExamples) || numExamples < 1 || numExamples > 1e9) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['numExamples out of range'])
    if (typeof reply.update !== 'string') throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['update missing'])
    return { clientId: peer, numExamples, loss: finite(reply.loss, 'loss'), update: decodeVector(reply.update, this.#weights.length, `update from ${peer}`) }
  }

  async #plainRound (round: number, selected: string[]): Promise<RoundOutcome> {
    const { spec } = this
    const message = { type: 'fit', jobId: this.id, round, weights: encodeVector(this.#weights), config: this.#fitConfig(round) }
    const settled = await Promise.allSettled(selected.map(async peer => this.#parseFit(peer, await this.#call(peer, message, this.#deadlineMs))))
    const updates: Array<ClientUpdate & { loss: number }> = []
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled') updates.push(r.value)
      else this.#c.logger.warn({ job: this.id, round, peer: selected[i], reason: (r.reason as Error).message }, 'participant left out of the round')
    })
    if (updates.length === 0) throw new PlexusError('PLX_ERR_FL_JOB_FAILED', [this.id, `no participant returned an update in round ${round}`])
    const total = updates.reduce((s, u) => s + u.numExamples, 0)
    const trainLoss = updates.reduce((s, u) => s + u.loss * u.numExamples, 0) / total
    const delta = spec.dp.enabled
      ? this.#c.learning.dpMean(updates.map(u => u.update), spec.dp.clipNorm, spec.dp.noiseMultiplier, selected.length)
      : this.#aggregator.aggregate(updates)
    return { delta, contributed: updates.map(u => u.clientId), trainLoss, examples: new Map(updates.map(u => [u.clientId, u.numExamples])) }
  }

  /**
   * Receipts of a finished round: each contributor (other than this node) signs one for the work
   * it did; the coordinator checks it against what it sent (the model's hash) and received (the
   * samples reported, in a plain round), countersigns, keeps it and hands it back. Best effort:
   * a participant that keeps no receipts or does not answer costs the round nothing.
   */
  async #receipts (round: number, inputSha256: string, outcome: RoundOutcome): Promise<void> {
    const keeper = this.#c.receipts
    if (keeper == null) return
    await Promise.allSettled(outcome.contributed.filter(peer => peer !== keeper.peerId).map(async peer => {
      try {
        const reply = await this.#call(peer, { type: 'receipt-sign', jobId: this.id, round }, 10_000)
        const partial = reply.receipt as { body: ReceiptBody, providerSignature: string } | undefined
        const b = partial?.body
        const reported = outcome.examples?.get(peer)
        if (b?.kind !== 'fl-round' || b.provider !== peer || b.requester !== keeper.peerId || b.jobId !== this.id || b.round !== round ||
          b.inputSha256 !== inputSha256 || b.modelSha256 !== inputSha256 || (reported != null && b.samples !== reported)) {
          throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['the receipt does not match the round'])
        }
        const signed = keeper.countersign(partial!)
        keeper.record(signed)
        await this.#call(peer, { type: 'receipt-store', jobId: this.id, receipt: signed }, 10_000)
      } catch (err) {
        this.#c.logger.debug({ job: this.id, round, peer, err: (err as Error).message }, 'no receipt for this round')
      }
    }))
  }

  /**
   * A round under secure aggregation. When it aborts (too few clients survived a step) the round
   * is recorded as aborted and the model stays as it was: the coordinator learned nothing in it.
   */
  async #secureRound (round: number, selected: string[]): Promise<RoundOutcome> {
    const { spec } = this
    let r
    try {
      r = await runSecureRound({
        jobId: this.id,
        round,
        selected,
        parameters: this.#weights.length,
        spec,
        deadlineMs: this.#deadlineMs,
        call: (peer, message, timeoutMs) => this.#call(peer, message, timeoutMs),
        fitMessage: { weights: encodeVector(this.#weights), config: this.#fitConfig(round) },
        logger: this.#c.logger
      })
    } catch (err) {
      if (!isPlexusError(err, 'PLX_ERR_SECAGG_ABORTED') || this.#stop.signal.aborted) throw err
      this.#c.logger.warn({ job: this.id, round, reason: err.message }, 'secure aggregation round aborted; the model is unchanged')
      return { delta: null, contributed: [], trainLoss: null, aborted: err.message }
    }
    this.#c.hooks?.secureSum?.({ jobId: this.id, round, quantisedSum: r.quantisedSum, contributors: r.contributed })
    // The sum holds Σ s_k·u_k and Σ w_k: FedAvg's weighted mean (with DP, every w_k is 1 and each
    // client clipped its update and added its share of the noise before masking).
    return { delta: secureMeanFromSum(r.sum, this.#weights.length, spec), contributed: r.contributed, trainLoss: r.trainLoss }
  }

  async #evaluate (round: number): Promise<RoundRecord['evaluation']> {
    const message = { type: 'evaluate', jobId: this.id, round, weights: encodeVector(this.#weights) }
    const settled = await Promise.allSettled(this.state.roster.map(async peer => await this.#call(peer, message, this.#deadlineMs)))
    let n = 0
    let loss = 0
    let acc = 0
    for (const r of settled) {
      if (r.status !== 'fulfilled') continue
      try {
        const k = finite(r.value.numExamples, 'numExamples')
        if (k < 1) continue
        loss += finite(r.value.loss, 'loss') * k
        acc += finite(r.value.accuracy, 'accuracy') * k
        n += k
      } catch {}
    }
    return n === 0 ? null : { loss: loss / n, accuracy: acc / n, numExamples: n }
  }

  async #finish (): Promise<void> {
    const message = { type: 'finish', jobId: this.id, status: this.state.status }
    await Promise.allSettled(this.state.roster.map(async peer => await this.#call(peer, message, 10_000)))
  }
}
