import { rmSync } from 'node:fs'
import { PlexusError } from '../errors.js'
import type { InferenceEngine } from './engine.js'
import { pullModel, type PullProgress } from './pull.js'
import type { ModelRecord, ModelRegistry } from './registry.js'

export interface PullAndRegisterOptions {
  /** Name to serve the model under (default: from the URL's file name, see {@link modelNameFromUrl}). */
  name?: string
  /** Expected sha256; a mismatch deletes the download. */
  sha256?: string
  signal?: AbortSignal
  onProgress?: (p: PullProgress) => void
}

export interface PullAndRegisterResult {
  record: ModelRecord
  /** Bytes reused from an earlier, interrupted pull of the same URL. */
  resumedFrom: number
  /** True when the same bytes were already registered (under `record.name`); nothing new was added. */
  alreadyRegistered: boolean
}

/** `https://host/path/TinyLlama.Q4_K_M.gguf?x=1` → `TinyLlama.Q4_K_M`; undefined when the URL names no file. */
export function modelNameFromUrl (url: string): string | undefined {
  let last: string
  try {
    last = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '')
  } catch {
    return undefined
  }
  const name = last.replace(/\.gguf$/i, '')
  return name === '' ? undefined : name
}

/**
 * Downloads a GGUF model (resumably, see `pullModel`) into the registry's store and registers it:
 * the one path shared by `plexus models pull` and `POST /api/plexus/models/pull`. When the same
 * bytes are already registered, the download is dropped and the existing record returned.
 */
export async function pullAndRegister (registry: ModelRegistry, url: string, options: PullAndRegisterOptions = {}): Promise<PullAndRegisterResult> {
  const pulled = await pullModel(url, { destDir: registry.storeDir, sha256: options.sha256, signal: options.signal, onProgress: options.onProgress })
  const existing = registry.findBySha256(pulled.sha256)
  if (existing != null) {
    // Same bytes already registered under another file: keep one copy.
    if (existing.path !== pulled.path) rmSync(pulled.path, { force: true })
    return { record: existing, resumedFrom: pulled.resumedFrom, alreadyRegistered: true }
  }
  const record = await registry.add(pulled.path, { name: options.name ?? modelNameFromUrl(url), store: 'move', sha256: pulled.sha256 })
  return { record, resumedFrom: pulled.resumedFrom, alreadyRegistered: false }
}

/** Progress events for a download worth reporting: one per whole percent (or per MiB when the size is unknown). */
export function progressGate (): (received: number, total: number | null) => boolean {
  let last = -1
  return (received, total) => {
    const step = total != null && total > 0 ? Math.floor((received / total) * 100) : Math.floor(received / (1 << 20))
    if (step === last) return false
    last = step
    return true
  }
}

/**
 * Removes a registered model: unloads it first, and refuses with `PLX_ERR_MODEL_BUSY` while it is
 * generating or has requests waiting. Its file is deleted only if Plexus downloaded or copied it.
 * The one path shared by `DELETE /api/plexus/models/{name}` and Ollama's `/api/delete`.
 */
export async function removeModel (engine: InferenceEngine, name: string): Promise<{ removed: string, deletedFile: boolean }> {
  const record = engine.registry.get(name)
  const loaded = engine.loadedModels().find(l => l.name === record.name)
  if (loaded != null) {
    const busy = (): PlexusError => new PlexusError('PLX_ERR_MODEL_BUSY', [record.name, `${loaded.active} generating, ${loaded.waiting} waiting`])
    if (loaded.active > 0 || loaded.waiting > 0) throw busy()
    // unload refuses a model that became busy meanwhile.
    if (!await engine.unload(record.name)) throw busy()
  }
  const removed = engine.registry.remove(record.name)
  return { removed: removed.name, deletedFile: removed.owned }
}
