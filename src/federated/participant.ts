/**
 * The participant side of federated jobs: decides on offers by the owner's policy (coordinators
 * on the allow-list are accepted at once, others wait for `plexus fl join`), trains on the local
 * dataset in a worker, and answers only with updates and evaluation figures — never data.
 */
import { z } from 'zod'
import { sha256Hex, type ReceiptBody } from '../ledger/receipts.js'
import type { ReceiptKeeper } from '../ledger/inference.js'
import type { PeerSigner } from '../ledger/peer-keys.js'
import { PlexusError } from '../errors.js'
import type { Logger } from '../logger.js'
import { readJsonFile, writeJsonAtomic } from '../node/json-file.js'
import type { DataRegistry } from '../data/registry.js'
import { decodeVector, encodeVector } from './protocol.js'
import { templateHash, parseJobSpec, type JobSpec } from './spec.js'
import { seededRandom } from '../random.js'
import type { LocalDataset, ModelDescriptor } from './types.js'
import type { Learning, Trainer } from './learning.js'
import { SecureRoundParticipant } from './secure-round.js'
import type { FederatedTestHooks } from './test-hooks.js'

export const PARTICIPATION_STATUSES = ['pending', 'accepted', 'declined', 'finished'] as const
const ParticipationSchema = z.object({
  jobId: z.string(),
  coordinator: z.string(),
  spec: z.record(z.string(), z.unknown()),
  status: z.enum(PARTICIPATION_STATUSES),
  reason: z.string().nullable(),
  receivedAt: z.string(),
  roundsTrained: z.number().int(),
  lastRound: z.number().int(),
  /** Bytes of updates and figures this node sent for the job. */
  bytesSent: z.number().int()
})
export type Participation = Omit<z.output<typeof ParticipationSchema>, 'spec'> & { spec: JobSpec }
const FileSchema = z.object({ jobs: z.array(ParticipationSchema) })

const Base = z.object({ type: z.string(), jobId: z.string().min(1).max(64) })
const FitSchema = Base.extend({ round: z.number().int().min(1), weights: z.string(), config: z.object({ epochs: z.number().int().min(1).max(1000), batchSize: z.number().int().min(1).max(100_000), learningRate: z.number().positive().max(100), proximalMu: z.number().min(0).max(100), seed: z.number().int() }) })
const EvaluateSchema = Base.extend({ round: z.number().int().min(0), weights: z.string() })

export interface ParticipantComponents {
  data: DataRegistry
  learning: Learning
  logger: Logger
  /** Where participations are remembered. */
  file: string
  /** Coordinators whose jobs are accepted without review (`*` for any). */
  autoAcceptFrom: () => string[]
  /** Job templates (see `templateHash`) approved for automatic participation, e.g. by governance. */
  approvedTemplates?: () => string[]
  /** This node's peer id: its own jobs need no review. */
  self: () => string | null
  /** Set by in-process tests only (see test-hooks.ts). */
  hooks?: FederatedTestHooks
  /** Signs and keeps receipts of the rounds this node trains (the node's books). */
  receipts?: ReceiptKeeper
  /** The node's key: signs its secure-aggregation keys (none: this node cannot join secure rounds). */
  signer?: PeerSigner
}

/** What this node did in one round, for its receipt. */
interface RoundWork { inputSha256: string, outputSha256: string, samples: number, startedAt: number, endedAt: number }
/** Rounds remembered for receipts, per node (older ones are forgotten). */
const MAX_ROUND_WORK = 1000

interface Prepared { descriptor: ModelDescriptor, train: LocalDataset, test: LocalDataset, parameters: number }

export class Participant {
  readonly #c: ParticipantComponents
  readonly #prepared = new Map<string, Promise<Prepared>>()
  readonly #secure = new Map<string, SecureRoundParticipant>()
  #trainer: Promise<Trainer> | null = null
  #chain: Promise<unknown> = Promise.resolve()

  constructor (components: ParticipantComponents) {
    this.#c = components
  }

  list (): Participation[] {
    return readJsonFile(this.#c.file, FileSchema, { jobs: [] }).jobs as Participation[]
  }

  get (jobId: string): Participation {
    const p = this.list().find(j => j.jobId === jobId)
    if (p == null) throw new PlexusError('PLX_ERR_FL_JOB_NOT_FOUND', [jobId])
    return p
  }

  #update (jobId: string, change: (p: Participation) => void): Participation {
    const jobs = this.list()
    const p = jobs.find(j => j.jobId === jobId)
    if (p == null) throw new PlexusError('PLX_ERR_FL_JOB_NOT_FOUND', [jobId])
    change(p)
    writeJsonAtomic(this.#c.file, { jobs }, 0o600)
    return p
  }

  /** The owner's approval of a pending offer; the caller then tells the coordinator. */
  approve (jobId: string): Participation {
    const p = this.get(jobId)
    if (p.status !== 'pending') throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`job ${jobId} is ${p.status}, not pending`])
    return this.#update(jobId, q => { q.status = 'accepted'; q.reason = null })
  }

  decline (jobId: string): Participation {
    return this.#update(jobId, q => { q.status = 'declined'; q.reason = 'declined by the owner' })
  }

  countSent (jobId: string, bytes: number): void {
    try { this.#update(jobId, q => { q.bytesSent += bytes }) } catch {}
  }

  async close (): Promise<void> {
    const t = this.#trainer
    this.#trainer = null
    if (t != null) await (await t).close()
  }

  /** One message from a coordinator; the reply goes back on the same stream. */
  async handle (peer: string, message: unknown): Promise<Record<string, unknown>> {
    const base = Base.safeParse(message)
    if (!base.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['message without type and jobId'])
    const { type, jobId } = base.data
    if (type === 'offer') return this.#offer(peer, message)
    const p = this.get(jobId)
    if (p.coordinator !== peer) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`job ${jobId} belongs to another coordinator`])
    if (type === 'finish') {
      this.#update(jobId, q => { q.status = 'finished' })
      this.#prepared.delete(jobId)
      return {}
    }
    if (p.status !== 'accepted') throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`job ${jobId} is ${p.status} here`])
    if (type === 'fit') return await this.#fit(p, message)
    if (type === 'receipt-sign') return this.#signReceipt(p, message)
    if (type === 'receipt-store') return this.#storeReceipt(p, message)
    if (type === 'evaluate') return await this.#evaluate(p, message)
    if (type.startsWith('secagg-')) return await this.#secureStep(p, type, message)
    throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`unknown message type '${type}'`])
  }

  #offer (peer: string, message: unknown): Record<string, unknown> {
    const m = z.object({ jobId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), spec: z.unknown() }).safeParse(message)
    if (!m.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['malformed offer'])
    const spec = parseJobSpec(m.data.spec)
    const existing = this.list().find(j => j.jobId === m.data.jobId)
    if (existing != null) {
      if (existing.coordinator !== peer) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['job id already used by another coordinator'])
      return { status: existing.status, reason: existing.reason }
    }
    let status: Participation['status'] = 'pending'
    let reason: string | null = null
    const problem = this.#datasetProblem(spec)
    if (problem != null) { status = 'declined'; reason = problem } else {
      const allow = this.#c.autoAcceptFrom()
      if (allow.includes('*') || allow.includes(peer) || peer === this.#c.self()) status = 'accepted'
      else if (this.#c.approvedTemplates?.().includes(templateHash(spec)) === true) { status = 'accepted'; reason = 'an approved job template' }
    }
    const record: Participation = { jobId: m.data.jobId, coordinator: peer, spec, status, reason, receivedAt: new Date().toISOString(), roundsTrained: 0, lastRound: 0, bytesSent: 0 }
    writeJsonAtomic(this.#c.file, { jobs: [...this.list(), record] }, 0o600)
    this.#c.logger.info({ job: record.jobId, coordinator: peer, status }, 'federated job offered')
    return { status, reason }
  }

  /** Why this node cannot take part (missing dataset or columns), or null. */
  #datasetProblem (spec: JobSpec): string | null {
    if (!this.#c.data.has(spec.dataset.name)) return `no dataset '${spec.dataset.name}' here`
    const d = this.#c.data.get(spec.dataset.name)
    for (const col of [...spec.dataset.features, spec.dataset.label]) {
      if (!d.columns.some(c => c.name === col)) return `dataset '${spec.dataset.name}' has no column '${col}'`
      if (!d.allowedColumns.includes(col)) return `column '${col}' is not allowed for use`
    }
    return null
  }

  async #trainerInstance (): Promise<Trainer> {
    this.#trainer ??= this.#c.learning.createTrainer()
    return await this.#trainer
  }

  /** Training runs one at a time (one worker); other messages are answered meanwhile. */
  async #serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn)
    this.#chain = run.catch(() => {})
    return await run
  }

  async #prepare (p: Participation): Promise<Prepared> {
    let prepared = this.#prepared.get(p.jobId)
    if (prepared == null) {
      prepared = (async () => {
        const { spec } = p
        const all = await this.#c.data.numeric(spec.dataset.name, spec.dataset.features, spec.dataset.label)
        if (all.classes > spec.classes) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`label '${spec.dataset.label}' has class ${all.classes - 1}, but the job has ${spec.classes} classes`])
        const { train, test } = splitRows(all, spec.testFraction, spec.seed)
        if (spec.standardize) standardize(train, test)
        const descriptor = this.#c.learning.descriptor(spec)
        return { descriptor, train, test, parameters: this.#c.learning.parameterCount(descriptor) }
      })()
      prepared.catch(() => this.#prepared.delete(p.jobId))
      this.#prepared.set(p.jobId, prepared)
    }
    return await prepared
  }

  async #fit (p: Participation, message: unknown): Promise<Record<string, unknown>> {
    const m = FitSchema.safeParse(message)
    if (!m.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['malformed fit request'])
    const startedAt = Date.now()
    const r = await this.#localFit(p, m.data)
    this.#update(p.jobId, q => { q.roundsTrained++; q.lastRound = m.data.round })
    const update = encodeVector(r.update)
    this.#remember(p.jobId, m.data.round, { inputSha256: sha256Hex(m.data.weights), outputSha256: sha256Hex(update), samples: r.numExamples, startedAt, endedAt: Date.now() })
    return { numExamples: r.numExamples, loss: r.loss, update }
  }

  readonly #work = new Map<string, RoundWork>()

  #remember (jobId: string, round: number, work: RoundWork): void {
    this.#work.set(`${jobId}/${round}`, work)
    if (this.#work.size > MAX_ROUND_WORK) this.#work.delete(this.#work.keys().next().value!)
  }

  /**
   * The coordinator asks for this node's receipt of a round it trained: signed here as provider
   * from what this node itself recorded (samples, the hashes of the model it got and of what it
   * sent), never from what the coordinator claims.
   */
  #signReceipt (p: Participation, message: unknown): Record<string, unknown> {
    const keeper = this.#c.receipts
    if (keeper == null) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['this node keeps no receipts'])
    const m = Base.extend({ round: z.number().int().min(1).max(1_000_000) }).safeParse(message)
    if (!m.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['malformed receipt request'])
    const work = this.#work.get(`${p.jobId}/${m.data.round}`)
    if (work == null) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`this node did not train round ${m.data.round} of job ${p.jobId}`])
    const body: ReceiptBody = {
      v: 1, kind: 'fl-round', id: `fl:${p.jobId}:${m.data.round}:${keeper.peerId.slice(-12)}`, jobId: p.jobId,
      provider: keeper.peerId, requester: p.coordinator, inputSha256: work.inputSha256, outputSha256: work.outputSha256,
      startedAt: work.startedAt, endedAt: work.endedAt, modelSha256: work.inputSha256, round: m.data.round, samples: work.samples
    }
    return { receipt: keeper.sign(body) }
  }

  /** The coordinator's countersigned receipt: checked (both signatures) and kept. */
  #storeReceipt (p: Participation, message: unknown): Record<string, unknown> {
    const keeper = this.#c.receipts
    if (keeper == null) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['this node keeps no receipts'])
    const m = Base.extend({ receipt: z.record(z.string(), z.unknown()) }).safeParse(message)
    if (!m.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['malformed receipt'])
    const body = (m.data.receipt as { body?: { provider?: unknown, jobId?: unknown } }).body
    if (body?.provider !== keeper.peerId || body.jobId !== p.jobId) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['a receipt for someone else\'s work'])
    keeper.record(m.data.receipt)
    return {}
  }

  async #localFit (p: Participation, m: z.output<typeof FitSchema>): Promise<{ update: Float32Array, numExamples: number, loss: number }> {
    const prep = await this.#prepare(p)
    const global = decodeVector(m.weights, prep.parameters, 'global weights')
    return await this.#serial(async () => {
      const trainer = await this.#trainerInstance()
      const out = await trainer.fit(prep.descriptor, global, prep.train, m.config)
      const update = new Float32Array(global.length)
      for (let i = 0; i < update.length; i++) update[i] = (out.weights[i] ?? 0) - (global[i] ?? 0)
      return { update, numExamples: out.numExamples, loss: out.loss }
    })
  }

  async #evaluate (p: Participation, message: unknown): Promise<Record<string, unknown>> {
    const m = EvaluateSchema.safeParse(message)
    if (!m.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['malformed evaluate request'])
    const prep = await this.#prepare(p)
    const global = decodeVector(m.data.weights, prep.parameters, 'global weights')
    const data = prep.test.rows > 0 ? prep.test : prep.train
    const r = await this.#serial(async () => await (await this.#trainerInstance()).evaluate(prep.descriptor, global, data))
    return { numExamples: r.numExamples, loss: r.loss, accuracy: r.accuracy }
  }

  async #secureStep (p: Participation, type: string, message: unknown): Promise<Record<string, unknown>> {
    const key = p.jobId
    let s = this.#secure.get(key)
    if (s == null) {
      const signer = this.#c.signer
      if (signer == null) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['this node has no key to sign secure-aggregation keys with'])
      s = new SecureRoundParticipant({
        fit: async (fitMessage) => {
          const m = FitSchema.safeParse({ type: 'fit', jobId: p.jobId, ...fitMessage })
          if (!m.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['malformed fit request'])
          const startedAt = Date.now()
          const r = await this.#localFit(p, m.data)
          this.#update(p.jobId, q => { q.roundsTrained++; q.lastRound = m.data.round })
          // Under secure aggregation what leaves is masked: the receipt states the work (round, samples).
          this.#remember(p.jobId, m.data.round, { inputSha256: sha256Hex(m.data.weights), outputSha256: sha256Hex(`secure:${p.jobId}:${m.data.round}:${r.numExamples}`), samples: r.numExamples, startedAt, endedAt: Date.now() })
          return r
        },
        spec: p.spec,
        learning: this.#c.learning,
        parameters: async () => (await this.#prepare(p)).parameters,
        signer,
        jobId: p.jobId,
        hooks: this.#c.hooks
      })
      this.#secure.set(key, s)
    }
    return await s.handle(type, message)
  }
}

/** A seeded split into training and held-out rows. */
export function splitRows (d: LocalDataset, testFraction: number, seed: number): { train: LocalDataset, test: LocalDataset } {
  const order = Array.from({ length: d.rows }, (_, i) => i)
  const rng = seededRandom(seed ^ 0x5eed)
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    ;[order[i], order[j]] = [order[j] as number, order[i] as number]
  }
  const nTest = d.rows >= 10 ? Math.floor(d.rows * testFraction) : 0
  const pick = (idx: number[]): LocalDataset => {
    const x = new Float32Array(idx.length * d.features)
    const y = new Int32Array(idx.length)
    idx.forEach((r, k) => {
      x.set(d.x.subarray(r * d.features, (r + 1) * d.features), k * d.features)
      y[k] = d.y[r] ?? 0
    })
    return { x, y, rows: idx.length, features: d.features }
  }
  return { test: pick(order.slice(0, nTest)), train: pick(order.slice(nTest)) }
}

/** Z-scores features with the training rows' mean and deviation (applied to both splits). */
export function standardize (train: LocalDataset, test: LocalDataset): void {
  const f = train.features
  for (let j = 0; j < f; j++) {
    let mean = 0
    for (let i = 0; i < train.rows; i++) mean += train.x[i * f + j] ?? 0
    mean /= Math.max(1, train.rows)
    let v = 0
    for (let i = 0; i < train.rows; i++) v += ((train.x[i * f + j] ?? 0) - mean) ** 2
    const sd = Math.sqrt(v / Math.max(1, train.rows)) || 1
    for (const d of [train, test]) for (let i = 0; i < d.rows; i++) d.x[i * f + j] = ((d.x[i * f + j] ?? 0) - mean) / sd
  }
}
