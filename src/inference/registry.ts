import { existsSync, statSync, unlinkSync, copyFileSync, renameSync } from 'node:fs'
import { basename, resolve, join } from 'node:path'
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import { JsonStateFile } from '../node/json-file.js'
import { readModelMetadata } from './gguf.js'
import { sha256File } from './hash.js'

/** Model names appear in URLs and CLI arguments: keep them simple. */
export const MODEL_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

const ModelMetadataSchema = z.object({
  architecture: z.string(),
  parameters: z.number(),
  contextLength: z.number().nullable(),
  embeddingLength: z.number().nullable(),
  quantization: z.string(),
  chatTemplate: z.string().nullable(),
  ggufVersion: z.number()
})

const ModelRecordSchema = z.object({
  name: z.string().regex(MODEL_NAME_RE),
  path: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  sizeBytes: z.number().int().nonnegative(),
  addedAt: z.string(),
  /** True when the file lives in the data directory and is deleted with the record. */
  owned: z.boolean(),
  metadata: ModelMetadataSchema
})

const RegistryFileSchema = z.object({ version: z.literal(1), models: z.array(ModelRecordSchema) })

export type ModelRecord = z.output<typeof ModelRecordSchema>

export interface AddModelOptions {
  name?: string
  /** Copy (or, for `move`, rename) the file into the data directory instead of referencing it in place. */
  store?: 'reference' | 'copy' | 'move'
  /** When known (e.g. just verified by a download), skips re-hashing. */
  sha256?: string
  signal?: AbortSignal
}

/** Derives a model name from a file name: `TinyLlama-1.1B.Q4_K_M.gguf` → `TinyLlama-1.1B.Q4_K_M`. */
export function modelNameFromPath (path: string): string {
  const base = basename(path).replace(/\.gguf$/i, '').replace(/[^A-Za-z0-9._:-]/g, '-').replace(/^[^A-Za-z0-9]+/, '')
  return base === '' ? 'model' : base.slice(0, 128)
}

/**
 * The models a node knows, persisted in `models.json` in the data directory. Models are identified
 * by name and sha256; metadata comes from the GGUF header at registration time.
 */
export class ModelRegistry {
  readonly #file: JsonStateFile<typeof RegistryFileSchema>
  readonly #storeDir: string
  #models: ModelRecord[]

  constructor (init: { registryFile: string, storeDir: string }) {
    this.#file = new JsonStateFile(init.registryFile, RegistryFileSchema, { version: 1, models: [] })
    this.#storeDir = init.storeDir
    this.#models = this.#load()
  }

  /**
   * The current records: the CLI and a running node may both change the file, so every operation
   * looks at it (a `stat`; it is parsed again only when it changed).
   */
  #load (): ModelRecord[] {
    try {
      return [...this.#file.read().models]
    } catch (err) {
      throw new PlexusError('PLX_ERR_DATA_DIR', [(err as Error).message], { cause: err })
    }
  }

  /** Directory where downloaded and copied models are stored. */
  get storeDir (): string { return this.#storeDir }

  list (): ModelRecord[] {
    this.#models = this.#load()
    return this.#models.map(m => ({ ...m }))
  }

  has (name: string): boolean {
    this.#models = this.#load()
    return this.#models.some(m => m.name === name)
  }

  /** Finds a model by name; `PLX_ERR_MODEL_NOT_FOUND` if there is none. */
  get (name: string): ModelRecord {
    this.#models = this.#load()
    const m = this.#models.find(m => m.name === name)
    if (m == null) throw new PlexusError('PLX_ERR_MODEL_NOT_FOUND', [name], { param: 'model' })
    return { ...m }
  }

  findBySha256 (sha256: string): ModelRecord | undefined {
    this.#models = this.#load()
    return this.#models.find(m => m.sha256 === sha256)
  }

  /** Registers a GGUF file. Reads its header (rejecting non-GGUF files) and hashes it. */
  async add (filePath: string, options: AddModelOptions = {}): Promise<ModelRecord> {
    const path = resolve(filePath)
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw new PlexusError('PLX_ERR_MODEL_INVALID_FILE', [`${path} does not exist or is not a file`])
    }
    const name = options.name ?? modelNameFromPath(path)
    if (!MODEL_NAME_RE.test(name)) {
      throw new PlexusError('PLX_ERR_BAD_REQUEST', [`Invalid model name '${name}': use letters, digits, '.', '_', ':' or '-' (at most 128)`])
    }
    if (this.has(name)) throw new PlexusError('PLX_ERR_MODEL_EXISTS', [name])
    const metadata = await readModelMetadata(path)
    const sha256 = options.sha256 ?? await sha256File(path, { signal: options.signal })
    let finalPath = path
    const store = options.store ?? 'reference'
    if (store !== 'reference') {
      finalPath = join(this.#storeDir, `${sha256}.gguf`)
      if (!existsSync(finalPath)) {
        if (store === 'move') renameSync(path, finalPath)
        else copyFileSync(path, finalPath)
      } else if (store === 'move' && finalPath !== path) {
        unlinkSync(path)
      }
    }
    const record: ModelRecord = {
      name,
      path: finalPath,
      sha256,
      sizeBytes: statSync(finalPath).size,
      addedAt: new Date().toISOString(),
      owned: store !== 'reference',
      metadata
    }
    // Re-check: another add may have finished while we were hashing.
    if (this.has(name)) throw new PlexusError('PLX_ERR_MODEL_EXISTS', [name])
    this.#models.push(record)
    this.#save()
    return { ...record }
  }

  /** Forgets a model; deletes its file only if Plexus owns it and no other record uses it. */
  remove (name: string): ModelRecord {
    const record = this.get(name)
    this.#models = this.#models.filter(m => m.name !== name)
    this.#save()
    if (record.owned && !this.#models.some(m => m.path === record.path)) {
      try { unlinkSync(record.path) } catch {}
    }
    return record
  }

  /** Checks that a registered file still exists and has the recorded size. */
  check (name: string): { ok: boolean, problem?: string } {
    const m = this.get(name)
    if (!existsSync(m.path)) return { ok: false, problem: `file ${m.path} is missing` }
    const size = statSync(m.path).size
    if (size !== m.sizeBytes) return { ok: false, problem: `file ${m.path} changed size (${size} bytes, expected ${m.sizeBytes})` }
    return { ok: true }
  }

  #save (): void {
    this.#file.write({ version: 1, models: this.#models })
  }
}
