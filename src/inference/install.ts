import { rmSync } from 'node:fs'
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
