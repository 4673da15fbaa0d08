import { existsSync } from 'node:fs'
import { totalmem } from 'node:os'
import { z } from 'zod'
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
  defaultModel: z.string().min(1).optional()
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

export const ConfigSchema = z.strictObject({
  api: ApiConfigSchema.default(ApiConfigSchema.parse({})),
  inference: InferenceConfigSchema.default(InferenceConfigSchema.parse({})),
  cabinets: CabinetsConfigSchema.default(CabinetsConfigSchema.parse({}))
})

export type PlexusConfig = z.output<typeof ConfigSchema>
export type ConfigOverrides = {
  api?: Partial<PlexusConfig['api']>
  inference?: Partial<PlexusConfig['inference']>
  cabinets?: Partial<PlexusConfig['cabinets']>
}

type Section = keyof PlexusConfig
const SECTIONS: Section[] = ['api', 'inference', 'cabinets']

const ENV_VARS: Array<[string, Section, string, 'int' | 'string' | 'bool']> = [
  ['PLEXUS_HOST', 'api', 'host', 'string'],
  ['PLEXUS_PORT', 'api', 'port', 'int'],
  ['PLEXUS_REQUIRE_API_KEY', 'api', 'requireApiKey', 'bool'],
  ['PLEXUS_THREADS', 'inference', 'threads', 'int'],
  ['PLEXUS_PARALLEL', 'inference', 'parallel', 'int'],
  ['PLEXUS_CONTEXT_SIZE', 'inference', 'contextSize', 'int'],
  ['PLEXUS_MEMORY_BUDGET_MIB', 'inference', 'memoryBudgetMiB', 'int'],
  ['PLEXUS_DEFAULT_MODEL', 'inference', 'defaultModel', 'string'],
  ['PLEXUS_CABINET_AUTOLOCK_MINUTES', 'cabinets', 'autoLockMinutes', 'int']
]

/** Reads `PLEXUS_*` variables into overrides; a malformed number is a configuration error. */
export function configFromEnv (env: NodeJS.ProcessEnv = process.env): ConfigOverrides {
  const out: Record<Section, Record<string, unknown>> = { api: {}, inference: {}, cabinets: {} }
  for (const [name, section, key, kind] of ENV_VARS) {
    const value = env[name]
    if (value == null || value === '') continue
    if (kind === 'int') {
      if (!/^-?\d+$/.test(value)) throw new PlexusError('PLX_ERR_CONFIG_INVALID', [`${name} must be an integer, got '${value}'`])
      out[section][key] = Number(value)
    } else if (kind === 'bool') {
      out[section][key] = /^(1|true|yes|on)$/i.test(value)
    } else {
      out[section][key] = value
    }
  }
  return out
}

function merge (base: Record<string, unknown>, over: ConfigOverrides): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const section of SECTIONS) {
    const current = base[section]
    // A section of the wrong type is left for the schema to refuse, never spread into defaults.
    if (current !== undefined && (typeof current !== 'object' || current === null || Array.isArray(current))) continue
    const defined = Object.fromEntries(Object.entries(over[section] ?? {}).filter(([, v]) => v !== undefined))
    out[section] = { ...(base[section] as object | undefined), ...defined }
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
