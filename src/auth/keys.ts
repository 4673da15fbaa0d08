import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import { JsonStateFile } from '../node/json-file.js'

/** Prefix of every Plexus API key, so a leaked key is recognisable (and greppable by scanners). */
export const API_KEY_PREFIX = 'plx_'
const KEY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

const ApiKeyRecordSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{12}$/),
  name: z.string(),
  /** sha256 of the whole key. Keys are 256-bit random, so a fast hash is enough (no dictionary to attack). */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  /** First characters of the key, shown in listings to tell keys apart. */
  hint: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  /** Requests per minute for this key; null = the node's default. */
  rateLimitPerMinute: z.number().int().positive().nullable(),
  lastUsedAt: z.string().nullable().default(null)
})

const ApiKeyFileSchema = z.object({ version: z.literal(1), keys: z.array(ApiKeyRecordSchema) })

export type ApiKeyRecord = z.output<typeof ApiKeyRecordSchema>
/** What listings show: never the hash. */
export type ApiKeyInfo = Omit<ApiKeyRecord, 'hash'>

function hashKey (key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

/** API keys of a node, stored hashed in `api-keys.json` (mode 0600). */
export class ApiKeyStore {
  readonly #file: JsonStateFile<typeof ApiKeyFileSchema>
  #keys: ApiKeyRecord[]

  constructor (file: string) {
    this.#file = new JsonStateFile(file, ApiKeyFileSchema, { version: 1, keys: [] })
    this.#keys = this.#load()
  }

  /** The current keys; a `stat` per call, parsed again only when the CLI (or anyone) changed the file. */
  #load (): ApiKeyRecord[] {
    try {
      return this.#file.read().keys.map(k => ({ ...k }))
    } catch (err) {
      throw new PlexusError('PLX_ERR_DATA_DIR', [(err as Error).message], { cause: err })
    }
  }

  /** Creates a key; the secret is returned once and never stored. */
  create (name: string, options: { rateLimitPerMinute?: number } = {}): { key: string, info: ApiKeyInfo } {
    if (!KEY_NAME_RE.test(name)) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`Invalid key name '${name}': letters, digits, '.', '_' or '-', at most 64`])
    this.#keys = this.#load()
    if (this.#keys.some(k => k.name === name && k.revokedAt == null)) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`An active key named '${name}' already exists`])
    const key = API_KEY_PREFIX + randomBytes(32).toString('base64url')
    const record: ApiKeyRecord = {
      id: randomBytes(6).toString('hex'),
      name,
      hash: hashKey(key),
      hint: key.slice(0, API_KEY_PREFIX.length + 4),
      createdAt: new Date().toISOString(),
      revokedAt: null,
      rateLimitPerMinute: options.rateLimitPerMinute ?? null,
      lastUsedAt: null
    }
    this.#keys.push(record)
    this.#save()
    return { key, info: strip(record) }
  }

  list (): ApiKeyInfo[] {
    this.#keys = this.#load()
    return this.#keys.map(strip)
  }

  /** Revokes by id or name; revoked keys stay listed for the record. */
  revoke (idOrName: string): ApiKeyInfo {
    this.#keys = this.#load()
    const k = this.#keys.find(k => (k.id === idOrName || k.name === idOrName) && k.revokedAt == null)
    if (k == null) throw new PlexusError('PLX_ERR_KEY_NOT_FOUND', [idOrName])
    k.revokedAt = new Date().toISOString()
    this.#save()
    return strip(k)
  }

  /** Whether any key is active (then every request must carry one). */
  hasActiveKeys (): boolean {
    this.#keys = this.#load()
    return this.#keys.some(k => k.revokedAt == null)
  }

  /** The active key matching `key`, or null. Constant-time comparison of hashes. */
  verify (key: string): ApiKeyInfo | null {
    this.#keys = this.#load()
    if (!key.startsWith(API_KEY_PREFIX)) return null
    const h = Buffer.from(hashKey(key), 'hex')
    for (const k of this.#keys) {
      if (k.revokedAt == null && timingSafeEqual(h, Buffer.from(k.hash, 'hex'))) return strip(k)
    }
    return null
  }

  #save (): void {
    this.#file.write({ version: 1, keys: this.#keys })
  }
}

function strip (k: ApiKeyRecord): ApiKeyInfo {
  const { hash: _hash, ...info } = k
  return { ...info }
}
