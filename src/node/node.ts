import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { existsSync, unlinkSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import { createLogger, forComponent, type Logger } from '../logger.js'
import { EMBEDDED_MODEL, PACKAGE_VERSION } from '../paths.js'
import { ModelRegistry } from '../inference/registry.js'
import { InferenceEngine } from '../inference/engine.js'
import { ApiKeyStore } from '../auth/keys.js'
import { CabinetService, cabinetsDir } from '../cabinets/service.js'
import type { ScryptParams } from '../cabinets/constants.js'
import { buildApi, type PlexusApi } from '../api/app.js'
import { PlexusNetwork } from '../p2p/network.js'
import { Router } from '../router/router.js'
import { DataRegistry } from '../data/registry.js'
import { FederatedService } from '../federated/service.js'
import { StatsService } from '../analytics/service.js'
import { Books } from '../ledger/books.js'
import { balances } from '../ledger/rewards.js'
import type { LedgerLibp2p } from '../ledger/protocol.js'
import { GovernanceService } from '../governance/service.js'
import { Metrics } from '../api/metrics.js'
import type { NodeStatus } from '../api/plexus/routes.js'
import { ensureDataDir, type DataDirPaths } from './data-dir.js'
import { loadConfig, writeDefaultConfig, type ConfigOverrides, type PlexusConfig } from './config.js'
import { loadOrCreateIdentity, type NodeIdentity } from './identity.js'
import { peerSigner } from '../ledger/peer-keys.js'
import { writeJsonAtomic } from './json-file.js'

/** How long, after generations stopped, other requests may still finish before connections are closed. */
const STOP_CONNECTION_GRACE_MS = 2_000

export interface NodeInit {
  dataDir: string
  /** Flag-level overrides (highest precedence). */
  config?: ConfigOverrides
  /** Model files to register (if new) and serve; the first becomes the default model. */
  models?: string[]
  logger?: Logger
  /** Write the runtime file so CLI commands can find this node (default true). */
  writeRuntimeFile?: boolean
  /** Register the embedded stories260K model when the data directory has no models (default true). */
  embeddedModel?: boolean
  /** scrypt cost for new cabinet keyrings; tests pass cheap parameters. */
  cabinetKdf?: ScryptParams
}

/** Written to `node.json` while the node runs; read by CLI commands on the same data dir. */
export const RuntimeFileSchema = z.object({
  pid: z.number().int(),
  url: z.string(),
  version: z.string(),
  startedAt: z.string(),
  /** Bearer token that lets the owner's CLI call this node (file is mode 0600). */
  localToken: z.string()
})
export type RuntimeFile = z.output<typeof RuntimeFileSchema>

export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** Prepares a data directory: folder, config file and identity. Idempotent. */
export function initDataDir (dataDir: string): { paths: DataDirPaths, identity: NodeIdentity, createdIdentity: boolean, createdConfig: boolean } {
  const paths = ensureDataDir(dataDir)
  const createdConfig = !existsSync(paths.config)
  if (createdConfig) writeDefaultConfig(paths.config)
  const { identity, created } = loadOrCreateIdentity(paths.identity)
  return { paths, identity, createdIdentity: created, createdConfig }
}

/**
 * The composition root: builds every service from the configuration, hands each the narrow
 * components it needs, and starts and stops them in order.
 */
export class PlexusNode {
  readonly paths: DataDirPaths
  readonly config: PlexusConfig
  readonly identity: NodeIdentity
  readonly registry: ModelRegistry
  readonly keys: ApiKeyStore
  readonly engine: InferenceEngine
  readonly metrics: Metrics
  readonly cabinets: CabinetService
  readonly router: Router
  readonly logger: Logger
  #network: PlexusNetwork | null = null
  #data: DataRegistry | null = null
  #federated: FederatedService | null = null
  #stats: StatsService | null = null
  #books: Books | null = null
  #governance: GovernanceService | null = null
  #api: PlexusApi | null = null
  #url: string | null = null
  #startedAt = new Date()
  readonly #localToken = randomBytes(32).toString('base64url')
  readonly #init: NodeInit
  #stopping: Promise<void> | null = null

  private constructor (init: NodeInit, paths: DataDirPaths, identity: NodeIdentity) {
    this.#init = init
    this.paths = paths
    this.identity = identity
    this.logger = init.logger ?? createLogger()
    this.config = loadConfig(paths.config, init.config ?? {})
    this.registry = new ModelRegistry({ registryFile: paths.modelRegistry, storeDir: paths.models })
    this.keys = new ApiKeyStore(paths.apiKeys)
    this.engine = new InferenceEngine(
      { registry: this.registry, logger: forComponent(this.logger, 'inference'), threadsCacheFile: join(paths.root, 'threads.json') },
      this.config.inference
    )
    this.cabinets = new CabinetService(
      { engine: this.engine, logger: forComponent(this.logger, 'cabinets') },
      {
        dir: cabinetsDir(paths.root),
        autoLockMs: this.config.cabinets.autoLockMinutes * 60_000,
        kdf: init.cabinetKdf,
        chunkTokens: this.config.cabinets.chunkTokens,
        chunkOverlapTokens: this.config.cabinets.chunkOverlapTokens
      }
    )
    this.metrics = new Metrics({ queue: () => this.engine.queueStats(), loadedModels: () => this.engine.loadedModels() })
    this.router = new Router({ engine: this.engine, network: null, logger: forComponent(this.logger, 'router') }, this.config.router)
  }

  /** Local datasets (DuckDB); null before `start()`. */
  get data (): DataRegistry | null { return this.#data }
  /** Federated learning jobs; null before `start()`. */
  get federated (): FederatedService | null { return this.#federated }

  /** The node's verifiable books (receipt log, heads seen, rewards); null before `start()`. */
  get books (): Books | null { return this.#books }

  /** Community governance of the network's parameters; null before `start()`. */
  get governance (): GovernanceService | null { return this.#governance }

  /** Federated statistics (site and analyst); null before `start()`. */
  get stats (): StatsService | null { return this.#stats }

  /** The p2p side of the node; null before `start()` or when `network.enabled` is false. */
  get network (): PlexusNetwork | null { return this.#network }

  /** Creates a node on a data directory (initialising it if needed) and registers its models. */
  static async create (init: NodeInit): Promise<PlexusNode> {
    const { paths, identity } = initDataDir(resolve(init.dataDir))
    const node = new PlexusNode(init, paths, identity)
    await node.#registerModels()
    return node
  }

  async #registerModels (): Promise<void> {
    const requested = this.#init.models ?? []
    if (requested.length === 0 && this.registry.list().length === 0 && this.#init.embeddedModel !== false) {
      await this.registry.add(EMBEDDED_MODEL.path, { name: EMBEDDED_MODEL.name, sha256: EMBEDDED_MODEL.sha256 })
      this.logger.info({ model: EMBEDDED_MODEL.name }, 'registered the embedded default model')
    }
    let first: string | null = null
    for (const file of requested) {
      const path = resolve(file)
      const known = this.registry.list().find(m => m.path === path)
      const record = known ?? await this.registry.add(path)
      first ??= record.name
    }
    if (first != null && this.config.inference.defaultModel == null) this.config.inference.defaultModel = first
  }

  get url (): string | null { return this.#url }

  /** Starts the API. Refuses a non-loopback address unless an API key exists. */
  async start (): Promise<string> {
    const { host, port } = this.config.api
    const requireApiKey = this.config.api.requireApiKey || !isLoopback(host)
    if (!isLoopback(host) && !this.keys.hasActiveKeys()) throw new PlexusError('PLX_ERR_INSECURE_BIND', [host])
    const defaultModel = this.config.inference.defaultModel
    if (defaultModel != null && !this.registry.has(defaultModel)) {
      throw new PlexusError('PLX_ERR_CONFIG_INVALID', [`inference.defaultModel '${defaultModel}' is not a registered model`])
    }
    this.#startedAt = new Date()
    this.#books = new Books({
      dir: this.paths.root,
      identity: this.identity,
      logger: forComponent(this.logger, 'ledger'),
      config: () => this.config.ledger,
      // Votes change the weights from their apply time on, not for epochs already begun.
      weightsAt: t => this.#governance?.weightsAt(t) ?? this.config.ledger.weights
    })
    if (this.config.network.enabled) {
      this.#network = await PlexusNetwork.start({
        signer: this.identity,
        seed: this.identity.exportSeed(),
        engine: this.engine,
        logger: forComponent(this.logger, 'p2p'),
        version: PACKAGE_VERSION,
        parallel: this.config.inference.parallel,
        receipts: this.#books,
        peersFile: join(this.paths.root, 'peers.json')
      }, this.config.network)
    }
    await this.#books.start(this.#network)
    if (this.#network != null) this.router.attachNetwork(this.#network, this.#books.spotChecks)
    const books = this.#books
    const network = this.#network
    // Changes the community passed are applied to this.config in place (services read it live).
    this.#governance = new GovernanceService({
      books,
      config: this.config,
      logger: forComponent(this.logger, 'governance'),
      hooks: { deny: peer => { if (peer !== network?.peerId) void network?.deny(peer) }, allow: peer => { network?.allow(peer) } },
      network: network == null ? null : { libp2p: network.libp2p as unknown as LedgerLibp2p, networkId: network.networkId, peers: () => network.table.list().map(e => e.peerId),
        onPeer: fn => {
          const h = (evt: CustomEvent<{ peerId: { toString: () => string } }>): void => { fn(evt.detail.peerId.toString()) }
          network.libp2p.addEventListener('peer:identify', h)
          return () => { network.libp2p.removeEventListener('peer:identify', h) }
        }
      },
      balancesAt: async timeMs => balances((await books.rewards()).epochs.filter(e => e.settledAt <= timeMs))
    })
    await this.#governance.start()
    this.#data = await DataRegistry.open(join(this.paths.root, 'data'))
    this.#federated = new FederatedService(
      { network: this.#network, data: this.#data, logger: forComponent(this.logger, 'federated'), dir: join(this.paths.root, 'fl'), receipts: this.#books, signer: peerSigner(this.identity) },
      { autoAcceptFrom: this.config.federated.autoAcceptFrom, approvedTemplates: () => this.config.governance.flTemplates }
    )
    await this.#federated.start()
    this.#stats = new StatsService({
      network: this.#network,
      data: this.#data,
      logger: forComponent(this.logger, 'stats'),
      dir: join(this.paths.root, 'stats'),
      policy: () => ({ ...this.config.stats, allowAnalysts: this.config.stats.allowAnalysts ?? null }),
      receipts: this.#books,
      signer: peerSigner(this.identity)
    })
    await this.#stats.start()
    this.#api = await buildApi(
      { engine: this.engine, router: this.router, network: this.#network, data: this.#data, federated: this.#federated, stats: this.#stats, books: this.#books, governance: this.#governance, cabinets: this.cabinets, keys: this.keys, metrics: this.metrics, logger: this.logger, node: { version: PACKAGE_VERSION, status: () => this.status() } },
      { bodyLimitBytes: this.config.api.bodyLimitBytes, rateLimitPerMinute: this.config.api.rateLimitPerMinute, requireApiKey, localToken: this.#localToken }
    )
    try {
      await this.#api.listen({ host, port })
    } catch (err) {
      await this.#governance?.stop().catch(() => {})
      await this.#federated?.stop().catch(() => {})
      await this.#stats?.stop().catch(() => {})
      await this.#books?.stop().catch(() => {})
      await this.#data?.close().catch(() => {})
      await this.#network?.stop().catch(() => {})
      throw err
    }
    const address = this.#api.server.address()
    const actualPort = typeof address === 'object' && address != null ? address.port : port
    const shownHost = host.includes(':') ? `[${host}]` : host
    this.#url = `http://${shownHost}:${actualPort}`
    if (this.#init.writeRuntimeFile !== false) {
      const runtime: RuntimeFile = { pid: process.pid, url: this.#url, version: PACKAGE_VERSION, startedAt: this.#startedAt.toISOString(), localToken: this.#localToken }
      writeJsonAtomic(this.paths.runtime, runtime, 0o600)
    }
    this.logger.info({ url: this.#url, nodeId: this.identity.fingerprint, threads: this.engine.threads, peerId: this.#network?.peerId, multiaddrs: this.#network?.multiaddrs() }, 'node started')
    return this.#url
  }

  /**
   * Stops the node: no new requests, in-flight generations get `graceMs` to finish and are then
   * cancelled, models are freed, and the runtime file is removed.
   */
  async stop (options: { graceMs?: number } = {}): Promise<void> {
    this.#stopping ??= (async () => {
      const closing = this.#api?.close()
      await this.engine.stop({ graceMs: options.graceMs ?? 10_000 })
      // Generations are finished or cancelled now. Connections still open are ones Node does not
      // count as idle though nothing will come of them: a client that connected and never sent a
      // request (undici after an aborted stream, a browser's preconnect) would otherwise hold the
      // close until its headers timeout, over a minute. Other requests get a short grace first.
      if (closing != null) {
        const settled = await Promise.race([closing.then(() => true), sleep(STOP_CONNECTION_GRACE_MS).then(() => false)])
        if (!settled) this.#api?.server.closeAllConnections()
        await closing
      }
      await this.#federated?.stop()
      await this.#stats?.stop()
      await this.#books?.spotChecks?.stop()
      await this.#governance?.stop()
      await this.#network?.stop()
      await this.#books?.stop()
      await this.#data?.close()
      await this.cabinets.stop()
      this.#removeRuntimeFile()
      this.logger.info('node stopped')
    })()
    await this.#stopping
  }

  #removeRuntimeFile (): void {
    try {
      const current = JSON.parse(readFileSync(this.paths.runtime, 'utf8')) as { pid?: number, localToken?: string }
      if (current.localToken === this.#localToken) unlinkSync(this.paths.runtime)
    } catch {}
  }

  /** The API for in-process callers and tests (`inject()`); null before `start()`. */
  get api (): PlexusApi | null { return this.#api }

  status (): NodeStatus {
    const models = this.registry.list()
    return {
      version: PACKAGE_VERSION,
      nodeId: this.identity.fingerprint,
      publicKey: Buffer.from(this.identity.publicKey).toString('base64url'),
      dataDir: this.paths.root,
      url: this.#url,
      pid: process.pid,
      startedAt: this.#startedAt.toISOString(),
      uptimeSeconds: Math.floor((Date.now() - this.#startedAt.getTime()) / 1000),
      threads: this.engine.threads,
      engine: this.engine.binary(),
      nativeLoop: this.engine.nativeLoop(),
      parallel: this.config.inference.parallel,
      contextSize: this.config.inference.contextSize,
      memoryBudgetMiB: this.config.inference.memoryBudgetMiB,
      defaultModel: this.config.inference.defaultModel ?? models[0]?.name ?? null,
      models: models.map(m => ({ name: m.name, sha256: m.sha256, sizeBytes: m.sizeBytes, architecture: m.metadata.architecture, parameters: m.metadata.parameters, quantization: m.metadata.quantization, contextLength: m.metadata.contextLength })),
      loaded: this.engine.loadedModels(),
      queue: this.engine.queueStats(),
      auth: { activeKeys: this.keys.list().filter(k => k.revokedAt == null).length },
      network: this.#network == null
        ? null
        : { peerId: this.#network.peerId, networkId: this.#network.networkId, multiaddrs: this.#network.multiaddrs(), peers: this.#network.table.size, connections: this.#network.libp2p.getConnections().length }
    }
  }
}
