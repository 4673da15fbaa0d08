// libp2p calls Promise.withResolvers, which Node 20 lacks.
import '../polyfills.js'
import { randomBytes } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId, Stream } from '@libp2p/interface'
import type { Logger } from '../logger.js'
import type { InferenceEngine } from '../inference/engine.js'
import type { Signer } from '../crypto/signing.js'
import { AdvertService, type AdvertContent, type AdvertStats } from './adverts.js'
import { createHost, type PlexusLibp2p } from './host.js'
import { readJsonFile, writeJsonAtomic } from '../node/json-file.js'
import { PeerTable, SavedPeersSchema, type PeerEntry } from './peer-table.js'
import type { ReceiptKeeper } from '../ledger/inference.js'
import { InferServer, INFER_PROTOCOL, newInferStats, requestInference, type InferJob, type InferOutcome, type InferStats, type RequestOptions } from './infer-protocol.js'
import type { NetworkConfig } from './config.js'

export interface NetworkComponents {
  /** Signs adverts; its key must be the one derived from `seed`. */
  signer: Signer
  /** The node identity's 32-byte Ed25519 seed: the libp2p key. */
  seed: Uint8Array
  engine: InferenceEngine
  logger: Logger
  version: string
  /** Sequences per model, for the load part of adverts. */
  parallel: number
  /** The node's books: receipts of community jobs, both ways. */
  receipts?: ReceiptKeeper
  /** Where peers' request outcomes (their reputation) are kept across restarts; absent: in memory only. */
  peersFile?: string
}

export interface PeerSummary {
  peerId: string
  connected: boolean
  addresses: string[]
  latencyMs: number | null
  reputation: number
  served: number
  failed: number
  /** Spot checks of its work that agreed, and that did not. */
  checksMatched: number
  mismatches: number
  /** True when the router no longer sends it work, with the reason. */
  excluded: boolean
  excludedReason: string | null
  advertAgeSeconds: number
  version: string
  models: PeerEntry['advert']['models']
  load: PeerEntry['advert']['load']
  community: PeerEntry['advert']['community']
}

/** A request of this node that a peer is serving. */
export interface OutboundJob {
  id: string
  peerId: string
  model: string
  startedAt: string
  /** Tokens received so far (including those resumed from an earlier peer). */
  tokens: number
}

export interface NetworkStatus {
  enabled: true
  peerId: string
  networkId: string
  multiaddrs: string[]
  connections: number
  peers: number
  mdns: boolean
  privateSwarm: boolean
  community: NetworkConfig['community'] & { active: number }
  adverts: AdvertStats & { topic: string }
  inference: InferStats
  outbound: OutboundJob[]
}

const PING_EVERY_MS = 10_000
/** How long a pre-opened inference stream may wait for its request (the server allows 10 s). */
const IDLE_STREAM_MS = 5_000

/**
 * The node on the network: its libp2p host, the adverts it sends and receives, the peer table,
 * and the community inference protocol (serving peers, and running jobs on them).
 */
export class PlexusNetwork {
  readonly libp2p: PlexusLibp2p
  readonly table = new PeerTable()
  readonly inferStats = newInferStats()
  readonly #config: NetworkConfig
  readonly #receipts: ReceiptKeeper | undefined
  readonly #adverts: AdvertService
  readonly #server: InferServer
  readonly #log: Logger
  #pinger: NodeJS.Timeout | null = null
  readonly #outbound = new Map<string, OutboundJob>()
  readonly #idle = new Map<string, Promise<{ stream: Stream, openedAt: number } | null>>()
  readonly #denied: Set<string>
  #stopping = false
  readonly #peersFile: string | undefined
  #savedChanges = 0

  private constructor (libp2p: PlexusLibp2p, components: NetworkComponents, config: NetworkConfig, denied: Set<string>) {
    this.#denied = denied
    this.libp2p = libp2p
    this.#config = config
    this.#receipts = components.receipts
    this.#log = components.logger
    this.#peersFile = components.peersFile
    this.#restorePeers()
    this.#server = new InferServer(
      { engine: components.engine, logger: components.logger, stats: this.inferStats, receipts: components.receipts, allowedModels: () => config.community.models },
      { networkId: config.networkId, ...config.community }
    )
    this.#adverts = new AdvertService(
      { pubsub: libp2p.services.pubsub, peerId: libp2p.peerId, signer: components.signer, table: this.table, logger: components.logger, content: () => this.#advertContent(components) },
      { networkId: config.networkId, intervalSeconds: config.advertIntervalSeconds }
    )
  }

  /** Starts the host, serves the inference protocol and begins advertising. */
  static async start (components: NetworkComponents, config: NetworkConfig): Promise<PlexusNetwork> {
    const denied = new Set(config.denyPeers)
    const libp2p = await createHost(components.seed, config, components.version, denied)
    const network = new PlexusNetwork(libp2p, components, config, denied)
    await libp2p.handle(INFER_PROTOCOL, (stream, connection) => network.#server.handle(stream, connection), {
      // Streams beyond the job limit are still read, so they can be refused with a reason.
      maxInboundStreams: config.community.maxConcurrentJobs + 16
    })
    network.#adverts.start()
    libp2p.addEventListener('peer:identify', evt => { void network.#ping(evt.detail.peerId.toString()) })
    network.#pinger = setInterval(() => { network.#pingAll(); network.#savePeers() }, PING_EVERY_MS)
    network.#pinger.unref()
    components.logger.info({ peerId: libp2p.peerId.toString(), multiaddrs: network.multiaddrs(), networkId: config.networkId }, 'p2p host started')
    return network
  }

  get peerId (): string { return this.libp2p.peerId.toString() }
  get networkId (): string { return this.#config.networkId }

  multiaddrs (): string[] {
    return this.libp2p.getMultiaddrs().map(String)
  }

  #advertContent (c: NetworkComponents): AdvertContent {
    const queue = c.engine.queueStats()
    return {
      version: c.version,
      // Only models the community allows (an empty allow-list allows any).
      models: c.engine.registry.list().filter(m => this.#config.community.models.length === 0 || this.#config.community.models.includes(m.sha256)).slice(0, 64).map(m => ({
        name: m.name,
        sha256: m.sha256,
        contextLength: m.metadata.contextLength,
        quantization: m.metadata.quantization,
        parameters: m.metadata.parameters,
        tokensPerSecond: roundRate(c.engine.decodeRate(m.name))
      })),
      load: { active: queue.active, waiting: queue.waiting, parallel: c.parallel },
      community: {
        accepts: this.#config.community.serve,
        maxConcurrentJobs: this.#config.community.maxConcurrentJobs,
        maxTokens: this.#config.community.maxTokens,
        requestsPerMinute: this.#config.community.requestsPerMinutePerPeer
      }
    }
  }

  /** Sends an advert now (after a change the caller knows about, e.g. a model added). */
  advertiseNow (): void { this.#adverts.publishSoon() }

  async #ping (peerId: string): Promise<void> {
    try {
      const ms = await this.libp2p.services.ping.ping(peerIdFromString(peerId), { signal: AbortSignal.timeout(5_000) })
      this.table.recordLatency(peerId, ms)
    } catch {}
  }

  /** Latency pings go to connected peers only: for any other, libp2p would first search the DHT. */
  #pingAll (): void {
    for (const e of this.table.list()) if (this.isConnected(e.peerId)) void this.#ping(e.peerId)
  }

  /** Runs a community job on a peer (see `requestInference`). */
  async run (peerId: string, job: InferJob, options: RequestOptions): Promise<InferOutcome> {
    const id = randomBytes(9).toString('base64url')
    const entry: OutboundJob = { id, peerId, model: job.model, startedAt: new Date().toISOString(), tokens: job.resume?.length ?? 0 }
    this.#outbound.set(id, entry)
    const dialer = { dialProtocol: async (peer: PeerId, protocol: string, o: { signal?: AbortSignal }) => await this.#inferStream(peer, protocol, o) }
    try {
      return await requestInference(dialer as unknown as Pick<PlexusLibp2p, 'dialProtocol'>, peerIdFromString(peerId), { ...job, id, network: this.#config.networkId }, this.inferStats, {
        receipts: this.#receipts,
        ...options,
        onPiece: (ids, text) => { entry.tokens += ids.length; options.onPiece(ids, text) }
      })
    } finally {
      this.#outbound.delete(id)
      this.#prepareStream(peerId)
    }
  }

  /**
   * An inference stream to a peer: the idle one opened after the previous request when it is
   * still fresh (opening a stream costs ~10 round trips, most of the time to first token over
   * libp2p), else a new one.
   */
  async #inferStream (peer: PeerId, protocol: string, options: { signal?: AbortSignal }): Promise<Stream> {
    const key = peer.toString()
    const held = this.#idle.get(key)
    this.#idle.delete(key)
    const ready = held != null ? await held : null
    if (ready != null && ready.stream.status === 'open' && ready.stream.readBufferLength === 0 && performance.now() - ready.openedAt < IDLE_STREAM_MS) return ready.stream
    ready?.stream.abort(new Error('idle too long'))
    return await this.libp2p.dialProtocol(peer, protocol, { ...options, negotiateFully: false })
  }

  /** Opens the next request's stream to a peer we just used, in the background. */
  #prepareStream (peerId: string): void {
    if (this.#idle.has(peerId) || this.#stopping || !this.isConnected(peerId)) return
    const opening = this.libp2p.dialProtocol(peerIdFromString(peerId), INFER_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      .then(stream => {
        // The server gives a stream 10 s to carry its request: drop ours well before.
        const timer = setTimeout(() => {
          // Only a stream still waiting here: one handed to a request is that request's now.
          if (this.#idle.get(peerId) !== opening) return
          this.#idle.delete(peerId)
          stream.abort(new Error('idle'))
        }, IDLE_STREAM_MS)
        timer.unref()
        return { stream, openedAt: performance.now() }
      }, () => null)
    this.#idle.set(peerId, opening)
  }

  /** This node's requests running on peers right now. */
  outboundJobs (): OutboundJob[] {
    return [...this.#outbound.values()].map(j => ({ ...j }))
  }

  /**
   * Waits (up to `ms`) until a peer can be dialled: connected, or with an address in the peer
   * store. Dialling a peer id nobody has an address for goes to the DHT, and libp2p holds every
   * other dial to that peer (the bootstrap's included) until that search gives up — so a node
   * that just started must let discovery connect it first.
   */
  async whenReachable (peerId: string, ms: number, signal?: AbortSignal): Promise<void> {
    const id = peerIdFromString(peerId)
    const deadline = Date.now() + ms
    while (Date.now() < deadline && signal?.aborted !== true) {
      if (this.libp2p.getConnections(id).length > 0) return
      try {
        const known = await this.libp2p.peerStore.get(id)
        if (known.addresses.length > 0) return
      } catch {}
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  /** Refuses a peer from now on (a member removed by governance): hangs up and forgets its adverts. */
  async deny (peerId: string): Promise<void> {
    this.#denied.add(peerId)
    this.table.remove(peerId)
    await this.libp2p.hangUp(peerIdFromString(peerId)).catch(() => {})
  }

  /** Lifts a denial. */
  allow (peerId: string): void {
    this.#denied.delete(peerId)
  }

  isConnected (peerId: string): boolean {
    return this.libp2p.getConnections(peerIdFromString(peerId)).length > 0
  }

  peers (): PeerSummary[] {
    const now = Date.now()
    return this.table.list().map(e => ({
      peerId: e.peerId,
      connected: this.isConnected(e.peerId),
      addresses: this.libp2p.getConnections(peerIdFromString(e.peerId)).map(c => c.remoteAddr.toString()),
      latencyMs: e.latencyMs == null ? null : Math.round(e.latencyMs * 100) / 100,
      reputation: e.reputation,
      served: e.served,
      failed: e.failed,
      checksMatched: e.checksMatched,
      mismatches: e.mismatches,
      excluded: e.excluded != null,
      excludedReason: e.excluded,
      advertAgeSeconds: Math.round((now - e.receivedAt) / 100) / 10,
      version: e.advert.version,
      models: e.advert.models,
      load: e.advert.load,
      community: e.advert.community
    }))
  }

  status (): NetworkStatus {
    return {
      enabled: true,
      peerId: this.peerId,
      networkId: this.#config.networkId,
      multiaddrs: this.multiaddrs(),
      connections: this.libp2p.getConnections().length,
      peers: this.table.size,
      mdns: this.#config.mdns,
      privateSwarm: this.#config.pskFile != null,
      community: { ...this.#config.community, active: this.#server.active },
      adverts: { ...this.#adverts.stats, topic: this.#adverts.topic },
      inference: { ...this.inferStats, refused: { ...this.inferStats.refused } },
      outbound: this.outboundJobs()
    }
  }

  async stop (): Promise<void> {
    this.#stopping = true
    for (const held of this.#idle.values()) void held.then(r => r?.stream.abort(new Error('stopping')))
    this.#idle.clear()
    if (this.#pinger != null) clearInterval(this.#pinger)
    this.#savePeers()
    this.#adverts.stop()
    this.#server.stop()
    await this.libp2p.stop()
  }

  /** Takes back the peers' outcomes a last run saved (an unreadable file is ignored with a warning, and replaced at the next save). */
  #restorePeers (): void {
    if (this.#peersFile == null) return
    try {
      this.table.restore(readJsonFile(this.#peersFile, SavedPeersSchema, {}))
    } catch (err) {
      this.#log.warn({ file: this.#peersFile, err: (err as Error).message }, 'saved peer reputations unreadable; starting without them')
    }
    this.#savedChanges = this.table.changes
  }

  /** Saves the peers' outcomes when they changed since the last save. */
  #savePeers (): void {
    if (this.#peersFile == null || this.table.changes === this.#savedChanges) return
    try {
      writeJsonAtomic(this.#peersFile, this.table.snapshot())
      this.#savedChanges = this.table.changes
    } catch (err) {
      this.#log.warn({ file: this.#peersFile, err: (err as Error).message }, 'peer reputations not saved')
    }
  }
}

function roundRate (rate: number | null): number | null {
  return rate == null ? null : Math.round(rate * 10) / 10
}
