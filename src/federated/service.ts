/**
 * Federated learning on a node: the coordinator jobs it runs and the jobs it takes part in, over
 * `/plexus/fl/1.0.0`. The node composes it with the network, the dataset registry and the
 * learning parts; the HTTP API and the CLI call it.
 */
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { PlexusError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { PlexusNetwork } from '../p2p/network.js'
import type { DataRegistry } from '../data/registry.js'
import type { ReceiptKeeper } from '../ledger/inference.js'
import type { PeerSigner } from '../ledger/peer-keys.js'
import { flCall, flHandler, FL_PROTOCOL, type FlTraffic } from './protocol.js'
import { parseJobSpec } from './spec.js'
import { CoordinatorStore, type JobState } from './store.js'
import { Coordinator, type JobEvent } from './coordinator.js'
import { Participant, type Participation } from './participant.js'
import { defaultLearning, type Learning } from './learning.js'
import { exportTfjsModel } from './export.js'
import type { FederatedTestHooks } from './test-hooks.js'

export interface FederatedComponents {
  network: PlexusNetwork | null
  data: DataRegistry
  logger: Logger
  /** `<data-dir>/fl` */
  dir: string
  learning?: Learning
  /** The node's books: round receipts, both ways. */
  receipts?: ReceiptKeeper
  /** The node's key (signs its secure-aggregation keys). */
  signer?: PeerSigner
}

export interface FederatedInit {
  /** Coordinators (peer ids, or `*`) whose jobs this node joins without asking. */
  autoAcceptFrom: string[]
  /** Job templates approved for automatic participation (read on every offer). */
  approvedTemplates?: () => string[]
}

export interface JobSummary {
  id: string
  name: string
  role: 'coordinator'
  status: JobState['status']
  reason: string | null
  round: number
  rounds: number
  roster: string[]
  pending: string[]
  declined: Array<{ peer: string, reason: string }>
  parameters: number
  epsilon: number | null
  lastAccuracy: number | null
  createdAt: string
  updatedAt: string
}

export class FederatedService {
  readonly #c: FederatedComponents
  readonly #init: FederatedInit
  readonly #store: CoordinatorStore
  readonly #learning: Learning
  readonly participant: Participant
  readonly #running = new Map<string, { coordinator: Coordinator, done: Promise<void> }>()
  readonly events = new EventEmitter()
  readonly traffic: FlTraffic = { bytesIn: 0, bytesOut: 0 }
  /** For in-process tests only; empty unless a test sets a hook (see test-hooks.ts). */
  readonly testHooks: FederatedTestHooks = {}

  constructor (components: FederatedComponents, init: FederatedInit) {
    this.#c = components
    this.#init = init
    this.#learning = components.learning ?? defaultLearning()
    this.#store = new CoordinatorStore(join(components.dir, 'coordinator'))
    this.participant = new Participant({
      data: components.data,
      learning: this.#learning,
      logger: components.logger,
      file: join(components.dir, 'participating.json'),
      autoAcceptFrom: () => this.#init.autoAcceptFrom,
      approvedTemplates: () => this.#init.approvedTemplates?.() ?? [],
      self: () => this.#c.network?.peerId ?? null,
      receipts: components.receipts,
      signer: components.signer,
      hooks: this.testHooks
    })
    this.events.setMaxListeners(100)
  }

  /** Serves the protocol and resumes coordinator jobs that were running when the node stopped. */
  async start (): Promise<void> {
    const network = this.#c.network
    if (network != null) {
      const countSent = (message: unknown, bytes: number): void => {
        const jobId = (message as { jobId?: unknown } | null)?.jobId
        if (typeof jobId === 'string') this.participant.countSent(jobId, bytes)
      }
      await network.libp2p.handle(FL_PROTOCOL, flHandler(async (peer, message) => await this.#handle(peer, message), this.traffic, countSent), { maxInboundStreams: 256 })
    }
    for (const id of this.#store.ids()) {
      const saved = this.#store.load(id)
      if (saved == null || (saved.state.status !== 'running' && saved.state.status !== 'inviting')) continue
      this.#c.logger.info({ job: id, round: saved.state.round }, 'resuming federated job')
      this.#launch(saved.state, saved.weights)
    }
  }

  async stop (): Promise<void> {
    for (const { coordinator } of this.#running.values()) coordinator.stop()
    await Promise.allSettled([...this.#running.values()].map(async r => await r.done))
    await this.participant.close()
  }

  #network (): PlexusNetwork {
    if (this.#c.network == null) throw new PlexusError('PLX_ERR_NETWORK_OFF')
    return this.#c.network
  }

  async #call (peer: string, message: object, timeoutMs: number, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const network = this.#network()
    if (peer === network.peerId) {
      // The coordinator takes part with its own data: same messages, no stream (JSON round trip
      // so both paths see identical values), and the same deadline.
      const local = this.#handle(peer, JSON.parse(JSON.stringify(message)))
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new PlexusError('PLX_ERR_FL_PROTOCOL', [`no reply within ${timeoutMs} ms`])), timeoutMs) })
      try {
        return await Promise.race([local, timeout])
      } finally {
        clearTimeout(timer)
      }
    }
    await network.whenReachable(peer, Math.min(timeoutMs, 15_000), signal)
    return await flCall((p, proto, o) => network.libp2p.dialProtocol(p, proto, o), peerIdFromString(peer), message, { timeoutMs, signal, traffic: this.traffic })
  }

  async #handle (peer: string, message: unknown): Promise<Record<string, unknown>> {
    const type = (message as { type?: unknown } | null)?.type
    if (type === 'join') {
      const jobId = String((message as { jobId?: unknown }).jobId ?? '')
      const running = this.#running.get(jobId)
      if (running == null) throw new PlexusError('PLX_ERR_FL_JOB_NOT_FOUND', [jobId])
      running.coordinator.addJoin(peer)
      return {}
    }
    return await this.participant.handle(peer, message)
  }

  /** Creates and starts a job as its coordinator. */
  async create (specInput: unknown): Promise<JobSummary> {
    this.#network()
    const spec = parseJobSpec(specInput)
    // The descriptor must build (a bad topology is the creator's error, before anyone is invited).
    this.#learning.descriptor(spec)
    const id = `fl-${randomBytes(6).toString('base64url')}`
    const now = new Date().toISOString()
    const state: JobState = {
      id, spec, status: 'inviting', reason: null, createdAt: now, updatedAt: now, round: 0, parameters: 0,
      roster: [], pending: [], declined: [], strategyState: {}, accountant: { steps: [] }, epsilon: null, history: []
    }
    const c = this.#launch(state, null)
    this.#store.save(state, c.weights)
    return this.#summary(state)
  }

  #launch (state: JobState, weights: Float32Array | null): Coordinator {
    const coordinator = new Coordinator({
      call: async (peer, message, timeoutMs, signal) => await this.#call(peer, message, timeoutMs, signal),
      // By default: every peer that advertised, and this node itself (it has data too, maybe).
      candidates: () => [...(this.#c.network != null ? [this.#c.network.peerId] : []), ...(this.#c.network?.table.list().map(e => e.peerId) ?? [])],
      store: this.#store,
      learning: this.#learning,
      logger: this.#c.logger,
      onEvent: (event: JobEvent) => { this.events.emit(event.jobId, event) },
      receipts: this.#c.receipts,
      hooks: this.testHooks
    }, state, weights)
    const done = coordinator.run().finally(() => { this.#running.delete(state.id) })
    this.#running.set(state.id, { coordinator, done })
    return coordinator
  }

  /** Waits until a job this node coordinates has ended (tests, CLI `--wait`). */
  async waitFor (id: string): Promise<JobSummary> {
    await this.#running.get(id)?.done
    return this.job(id)
  }

  /** Template hashes governance approved for automatic participation. */
  approvedTemplates (): string[] {
    return this.#init.approvedTemplates?.() ?? []
  }

  jobs (): JobSummary[] {
    return this.#store.ids().map(id => this.#store.load(id)).filter(s => s != null).map(s => this.#summary(s.state))
  }

  #state (id: string): JobState {
    const live = this.#running.get(id)?.coordinator.state
    if (live != null) return live
    const saved = this.#store.load(id)
    if (saved == null) throw new PlexusError('PLX_ERR_FL_JOB_NOT_FOUND', [id])
    return saved.state
  }

  job (id: string): JobSummary {
    return this.#summary(this.#state(id))
  }

  history (id: string): JobState['history'] {
    return this.#state(id).history
  }

  spec (id: string): JobState['spec'] {
    return this.#state(id).spec
  }

  #summary (s: JobState): JobSummary {
    const last = [...s.history].reverse().find(r => r.evaluation != null)
    return {
      id: s.id, name: s.spec.name, role: 'coordinator', status: s.status, reason: s.reason, round: s.round, rounds: s.spec.rounds,
      roster: s.roster, pending: s.pending, declined: s.declined, parameters: s.parameters, epsilon: s.epsilon,
      lastAccuracy: last?.evaluation?.accuracy ?? null, createdAt: s.createdAt, updatedAt: s.updatedAt
    }
  }

  /** Stops a running job (it can't be resumed). */
  cancel (id: string): JobSummary {
    const live = this.#running.get(id)
    if (live == null) throw new PlexusError('PLX_ERR_FL_JOB_NOT_FOUND', [id])
    live.coordinator.stop()
    live.coordinator.state.status = 'stopped'
    live.coordinator.state.reason = 'stopped by the owner'
    this.#store.save(live.coordinator.state)
    this.events.emit(id, { type: 'status', jobId: id, status: 'stopped', reason: 'stopped by the owner' } satisfies JobEvent)
    return this.job(id)
  }

  /** The current global model of a job (final once completed), with its descriptor. */
  model (id: string): { weights: Float32Array, state: JobState } {
    const live = this.#running.get(id)?.coordinator
    if (live != null) return { weights: live.weights, state: live.state }
    const saved = this.#store.load(id)
    if (saved == null) throw new PlexusError('PLX_ERR_FL_JOB_NOT_FOUND', [id])
    return { weights: saved.weights ?? this.#learning.initialWeights(this.#learning.descriptor(saved.state.spec), saved.state.spec), state: saved.state }
  }

  /** Writes the job's model in tfjs format (model.json + weights.bin) to `dir`. */
  exportModel (id: string, dir: string): { files: string[] } {
    const { weights, state } = this.model(id)
    return exportTfjsModel(this.#learning, state.spec, weights, dir)
  }

  /** Participations of this node in others' jobs. */
  participations (): Participation[] {
    return this.participant.list()
  }

  /** Approves a pending offer and tells its coordinator. */
  async join (jobId: string): Promise<Participation> {
    const p = this.participant.approve(jobId)
    try {
      await this.#call(p.coordinator, { type: 'join', jobId }, 30_000)
    } catch (err) {
      this.participant.decline(jobId)
      throw err
    }
    return this.participant.get(jobId)
  }

  decline (jobId: string): Participation {
    return this.participant.decline(jobId)
  }
}
