import { existsSync } from 'node:fs'
import { totalmem } from 'node:os'
import { z } from 'zod'
import { STATS_FUNCTIONS } from '../analytics/functions.js'
import { PlexusError } from '../errors.js'
import { readJsonFile, writeJsonAtomic } from './json-file.js'

/** Default port of the HTTP API (Ollama uses 11434; we sit beside it). */
export const DEFAULT_PORT = 11435

export const ApiConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(DEFAULT_PORT),
  /** Largest accepted request body; larger ones get 413. */
  bodyLimitBytes: z.number().int().min(1024).max(256 * 1024 * 1024).default(4 * 1024 * 1024),
  /** Requests per minute per API key (or per client address when no key is used). */
  rateLimitPerMinute: z.number().int().min(1).default(600),
  /** Require a bearer key even on loopback. Always required on a non-loopback address. */
  requireApiKey: z.boolean().default(false)
})

export const InferenceConfigSchema = z.strictObject({
  /** CPU threads per evaluation; 0 picks the measured best default for this machine (see threads.ts). */
  threads: z.number().int().min(0).max(512).default(0),
  /** Sequences decoded in parallel per loaded model; further requests wait in the queue. */
  parallel: z.number().int().min(1).max(64).default(4),
  /** Requests allowed to wait for a slot, per model, before new ones are refused with 503. */
  maxQueue: z.number().int().min(0).max(10_000).default(64),
  /** Context window per sequence, in tokens; capped at the model's training context. */
  contextSize: z.number().int().min(64).max(1_048_576).default(2048),
  /** Memory the loaded models may use together, in MiB; least recently used models are unloaded to fit. */
  memoryBudgetMiB: z.number().int().min(16).default(Math.floor(totalmem() / 1024 / 1024 / 2)),
  /** Model answering requests that name no model (else the first registered). */
  defaultModel: z.string().min(1).optional(),
  /** Plain generations run on the native generation loop when it is built (`plexus engine build --native-loop`). */
  nativeLoop: z.boolean().default(true),
  /**
   * Model layers offloaded to the GPU when llama.cpp runs on one: "auto" (as many as fit in its
   * memory with the context), "max" (all, failing if they do not fit), or a count. No effect on a CPU build.
   */
  gpuLayers: z.preprocess(v => typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v,
    z.union([z.enum(['auto', 'max']), z.number().int().min(0).max(100_000)])).default('auto')
})

export const CabinetsConfigSchema = z.strictObject({
  /** Lock an unlocked cabinet after this many idle minutes; 0 keeps it unlocked until the node stops. */
  autoLockMinutes: z.number().int().min(0).max(7 * 24 * 60).default(30),
  /** Chunk size for ingestion, in (estimated) tokens. */
  chunkTokens: z.number().int().min(16).max(8192).default(256),
  /** Overlap between consecutive chunks of a section, in tokens. */
  chunkOverlapTokens: z.number().int().min(0).max(1024).default(32)
}).refine(c => c.chunkOverlapTokens <= c.chunkTokens / 2, {
  message: 'chunkOverlapTokens must be at most half of chunkTokens',
  path: ['chunkOverlapTokens']
})

/** Default TCP port of the peer-to-peer host (the API's port + 1). */
export const DEFAULT_P2P_PORT = 11436

const PeerIdString = z.string().regex(/^[1-9A-HJ-NP-Za-km-z]{46,60}$/, 'must be a base58 libp2p peer id (12D3Koo…)')

export const CommunityConfigSchema = z.strictObject({
  /** Serve other peers' community requests with this node's models. */
  serve: z.boolean().default(true),
  /** Community requests run at the same time, over all models. */
  maxConcurrentJobs: z.number().int().min(0).max(256).default(2),
  /** Largest completion a peer may ask for. */
  maxTokens: z.number().int().min(1).max(1_000_000).default(1024),
  /** Requests per minute one peer may send. */
  requestsPerMinutePerPeer: z.number().int().min(1).max(100_000).default(60),
  /** sha256 of the models this node serves to the community; empty: any registered model (votable). */
  models: z.array(z.string().regex(/^[0-9a-f]{64}$/)).max(1000).default([])
})

export const NetworkConfigSchema = z.strictObject({
  /** Run the libp2p host. Off: the node is an island and community requests cannot be served. */
  enabled: z.boolean().default(true),
  /** Address the p2p host listens on. */
  host: z.string().min(1).default('0.0.0.0'),
  port: z.number().int().min(0).max(65535).default(DEFAULT_P2P_PORT),
  /** Keeps separate Plexus networks apart: adverts, DHT and inference only talk within one id. */
  networkId: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lowercase letters, digits, dots, dashes and underscores, at most 64').default('plexus'),
  /** Multiaddrs (with /p2p/<peer id>) dialled at start. */
  bootstrap: z.array(z.string().min(1).max(512)).max(256).default([]),
  /** Find peers on the local network by multicast DNS. */
  mdns: z.boolean().default(true),
  /** Pre-shared key file (libp2p swarm key format) for a private swarm; only holders can connect. */
  pskFile: z.string().min(1).optional(),
  maxConnections: z.number().int().min(1).max(10_000).default(100),
  /** When non-empty, only these peers may connect or be dialled. */
  allowPeers: z.array(PeerIdString).max(10_000).default([]),
  /** Peers never connected to. */
  denyPeers: z.array(PeerIdString).max(10_000).default([]),
  /** Seconds between capability adverts (they are also sent when something changes). */
  advertIntervalSeconds: z.number().int().min(1).max(3600).default(15),
  community: CommunityConfigSchema.default(CommunityConfigSchema.parse({}))
})

export const CloudConfigSchema = z.strictObject({
  /** An OpenAI-compatible base URL ending in /v1, e.g. https://api.example.com/v1. */
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  apiKey: z.string().min(1).optional(),
  /** Models the upstream offers; empty means any model not found locally or in the community. */
  models: z.array(z.string().min(1).max(256)).max(1000).default([]),
  timeoutSeconds: z.number().int().min(1).max(3600).default(120)
})

export const RouterConfigSchema = z.strictObject({
  /** Level for requests that do not say: private (only this node), community or cloud. */
  defaultPrivacy: z.enum(['private', 'community', 'cloud']).default('private'),
  /** A peer that sends nothing for this long mid-generation is given up and the request moves on. */
  stallSeconds: z.number().min(0.1).max(600).default(10),
  /** Time a peer gets for its first token (it may have to load the model first). */
  firstTokenSeconds: z.number().min(0.1).max(3600).default(60),
  /** How many peers one request may try before it fails. */
  maxAttempts: z.number().int().min(1).max(10).default(3),
  cloud: CloudConfigSchema.default(CloudConfigSchema.parse({}))
})

export const FederatedConfigSchema = z.strictObject({
  /** Coordinators (peer ids, or "*" for any) whose federated jobs this node joins without review. */
  autoAcceptFrom: z.array(z.union([PeerIdString, z.literal('*')])).max(10_000).default([])
})

const DisclosureConfigSchema = z.strictObject({
  /** nfilter.tab: smallest non-zero table cell. */
  tab: z.number().int().min(0).max(1_000_000).default(3),
  /** nfilter.subset: smallest subset, and smallest difference between an analyst's subsets. */
  subset: z.number().int().min(0).max(1_000_000).default(3),
  /** nfilter.glm: most model parameters per row. */
  glm: z.number().gt(0).max(1).default(0.33),
  levelsMax: z.number().int().min(2).max(1000).default(40),
  levelsDensity: z.number().gt(0).max(1).default(0.33),
  /** Largest share of a sum the `dominanceTop` largest contributions may hold. */
  dominanceShare: z.number().gt(0).max(1).default(0.9),
  dominanceTop: z.number().int().min(1).max(100).default(1)
})

export const StatsConfigSchema = z.strictObject({
  /** Functions that run at once; others wait for the owner in `plexus data approvals`. */
  autoApprove: z.array(z.enum(STATS_FUNCTIONS)).default([...STATS_FUNCTIONS]),
  /** Analysts (peer ids) allowed to query this node's datasets; null: any peer of the network. */
  allowAnalysts: z.array(z.union([PeerIdString, z.literal('*')])).max(10_000).nullable().default(null),
  disclosure: DisclosureConfigSchema.default(DisclosureConfigSchema.parse({})),
  /** A cell below `tab` (or a group below `subset`): refuse the whole query, or release it with that cell suppressed. */
  smallCells: z.enum(['refuse', 'suppress']).default('refuse'),
  /** ε each analyst may spend here on differentially private queries. */
  privacyBudget: z.number().min(0).max(1000).default(10)
})

export const LedgerConfigSchema = z.strictObject({
  /** Seconds between the signed heads this node publishes. */
  headIntervalSeconds: z.number().int().min(1).max(86_400).default(60),
  /** Length of a reward epoch, in seconds. */
  epochSeconds: z.number().int().min(1).max(94_672_800).default(86_400),
  /** Start of reward epoch 0. */
  genesis: z.string().datetime({ offset: true }).default('2026-01-01T00:00:00Z'),
  /** Share of countersigned community inference receipts this node re-runs on a third peer (a spot check). */
  spotCheckFraction: z.number().min(0).max(1).default(0.05),
  /** Spot-check mismatches after which a provider is excluded from routing. */
  maxMismatches: z.number().int().min(1).max(1000).default(2),
  /** After an epoch ends: seconds for uptime-score commitments, then seconds for their reveals. Settlement waits for both. */
  commitSeconds: z.number().int().min(1).max(604_800).default(300),
  revealSeconds: z.number().int().min(1).max(604_800).default(300),
  /** Uptime probes: every known peer is pinged this often; the share answered per epoch is its score. */
  uptime: z.strictObject({
    probeIntervalSeconds: z.number().int().min(1).max(3600).default(30)
  }).default({ probeIntervalSeconds: 30 }),
  /** Points per unit of work. */
  weights: z.strictObject({
    promptToken: z.number().int().min(0).max(1_000_000).default(1),
    completionToken: z.number().int().min(0).max(1_000_000).default(4),
    flSample: z.number().int().min(0).max(1_000_000).default(20),
    statsQuery: z.number().int().min(0).max(1_000_000).default(2000),
    uptime: z.number().int().min(0).max(1_000_000).default(10)
  }).default({ promptToken: 1, completionToken: 4, flSample: 20, statsQuery: 2000, uptime: 10 })
})

export const GovernanceConfigSchema = z.strictObject({
  /** One member one vote, or weighted by token balances at the proposal's start. */
  mode: z.enum(['member', 'token']).default('member'),
  /**
   * The network's members (peer ids); this node counts as one when it is listed. Empty: an open
   * network, where the electorate of a proposal is its proposer and every peer it has seen.
   */
  members: z.array(PeerIdString).max(100).default([]),
  /** Share of the eligible weight that must vote (yes, no or abstain) for a proposal to count. */
  quorum: z.number().gt(0).max(1).default(0.5),
  /** A proposal passes when yes is more than this share of yes + no. */
  threshold: z.number().min(0.5).lt(1).default(0.5),
  /** The same for changes to these rules. */
  ruleThreshold: z.number().min(0.5).lt(1).default(0.66),
  votingPeriodSeconds: z.number().int().min(1).max(30 * 86_400).default(7 * 86_400),
  /** Delay between the end of a passed vote and the change taking effect. */
  timelockSeconds: z.number().int().min(0).max(30 * 86_400).default(86_400),
  /** sha256 of federated-learning job templates approved for automatic participation (votable). */
  flTemplates: z.array(z.string().regex(/^[0-9a-f]{64}$/)).max(1000).default([]),
  /** Seconds between catch-up rounds that ask peers for proposals and votes this node missed. */
  syncIntervalSeconds: z.number().int().min(1).max(86_400).default(60)
})

export const ConfigSchema = z.strictObject({
  api: ApiConfigSchema.default(ApiConfigSchema.parse({})),
  inference: InferenceConfigSchema.default(InferenceConfigSchema.parse({})),
  cabinets: CabinetsConfigSchema.default(CabinetsConfigSchema.parse({})),
  network: NetworkConfigSchema.default(NetworkConfigSchema.parse({})),
  router: RouterConfigSchema.default(RouterConfigSchema.parse({})),
  federated: FederatedConfigSchema.default(FederatedConfigSchema.parse({})),
  stats: StatsConfigSchema.default(StatsConfigSchema.parse({})),
  ledger: LedgerConfigSchema.default(LedgerConfigSchema.parse({})),
  governance: GovernanceConfigSchema.default(GovernanceConfigSchema.parse({}))
})

export type PlexusConfig = z.output<typeof ConfigSchema>
type DeepPartial<T> = T extends unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T
export type ConfigOverrides = DeepPartial<PlexusConfig>

type Section = keyof PlexusConfig
const SECTIONS: Section[] = ['api', 'inference', 'cabinets', 'network', 'router', 'federated', 'stats', 'ledger', 'governance']

const ENV_VARS: Array<[string, Section, string, 'int' | 'string' | 'bool' | 'list']> = [
  ['PLEXUS_HOST', 'api', 'host', 'string'],
  ['PLEXUS_PORT', 'api', 'port', 'int'],
  ['PLEXUS_REQUIRE_API_KEY', 'api', 'requireApiKey', 'bool'],
  ['PLEXUS_THREADS', 'inference', 'threads', 'int'],
  ['PLEXUS_PARALLEL', 'inference', 'parallel', 'int'],
  ['PLEXUS_CONTEXT_SIZE', 'inference', 'contextSize', 'int'],
  ['PLEXUS_MEMORY_BUDGET_MIB', 'inference', 'memoryBudgetMiB', 'int'],
  ['PLEXUS_DEFAULT_MODEL', 'inference', 'defaultModel', 'string'],
  ['PLEXUS_NATIVE_LOOP', 'inference', 'nativeLoop', 'bool'],
  ['PLEXUS_GPU_LAYERS', 'inference', 'gpuLayers', 'string'],
  ['PLEXUS_CABINET_AUTOLOCK_MINUTES', 'cabinets', 'autoLockMinutes', 'int'],
  ['PLEXUS_NETWORK', 'network', 'networkId', 'string'],
  ['PLEXUS_P2P_HOST', 'network', 'host', 'string'],
  ['PLEXUS_P2P_PORT', 'network', 'port', 'int'],
  ['PLEXUS_BOOTSTRAP', 'network', 'bootstrap', 'list'],
  ['PLEXUS_MDNS', 'network', 'mdns', 'bool'],
  ['PLEXUS_PSK_FILE', 'network', 'pskFile', 'string'],
  ['PLEXUS_DEFAULT_PRIVACY', 'router', 'defaultPrivacy', 'string'],
  ['PLEXUS_CLOUD_BASE_URL', 'router', 'cloud.baseUrl', 'string'],
  ['PLEXUS_CLOUD_API_KEY', 'router', 'cloud.apiKey', 'string'],
  ['PLEXUS_FL_AUTO_ACCEPT', 'federated', 'autoAcceptFrom', 'list'],
  ['PLEXUS_STATS_ALLOW', 'stats', 'allowAnalysts', 'list']
]

/** Sets `obj[a][b]…` for a dotted key, creating plain objects on the way. */
function setPath (obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.')
  let at = obj
  for (const k of keys.slice(0, -1)) {
    const next = at[k]
    at = (at[k] = isPlainObject(next) ? next : {}) as Record<string, unknown>
  }
  at[keys[keys.length - 1] as string] = value
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Reads `PLEXUS_*` variables into overrides; a malformed number is a configuration error. */
export function configFromEnv (env: NodeJS.ProcessEnv = process.env): ConfigOverrides {
  const out: Record<Section, Record<string, unknown>> = { api: {}, inference: {}, cabinets: {}, network: {}, router: {}, federated: {}, stats: {}, ledger: {}, governance: {} }
  for (const [name, section, key, kind] of ENV_VARS) {
    const value = env[name]
    if (value == null || value === '') continue
    let parsed: unknown
    if (kind === 'int') {
      if (!/^-?\d+$/.test(value)) throw new PlexusError('PLX_ERR_CONFIG_INVALID', [`${name} must be an integer, got '${value}'`])
      parsed = Number(value)
    } else if (kind === 'list') {
      parsed = value.split(',').map(v => v.trim()).filter(v => v !== '')
    } else if (kind === 'bool') {
      parsed = /^(1|true|yes|on)$/i.test(value)
    } else {
      parsed = value
    }
    setPath(out[section], key, parsed)
  }
  return out
}

/** Deep merge of plain objects; arrays and scalars from `over` replace, `undefined` is skipped. */
function deepMerge (base: unknown, over: unknown): unknown {
  if (!isPlainObject(over)) return over === undefined ? base : over
  // A value of the wrong type is left for the schema to refuse, never spread into defaults.
  if (base !== undefined && !isPlainObject(base)) return base
  const out: Record<string, unknown> = { ...(base ?? {}) }
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue
    out[k] = deepMerge(out[k], v)
  }
  return out
}

function merge (base: Record<string, unknown>, over: ConfigOverrides): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const section of SECTIONS) {
    if (over[section] === undefined && base[section] === undefined) continue
    out[section] = deepMerge(base[section], over[section] ?? {})
  }
  return out
}

/**
 * The effective configuration: defaults, then the config file, then `PLEXUS_*` environment
 * variables, then command-line flags (each later source wins).
 */
export function loadConfig (configPath: string, flags: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): PlexusConfig {
  let fromFile: Record<string, unknown>
  try {
    fromFile = readJsonFile(configPath, z.record(z.string(), z.unknown()), {})
  } catch (err) {
    throw new PlexusError('PLX_ERR_CONFIG_INVALID', [(err as Error).message], { cause: err })
  }
  const merged = merge(merge(fromFile, configFromEnv(env)), flags)
  const parsed = ConfigSchema.safeParse(merged)
  if (!parsed.success) {
    const where = existsSync(configPath) ? ` (file ${configPath}, environment and flags)` : ''
    throw new PlexusError('PLX_ERR_CONFIG_INVALID', [
      parsed.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ') + where
    ])
  }
  return parsed.data
}

/** Writes a config file holding the defaults, for the owner to edit. */
export function writeDefaultConfig (configPath: string): void {
  const defaults = ConfigSchema.parse({})
  // The memory budget defaults to half of this machine's RAM; leave it out so the file stays
  // right if the data directory moves to another machine.
  const { memoryBudgetMiB: _machineDependent, ...inference } = defaults.inference
  writeJsonAtomic(configPath, { ...defaults, inference }, 0o600)
}
