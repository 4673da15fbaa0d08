/**
 * The router: decides where each generation runs — this node, a peer of the community, or the
 * cloud upstream — within what the request's privacy level allows, and never further.
 *
 * - `private`: only this node. No local model or no room is a clear error, never a trip elsewhere.
 * - `community`: this node when it has the model and a free sequence; otherwise the best peer
 *   advertising the model (scored by load, speed, latency and reputation); failing those, this
 *   node's queue.
 * - `cloud`: as community, then the configured OpenAI-compatible upstream.
 *
 * A peer that dies or stalls mid-stream is replaced by the next one, which resumes from the
 * tokens already produced (same model file, same seed), so the client's stream goes on with no
 * lost or repeated tokens.
 *
 * @packageDocumentation
 */
import { randomInt } from 'node:crypto'
import { PlexusError, isPlexusError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { InferenceEngine, GenerateRequest, GenerateResult, FinishReason } from '../inference/engine.js'
import { StopSequenceFilter } from '../inference/text-stream.js'
import type { PlexusConfig } from '../node/config.js'
import type { PlexusNetwork } from '../p2p/network.js'
import type { PeerEntry } from '../p2p/peer-table.js'
import { PeerInferenceError, type InferJob, type InferOutcome } from '../p2p/infer-protocol.js'
import { CloudUpstream } from './cloud.js'
import { assertMayRunAt, type PrivacyLevel, type PrivacyTag } from './privacy.js'

export type RouterConfig = PlexusConfig['router']

export type RouteKind = 'local' | 'peer' | 'cloud'

export interface Route {
  kind: RouteKind
  /** Peers that worked on the request, in order (more than one after a failover). */
  peers: string[]
}

export interface RoutedResult extends GenerateResult {
  route: Route
}

export interface RouteOptions {
  privacy: PrivacyTag
  signal?: AbortSignal
  onText?: (delta: string) => void
}

export interface NetworkModel {
  id: string
  /** Where it can run for this node: here, on peers, or at the cloud upstream. */
  location: 'local' | 'network' | 'cloud'
  peers: string[]
  sha256: string | null
  contextLength: number | null
}

export interface RouterComponents {
  engine: InferenceEngine
  /** Attached when the p2p host has started (`attachNetwork`). */
  network: PlexusNetwork | null
  logger: Logger
  /** Called after each routed generation (metrics). */
  onRouted?: (kind: RouteKind, outcome: 'ok' | 'error') => void
}

/** Checks peers' work after the fact (the ledger's spot checks); must not block. */
export interface WorkChecker {
  consider: (provider: string, job: InferJob, outcome: InferOutcome) => unknown
}

/**
 * llama.cpp reads seed 0xFFFFFFFF as "pick a random one", so the seeds the router draws for
 * unseeded community requests stay below 2^31.
 */
const DRAWN_SEED_LIMIT = 2 ** 31

/** Peers below this reputation are only used when nothing else can serve. */
const SHUNNED_REPUTATION = -10

export function privacyTag (level: PrivacyLevel): PrivacyTag {
  return { level, pinnedBy: [] }
}

type Plan = { kind: 'local' } | { kind: 'peers', candidates: PeerEntry[] } | { kind: 'cloud' }

export class Router {
  readonly #c: RouterComponents
  readonly #config: RouterConfig
  readonly cloud: CloudUpstream
  #checker: WorkChecker | null = null

  constructor (components: RouterComponents, config: RouterConfig) {
    this.#c = { ...components }
    this.#config = config
    this.cloud = new CloudUpstream(config.cloud)
  }

  get defaultPrivacy (): PrivacyLevel { return this.#config.defaultPrivacy }

  attachNetwork (network: PlexusNetwork | null, checker: WorkChecker | null = null): void {
    this.#c.network = network
    this.#checker = checker
  }

  /**
   * The model name to use for a client's name: the local default when empty; Ollama-style
   * `:latest` suffixes dropped when the bare name is known here or on the network.
   */
  resolveModel (name: string | undefined): string {
    const engine = this.#c.engine
    if (name == null || name === '') return engine.defaultModelName()
    if (engine.registry.has(name) || this.#peersWith(name).length > 0) return name
    if (name.endsWith(':latest')) {
      const bare = name.slice(0, -':latest'.length)
      if (engine.registry.has(bare) || this.#peersWith(bare).length > 0) return bare
    }
    return name
  }

  /** Live peers advertising `model` and accepting community jobs, best first. */
  #peersWith (model: string): PeerEntry[] {
    const table = this.#c.network?.table
    if (table == null) return []
    return table.list()
      .filter(e => e.excluded == null && e.advert.community.accepts && e.advert.models.some(m => m.name === model))
      .sort((a, b) => peerCost(a, model) - peerCost(b, model))
  }

  #localHasRoom (model: string): boolean {
    const loaded = this.#c.engine.loadedModels().find(m => m.name === model)
    return loaded == null || loaded.active + loaded.waiting < loaded.parallel
  }

  /** Where a request would run now, or the error saying why it cannot. */
  #plan (req: GenerateRequest, tag: PrivacyTag): Plan {
    const model = req.model
    const local = this.#c.engine.registry.has(model)
    if (req.format != null) {
      // Peers' protocol, receipts and spot checks do not carry a grammar: structured output stays here.
      if (local) return { kind: 'local' }
      throw new PlexusError('PLX_ERR_NO_ROUTE', [model, tag.level, 'structured output (response_format / format) runs only on the node that has the model, and this one does not'])
    }
    const offering = this.#peersWith(model)
    if (tag.level === 'private' || tag.pinnedBy.length > 0) {
      if (local) return { kind: 'local' }
      const offered = offering.length
      if (offered === 0 && !this.cloud.offers(model)) throw new PlexusError('PLX_ERR_MODEL_NOT_FOUND', [model], { param: 'model' })
      const where = [offered > 0 ? `${offered} peer${offered === 1 ? '' : 's'}` : '', this.cloud.models.includes(model) ? 'the cloud upstream' : ''].filter(w => w !== '').join(' and ')
      throw new PlexusError('PLX_ERR_NO_LOCAL_CAPACITY', [model, `it is not on this node${where !== '' ? `; ${where} can serve it if you mark the request community or cloud` : ''}`])
    }
    if (local && this.#localHasRoom(model)) return { kind: 'local' }
    const maxTokens = req.maxTokens
    const candidates = maxTokens == null ? offering : offering.filter(e => maxTokens <= e.advert.community.maxTokens)
    if (candidates.length > 0) return { kind: 'peers', candidates }
    if (local) return { kind: 'local' }
    if (tag.level === 'cloud' && this.cloud.offers(model)) return { kind: 'cloud' }
    if (offering.length === 0 && !this.cloud.configured) throw new PlexusError('PLX_ERR_MODEL_NOT_FOUND', [model], { param: 'model' })
    const why = this.#c.network == null
      ? 'the peer-to-peer network is off and the model is not on this node'
      : offering.length > 0
        ? `the peers offering it do not accept max_tokens ${maxTokens ?? ''}`.trim()
        : tag.level === 'community' && this.cloud.offers(model)
          ? 'no peer offers it (the cloud upstream does; mark the request cloud to allow that)'
          : 'no peer offers it'
    throw new PlexusError('PLX_ERR_NO_ROUTE', [model, tag.level, why])
  }

  /** Checks that the request can start (streaming endpoints call this before the first byte). */
  async validate (req: GenerateRequest, tag: PrivacyTag): Promise<void> {
    const plan = this.#plan(req, tag)
    if (plan.kind === 'local') await this.#c.engine.validate(req)
  }

  async generate (req: GenerateRequest, options: RouteOptions): Promise<RoutedResult> {
    const plan = this.#plan(req, options.privacy)
    try {
      const r = plan.kind === 'local'
        ? { ...await this.#c.engine.generate(req, options), route: { kind: 'local' as const, peers: [] } }
        : plan.kind === 'peers'
          ? await this.#onPeers(req, plan.candidates, options)
          : await this.#onCloud(req, options)
      this.#c.onRouted?.(r.route.kind, 'ok')
      return r
    } catch (err) {
      this.#c.onRouted?.(plan.kind === 'peers' ? 'peer' : plan.kind, 'error')
      throw err
    }
  }

  async #onCloud (req: GenerateRequest, options: RouteOptions): Promise<RoutedResult> {
    assertMayRunAt(options.privacy, 'cloud')
    const started = performance.now()
    let first = 0
    const r = await this.cloud.generate(req, { signal: options.signal, onText: t => { if (first === 0) first = performance.now(); options.onText?.(t) } })
    const end = performance.now()
    return { ...r, timings: { queuedMs: 0, firstTokenMs: first === 0 ? end - started : first - started, decodeMs: first === 0 ? 0 : end - first }, route: { kind: 'cloud', peers: [] } }
  }

  /**
   * Runs the request on the best peer; when it fails in a way another peer could avoid, moves to
   * the next, resuming from the tokens received so far (which pins the model file by sha256).
   */
  async #onPeers (req: GenerateRequest, candidates: PeerEntry[], options: RouteOptions): Promise<RoutedResult> {
    assertMayRunAt(options.privacy, 'community')
    const network = this.#c.network
    if (network == null) throw new PlexusError('PLX_ERR_NETWORK_OFF')
    const filter = new StopSequenceFilter(req.stop ?? [])
    const produced: number[] = []
    const peers: string[] = []
    const failures: string[] = []
    let text = ''
    let sha256: string | null = null
    const started = performance.now()
    let firstAt = 0
    let lastAt = 0
    const queue = [...candidates]
    // A seed makes the job reproducible, so that its receipt can be spot-checked on another peer
    // (and a failover resumes the same sampling); unseeded requests get a random one.
    const sampling = samplingOf({ ...req, seed: req.seed ?? randomInt(DRAWN_SEED_LIMIT) })
    while (queue.length > 0 && peers.length < this.#config.maxAttempts) {
      const peer = queue.shift() as PeerEntry
      const advertised = peer.advert.models.find(m => m.name === req.model)
      if (advertised == null) continue
      // Once tokens exist, only the same weights can continue them.
      if (sha256 != null && produced.length > 0 && advertised.sha256 !== sha256) continue
      sha256 = advertised.sha256
      peers.push(peer.peerId)
      const budget = req.maxTokens ?? peer.advert.community.maxTokens
      try {
        const job: InferJob = {
          model: req.model,
          sha256: advertised.sha256,
          ...(req.messages != null ? { messages: req.messages } : { prompt: req.prompt ?? '' }),
          ...(req.maxTokens != null ? { maxTokens: req.maxTokens } : { maxTokens: peer.advert.community.maxTokens, maxTokensIsCap: true }),
          sampling,
          ...(req.stop != null && req.stop.length > 0 ? { stop: req.stop } : {}),
          ...(produced.length > 0 ? { resume: [...produced] } : {})
        }
        const outcome = await network.run(peer.peerId, job, {
          signal: options.signal,
          stallMs: this.#config.stallSeconds * 1000,
          firstTokenMs: this.#config.firstTokenSeconds * 1000,
          onPiece: (ids, piece) => {
            // A piece beyond the budget is dropped whole (its text is never shown) and the peer is
            // replaced; the next one resumes from what was within the budget.
            if (produced.length + ids.length > budget) throw new PeerInferenceError('protocol', `peer sent more than the ${budget} tokens asked for`, true)
            lastAt = performance.now()
            if (firstAt === 0) firstAt = lastAt
            produced.push(...ids)
            const visible = filter.push(piece)
            if (visible !== '') {
              text += visible
              options.onText?.(visible)
            }
          }
        })
        network.table.recordOutcome(peer.peerId, true)
        this.#checker?.consider(peer.peerId, job, outcome)
        if (!filter.stopped) {
          const rest = filter.flush()
          if (rest !== '') { text += rest; options.onText?.(rest) }
        }
        const finishReason: FinishReason = filter.stopped ? 'stop' : outcome.finishReason
        return {
          model: req.model,
          text,
          finishReason,
          usage: { promptTokens: outcome.usage.promptTokens, completionTokens: Math.max(outcome.usage.completionTokens, produced.length) },
          timings: { queuedMs: 0, firstTokenMs: firstAt === 0 ? performance.now() - started : firstAt - started, decodeMs: firstAt === 0 ? 0 : lastAt - firstAt },
          route: { kind: 'peer', peers }
        }
      } catch (err) {
        if (isPlexusError(err)) throw err
        if (!(err instanceof PeerInferenceError)) throw new PlexusError('PLX_ERR_INTERNAL', [(err as Error).message], { cause: err })
        if (!err.retryable) throw new PlexusError('PLX_ERR_PEER_REJECTED', [err.message])
        network.table.recordOutcome(peer.peerId, false)
        failures.push(`${peer.peerId.slice(-8)}: ${err.code} (${err.message})`)
        this.#c.logger.warn({ peer: peer.peerId, code: err.code, tokensSoFar: produced.length }, 'peer failed; trying the next one')
      }
    }
    if (failures.length === 0) failures.push('no usable peer')
    throw new PlexusError('PLX_ERR_PEER_FAILED', [failures.join('; ')])
  }

  /** Every model this node can reach, and where. */
  models (): NetworkModel[] {
    const out = new Map<string, NetworkModel>()
    for (const m of this.#c.engine.registry.list()) {
      out.set(m.name, { id: m.name, location: 'local', peers: [], sha256: m.sha256, contextLength: m.metadata.contextLength })
    }
    for (const e of this.#c.network?.table.list() ?? []) {
      if (!e.advert.community.accepts || e.excluded != null) continue
      for (const m of e.advert.models) {
        const entry = out.get(m.name) ?? { id: m.name, location: 'network' as const, peers: [], sha256: m.sha256, contextLength: m.contextLength }
        entry.peers.push(e.peerId)
        out.set(m.name, entry)
      }
    }
    for (const name of this.cloud.models) {
      if (!out.has(name)) out.set(name, { id: name, location: 'cloud', peers: [], sha256: null, contextLength: null })
    }
    return [...out.values()]
  }
}

function samplingOf (req: GenerateRequest): Record<string, number> {
  const out: Record<string, number> = {}
  for (const k of ['temperature', 'topP', 'topK', 'minP', 'seed', 'presencePenalty', 'frequencyPenalty', 'repeatPenalty'] as const) {
    const v = req[k]
    if (v != null) out[k] = v
  }
  return out
}

/**
 * Expected cost of sending a request to a peer, in rough milliseconds: its queue (each waiting or
 * running request ahead costs a generation's worth), its decode speed and the round trip, scaled
 * by its record — a good record earns up to a third off, each failure weighs heavily. Shunned
 * peers sort last.
 */
export function peerCost (e: PeerEntry, model: string): number {
  const tps = e.advert.models.find(m => m.name === model)?.tokensPerSecond ?? null
  const perToken = tps != null && tps > 0 ? 1000 / tps : 5
  const busy = (e.advert.load.active + e.advert.load.waiting) / Math.max(1, e.advert.load.parallel)
  const latency = e.latencyMs ?? 20
  const record = e.reputation >= 0 ? 1 / (1 + 0.025 * e.reputation) : 1 + 0.25 * -e.reputation
  const shunned = e.reputation <= SHUNNED_REPUTATION ? 1e6 : 0
  return (perToken * 100 * (1 + busy) + latency) * record + shunned
}
