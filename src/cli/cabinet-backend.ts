import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { isPlexusError, PlexusError } from '../errors.js'
import { PlexusNode } from '../node/node.js'
import { dataDirPaths } from '../node/data-dir.js'
import { silentLogger } from '../logger.js'
import type { CabinetSummary, IngestReport, IngestProgress, CabinetSearchResult, AskResult, IngestJob } from '../cabinets/service.js'
import type { AuditEntry, DocumentInfo, SearchMode, TokenizerOptions } from '../cabinets/store.js'
import { callNode, findNode, NodeApiError, type NodeTarget } from './client.js'

export interface SearchOptions { topK?: number, mode?: SearchMode }
export interface AskOptions { topK?: number, model?: string, mode?: 'auto' | 'generated' | 'extractive' }

/**
 * What the `plexus cabinet` commands need, served either by the running node (over its API) or,
 * when no node runs, directly on the data directory in this process.
 */
export interface CabinetBackend {
  readonly kind: 'node' | 'local'
  list: () => Promise<CabinetSummary[]>
  create: (name: string, passphrase: string, embeddingModel?: string) => Promise<CabinetSummary>
  unlock: (name: string, passphrase: string) => Promise<CabinetSummary>
  lock: (name: string) => Promise<void>
  passwd: (name: string, oldPassphrase: string, newPassphrase: string) => Promise<void>
  remove: (name: string, passphrase: string) => Promise<void>
  ingest: (name: string, paths: string[], onProgress: (p: IngestProgress) => void) => Promise<IngestReport>
  search: (name: string, query: string, options: SearchOptions) => Promise<CabinetSearchResult>
  ask: (name: string, question: string, options: AskOptions) => Promise<AskResult>
  audit: (name: string, limit: number) => Promise<AuditEntry[]>
  documents: (name: string) => Promise<DocumentInfo[]>
  reindex: (name: string, changes: Partial<TokenizerOptions>) => Promise<Reindexed>
  close: () => Promise<void>
}

/** What a re-index did. */
export interface Reindexed { chunks: number, tokenizer: TokenizerOptions }

/** Asked for when a cabinet turns out to be locked. */
export type PassphraseProvider = () => Promise<string>

/** The running node if there is one on the data dir (or at --url), else local. */
export async function cabinetBackend (options: { dataDir: string, url?: string }, passphrase: PassphraseProvider): Promise<CabinetBackend> {
  const explicit = options.url != null || (process.env.PLEXUS_URL ?? '') !== ''
  if (explicit || existsSync(dataDirPaths(options.dataDir).runtime)) {
    try {
      return new NodeBackend(findNode({ url: options.url, dataDir: options.dataDir }), passphrase)
    } catch (err) {
      // A stale runtime file (node crashed): work locally instead.
      if (explicit || !isPlexusError(err, 'PLX_ERR_NODE_NOT_RUNNING')) throw err
    }
  }
  return new LocalBackend(await PlexusNode.create({ dataDir: options.dataDir, logger: silentLogger(), writeRuntimeFile: false }), passphrase)
}

const POLL_MS = 200

class NodeBackend implements CabinetBackend {
  readonly kind = 'node' as const
  constructor (readonly target: NodeTarget, readonly passphrase: PassphraseProvider) {}

  async #call<T> (method: string, path: string, body?: unknown): Promise<T> {
    return await callNode<T>(this.target, method, path, body)
  }

  /** Runs `fn`; if the cabinet is locked on the node, unlocks it with the passphrase and retries once. */
  async #unlocked<T> (name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (!(err instanceof NodeApiError) || err.status !== 423) throw err
      await this.unlock(name, await this.passphrase())
      return await fn()
    }
  }

  async list (): Promise<CabinetSummary[]> { return (await this.#call<{ cabinets: CabinetSummary[] }>('GET', '/api/plexus/cabinets')).cabinets }
  async create (name: string, passphrase: string, embeddingModel?: string): Promise<CabinetSummary> {
    return await this.#call('POST', '/api/plexus/cabinets', { name, passphrase, embedding_model: embeddingModel })
  }

  async unlock (name: string, passphrase: string): Promise<CabinetSummary> { return await this.#call('POST', `/api/plexus/cabinets/${name}/unlock`, { passphrase }) }
  async lock (name: string): Promise<void> { await this.#call('POST', `/api/plexus/cabinets/${name}/lock`) }
  async passwd (name: string, oldPassphrase: string, newPassphrase: string): Promise<void> {
    await this.#call('POST', `/api/plexus/cabinets/${name}/passwd`, { old_passphrase: oldPassphrase, new_passphrase: newPassphrase })
  }

  async remove (name: string, passphrase: string): Promise<void> { await this.#call('DELETE', `/api/plexus/cabinets/${name}`, { passphrase }) }

  async ingest (name: string, paths: string[], onProgress: (p: IngestProgress) => void): Promise<IngestReport> {
    // The node reads the files itself: it runs on this machine, so absolute paths mean the same.
    let job = await this.#unlocked(name, async () => await this.#call<IngestJob>('POST', `/api/plexus/cabinets/${name}/ingest`, { paths: paths.map(p => resolve(p)) }))
    while (job.state === 'running') {
      await new Promise(resolve => setTimeout(resolve, POLL_MS))
      job = await this.#call<IngestJob>('GET', `/api/plexus/cabinets/${name}/jobs/${job.id}`)
      onProgress(job.progress)
    }
    if (job.state !== 'done' || job.report == null) throw new PlexusError('PLX_ERR_INTERNAL', [`ingest ${job.state}: ${job.error ?? 'no report'}`])
    return job.report
  }

  async search (name: string, query: string, o: SearchOptions): Promise<CabinetSearchResult> {
    return await this.#unlocked(name, async () => await this.#call('POST', `/api/plexus/cabinets/${name}/search`, { query, top_k: o.topK, mode: o.mode }))
  }

  async ask (name: string, question: string, o: AskOptions): Promise<AskResult> {
    return await this.#unlocked(name, async () => await this.#call('POST', `/api/plexus/cabinets/${name}/ask`, { question, top_k: o.topK, model: o.model, mode: o.mode }))
  }

  async audit (name: string, limit: number): Promise<AuditEntry[]> {
    return await this.#unlocked(name, async () => (await this.#call<{ entries: AuditEntry[] }>('GET', `/api/plexus/cabinets/${name}/audit?limit=${limit}`)).entries)
  }

  async documents (name: string): Promise<DocumentInfo[]> {
    return await this.#unlocked(name, async () => (await this.#call<{ documents: DocumentInfo[] }>('GET', `/api/plexus/cabinets/${name}/documents?limit=10000`)).documents)
  }

  async reindex (name: string, changes: Partial<TokenizerOptions>): Promise<Reindexed> {
    return await this.#unlocked(name, async () => await this.#call<Reindexed>('POST', `/api/plexus/cabinets/${name}/reindex`, changes))
  }

  async close (): Promise<void> {}
}

/** Without a node: each command unlocks the cabinet for itself and locks it again when done. */
class LocalBackend implements CabinetBackend {
  readonly kind = 'local' as const
  constructor (readonly node: PlexusNode, readonly passphrase: PassphraseProvider) {}

  get #svc (): PlexusNode['cabinets'] { return this.node.cabinets }

  async #open (name: string): Promise<void> {
    if (!this.#svc.isUnlocked(name)) {
      if (!this.#svc.exists(name)) throw new PlexusError('PLX_ERR_CABINET_NOT_FOUND', [name])
      await this.#svc.unlock(name, await this.passphrase())
    }
  }

  async list (): Promise<CabinetSummary[]> { return this.#svc.list() }
  async create (name: string, passphrase: string, embeddingModel?: string): Promise<CabinetSummary> { return await this.#svc.create(name, passphrase, { embeddingModel }) }
  async unlock (name: string, passphrase: string): Promise<CabinetSummary> { return await this.#svc.unlock(name, passphrase) }
  async lock (name: string): Promise<void> { this.#svc.lock(name) }
  async passwd (name: string, o: string, n: string): Promise<void> { await this.#svc.passwd(name, o, n) }
  async remove (name: string, passphrase: string): Promise<void> { await this.#svc.remove(name, passphrase) }
  async ingest (name: string, paths: string[], onProgress: (p: IngestProgress) => void): Promise<IngestReport> {
    await this.#open(name)
    const report = await this.#svc.ingest(name, paths, { caller: 'local-cli', onProgress })
    await this.#svc.embeddingsIdle(name)
    return report
  }

  async search (name: string, query: string, o: SearchOptions): Promise<CabinetSearchResult> {
    await this.#open(name)
    return await this.#svc.search([name], query, { topK: o.topK, mode: o.mode, caller: 'local-cli' })
  }

  async ask (name: string, question: string, o: AskOptions): Promise<AskResult> {
    await this.#open(name)
    return await this.#svc.ask([name], question, { topK: o.topK, model: o.model, mode: o.mode, caller: 'local-cli' })
  }

  async audit (name: string, limit: number): Promise<AuditEntry[]> {
    await this.#open(name)
    return this.#svc.audit(name, { limit })
  }

  async documents (name: string): Promise<DocumentInfo[]> {
    await this.#open(name)
    return this.#svc.documents(name, { limit: 10_000 })
  }

  async reindex (name: string, changes: Partial<TokenizerOptions>): Promise<Reindexed> {
    await this.#open(name)
    return this.#svc.reindex(name, changes)
  }

  async close (): Promise<void> { await this.node.stop({ graceMs: 0 }) }
}
