import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join, resolve, sep } from 'node:path'
import { PlexusError, describeError, isPlexusError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { InferenceEngine } from '../inference/engine.js'
import { CabinetStore, cabinetPaths, type SearchHit, type SearchMode, type SearchFilters, type CabinetStats, type AuditEntry, type DocumentInfo, type TokenizerOptions } from './store.js'
import { CABINET_FILE_SUFFIX, CABINET_NAME_RE, type ScryptParams } from './constants.js'
import { parseFile, parseBytesInProcess, walkFiles, chunkSections, hashFile, isSupportedFile, isIngestError, type IngestErrorCode } from './ingest/index.js'
import { createHash } from 'node:crypto'
import { reciprocalRankFusion } from './retrieval/fusion.js'
import { answerFromSources, type AnswerMode, type Citation, type Source } from './answer.js'
import { pinPrivate, type PrivacyLevel, type PrivacyTag } from '../router/privacy.js'

export interface CabinetsInit {
  /** Folder holding `<name>.cabinet` and `<name>.keyring.json` files. */
  dir: string
  /** Lock a cabinet after this long without use; 0 = never. */
  autoLockMs: number
  /** scrypt parameters for new keyrings (tests pass cheap ones). */
  kdf?: ScryptParams
  chunkTokens?: number
  chunkOverlapTokens?: number
}

export interface CabinetsComponents {
  /** For embeddings and answers; null where only storage is needed (e.g. the CLI without a node). */
  engine: InferenceEngine | null
  logger: Logger
}

export interface CabinetSummary {
  name: string
  locked: boolean
  fileBytes: number
  /** Present while unlocked. */
  stats: CabinetStats | null
}

export interface IngestProgress {
  filesTotal: number
  filesDone: number
  bytesDone: number
  current: string | null
}

export interface IngestReport {
  added: number
  updated: number
  unchanged: number
  removed: number
  skipped: Array<{ path: string, reason: string }>
  chunks: number
}

export interface IngestJob {
  id: string
  cabinet: string
  state: 'running' | 'done' | 'failed' | 'cancelled'
  startedAt: string
  finishedAt: string | null
  progress: IngestProgress
  report: IngestReport | null
  error: string | null
}

export interface CabinetHit extends SearchHit {
  cabinet: string
}

export interface CabinetSearchResult {
  mode: SearchMode
  fallbackReason: string | null
  hits: CabinetHit[]
}

export interface AskResult {
  answer: string
  mode: AnswerMode
  model: string | null
  citations: Citation[]
  /** Always `private`: the answer was derived from cabinet contents. */
  privacy: PrivacyTag
  usage: { promptTokens: number, completionTokens: number } | null
}

interface OpenCabinet {
  store: CabinetStore
  lastUsed: number
  timer: NodeJS.Timeout | null
  embedding: Promise<void> | null
}

/** Documents per embedding batch: small enough to keep the engine responsive to chat requests. */
const EMBED_BATCH = 32
/** Finished ingest jobs kept for `GET …/jobs/:id`. */
const MAX_FINISHED_JOBS = 100

/**
 * Cabinets of one node: creates, unlocks and locks them, ingests files, searches and answers over
 * them. Everything derived from a cabinet is pinned private (see router/privacy.ts).
 */
export class CabinetService {
  readonly #init: CabinetsInit
  readonly #engine: InferenceEngine | null
  readonly #log: Logger
  readonly #open = new Map<string, OpenCabinet>()
  readonly #jobs = new Map<string, { job: IngestJob, controller: AbortController }>()

  constructor (components: CabinetsComponents, init: CabinetsInit) {
    this.#engine = components.engine
    this.#log = components.logger
    this.#init = init
    mkdirSync(init.dir, { recursive: true, mode: 0o700 })
  }

  /** Every cabinet in the folder, locked or not. */
  list (): CabinetSummary[] {
    const names = readdirSync(this.#init.dir)
      .filter(f => f.endsWith(CABINET_FILE_SUFFIX))
      .map(f => f.slice(0, -CABINET_FILE_SUFFIX.length))
      .filter(n => CABINET_NAME_RE.test(n) && CabinetStore.exists(this.#init.dir, n))
      .sort()
    return names.map(name => this.summary(name))
  }

  exists (name: string): boolean {
    return CabinetStore.exists(this.#init.dir, name)
  }

  isUnlocked (name: string): boolean {
    return this.#open.has(name)
  }

  /** Creates a cabinet and leaves it unlocked. */
  async create (name: string, passphrase: string, options: { embeddingModel?: string } = {}): Promise<CabinetSummary> {
    if (this.exists(name)) throw new PlexusError('PLX_ERR_CABINET_EXISTS', [name])
    const store = await CabinetStore.create(this.#init.dir, name, passphrase, { kdf: this.#init.kdf, logger: this.#log })
    this.#adopt(name, store)
    if (options.embeddingModel != null) await this.setEmbeddingModel(name, options.embeddingModel)
    return this.summary(name)
  }

  /** Unlocks with the passphrase (idempotent if already unlocked and the passphrase is right). */
  async unlock (name: string, passphrase: string): Promise<CabinetSummary> {
    this.#requireExists(name)
    const store = await CabinetStore.open(this.#init.dir, name, passphrase, { kdf: this.#init.kdf, logger: this.#log })
    const current = this.#open.get(name)
    if (current != null) {
      store.close() // the passphrase was right; keep the connection we have
      this.#touch(name, current)
    } else {
      this.#adopt(name, store)
      this.#resumeEmbedding(name)
    }
    return this.summary(name)
  }

  /** Forgets the keys: closes the database. Running ingests of this cabinet are cancelled. */
  lock (name: string): void {
    this.#requireExists(name)
    for (const { job, controller } of this.#jobs.values()) if (job.cabinet === name && job.state === 'running') controller.abort()
    const open = this.#open.get(name)
    if (open == null) return
    if (open.timer != null) clearTimeout(open.timer)
    this.#open.delete(name)
    open.store.close()
    this.#log.info({ cabinet: name }, 'cabinet locked')
  }

  async passwd (name: string, oldPassphrase: string, newPassphrase: string): Promise<void> {
    this.#requireExists(name)
    await CabinetStore.changePassphrase(this.#init.dir, name, oldPassphrase, newPassphrase, { kdf: this.#init.kdf })
  }

  /** Deletes a cabinet for good. The passphrase is checked first, so a typo cannot destroy the wrong one. */
  async remove (name: string, passphrase: string): Promise<void> {
    this.#requireExists(name)
    const check = await CabinetStore.open(this.#init.dir, name, passphrase, { kdf: this.#init.kdf, logger: this.#log })
    check.close()
    this.lock(name)
    const { cabinet, keyring } = cabinetPaths(this.#init.dir, name)
    for (const f of [`${cabinet}-wal`, `${cabinet}-shm`, `${cabinet}-journal`, cabinet, keyring]) rmSync(f, { force: true })
  }

  /** Records the cabinet's embedding model (a registered GGUF model) and re-embeds in the background. */
  async setEmbeddingModel (name: string, modelName: string | null): Promise<CabinetStats> {
    const open = this.#get(name)
    if (modelName == null) {
      open.store.setEmbeddingModel(null)
      return open.store.stats()
    }
    const engine = this.#requireEngine()
    const record = engine.registry.get(modelName)
    const probe = await engine.embed(modelName, ['dimension probe'])
    const dims = probe.embeddings[0]?.length ?? 0
    open.store.setEmbeddingModel({ name: record.name, sha256: record.sha256, dims })
    this.#resumeEmbedding(name)
    return open.store.stats()
  }

  /** Waits until every chunk of the cabinet has its vector (tests, CLI). */
  async embeddingsIdle (name: string): Promise<void> {
    const open = this.#get(name)
    while (open.embedding != null) await open.embedding
  }

  /** Rebuilds an unlocked cabinet's full-text index with other tokenizer settings. */
  reindex (name: string, changes: Partial<TokenizerOptions>): { chunks: number, tokenizer: TokenizerOptions } {
    return this.#get(name).store.reindex(changes)
  }

  stats (name: string): CabinetStats {
    return this.#get(name).store.stats()
  }

  documents (name: string, options: { pathPrefix?: string, limit?: number, offset?: number } = {}): DocumentInfo[] {
    return this.#get(name).store.listDocuments(options)
  }

  audit (name: string, options: { limit?: number } = {}): AuditEntry[] {
    return this.#get(name).store.listAudit(options)
  }

  /**
   * Ingests files and folders (recursively). Unchanged files (same size and mtime, or same sha256)
   * are skipped; documents under an ingested folder whose files are gone are removed; unsupported or
   * corrupt files are reported and skipped. Each document is written in its own transaction, so an
   * interrupted ingest leaves a consistent cabinet and the next one completes it.
   */
  async ingest (name: string, paths: string[], options: { caller?: string | null, signal?: AbortSignal, onProgress?: (p: IngestProgress) => void } = {}): Promise<IngestReport> {
    const open = this.#get(name)
    const roots = existingRoots(paths)
    const files = []
    for await (const f of walkFiles(roots, { signal: options.signal })) files.push(f)
    const report: IngestReport = { added: 0, updated: 0, unchanged: 0, removed: 0, skipped: [], chunks: 0 }
    const progress: IngestProgress = { filesTotal: files.length, filesDone: 0, bytesDone: 0, current: null }
    const seen = new Set<string>()
    for (const file of files) {
      options.signal?.throwIfAborted()
      if (!this.#open.has(name)) throw new PlexusError('PLX_ERR_CABINET_LOCKED', [name])
      this.#touch(name, open)
      progress.current = file.path
      options.onProgress?.({ ...progress })
      seen.add(file.path)
      if (!isSupportedFile(file.path)) {
        report.skipped.push({ path: file.path, reason: 'unsupported file type' })
      } else {
        try {
          const outcome = await this.#ingestFile(open.store, file, options.signal)
          report[outcome.kind]++
          report.chunks += outcome.chunks
        } catch (err) {
          if (options.signal?.aborted === true) throw err
          if (isPlexusError(err) && err.code.startsWith('PLX_ERR_CABINET')) throw err
          report.skipped.push({ path: file.path, reason: isIngestError(err) ? err.message : describeError(err) })
        }
      }
      progress.filesDone++
      progress.bytesDone += file.size
      options.onProgress?.({ ...progress })
    }
    // Files that were under an ingested folder and are gone now.
    for (const doc of open.store.listDocuments({ limit: Number.MAX_SAFE_INTEGER })) {
      if (seen.has(doc.path)) continue
      const underRoot = roots.some(r => doc.path === r || doc.path.startsWith(r.endsWith(sep) ? r : r + sep))
      if (underRoot && !existsSync(doc.path)) {
        open.store.removeDocument(doc.path)
        report.removed++
      }
    }
    progress.current = null
    options.onProgress?.({ ...progress })
    open.store.appendAudit({
      action: 'ingest',
      caller: options.caller ?? null,
      query: null,
      resultCount: report.added + report.updated,
      detail: { paths: roots, added: report.added, updated: report.updated, unchanged: report.unchanged, removed: report.removed, skipped: report.skipped.length }
    })
    this.#resumeEmbedding(name)
    return report
  }

  async #ingestFile (store: CabinetStore, file: { path: string, size: number, mtimeMs: number }, signal?: AbortSignal): Promise<{ kind: 'added' | 'updated' | 'unchanged', chunks: number }> {
    const existing = store.getDocumentByPath(file.path)
    const mtime = Math.floor(file.mtimeMs)
    if (existing != null && existing.size === file.size && existing.mtime === mtime) return { kind: 'unchanged', chunks: 0 }
    const sha256 = await hashFile(file.path, { signal })
    const parsed = await parseFile(file.path, { signal })
    const chunks = sha256 === existing?.sha256
      ? []
      : chunkSections(parsed.sections, { maxTokens: this.#init.chunkTokens, overlapTokens: this.#init.chunkOverlapTokens })
    const result = store.upsertDocument({
      path: file.path, title: parsed.title, mime: parsed.mime, mtime, size: file.size, sha256, chunks
    }, { signal })
    if (existing == null) return { kind: 'added', chunks: result.reusedContent ? 0 : result.chunkCount }
    return { kind: result.changed ? 'updated' : 'unchanged', chunks: result.changed && !result.reusedContent ? result.chunkCount : 0 }
  }

  /**
   * Ingests a file sent over HTTP, parsed in memory (never written to disk in clear). It is stored
   * under `path` (default `upload:<fileName>`); uploading to the same path replaces it.
   */
  async ingestUpload (name: string, upload: { fileName: string, bytes: Buffer, path?: string, caller?: string | null }): Promise<{ path: string, outcome: 'added' | 'updated' | 'unchanged', chunks: number }> {
    const open = this.#get(name)
    this.#touch(name, open)
    const path = upload.path ?? `upload:${upload.fileName}`
    const sha256 = createHash('sha256').update(upload.bytes).digest('hex')
    const existing = open.store.getDocumentByPath(path)
    let outcome: 'added' | 'updated' | 'unchanged' = 'unchanged'
    let chunks = 0
    if (existing?.sha256 !== sha256) {
      let parsed
      try {
        parsed = await parseBytesInProcess(upload.fileName, upload.bytes)
      } catch (err) {
        if (!isIngestError(err)) throw err
        throw new PlexusError(UPLOAD_ERRORS[err.code], [upload.fileName, err.message], { cause: err, param: 'filename' })
      }
      const r = open.store.upsertDocument({
        path,
        title: parsed.title,
        mime: parsed.mime,
        mtime: Date.now(),
        size: upload.bytes.length,
        sha256,
        chunks: chunkSections(parsed.sections, { maxTokens: this.#init.chunkTokens, overlapTokens: this.#init.chunkOverlapTokens })
      })
      outcome = existing == null ? 'added' : 'updated'
      chunks = r.reusedContent ? 0 : r.chunkCount
    }
    open.store.appendAudit({ action: 'ingest', caller: upload.caller ?? null, query: null, resultCount: outcome === 'unchanged' ? 0 : 1, detail: { upload: true, outcome, chunks } })
    this.#resumeEmbedding(name)
    return { path, outcome, chunks }
  }

  /** Starts an ingest in the background; progress and report through `job(id)`. */
  startIngest (name: string, paths: string[], options: { caller?: string | null } = {}): IngestJob {
    this.#get(name)
    existingRoots(paths) // refuse missing paths now, not in a failed job later
    const controller = new AbortController()
    const job: IngestJob = {
      id: randomBytes(8).toString('hex'),
      cabinet: name,
      state: 'running',
      startedAt: new Date().toISOString(),
      finishedAt: null,
      progress: { filesTotal: 0, filesDone: 0, bytesDone: 0, current: null },
      report: null,
      error: null
    }
    this.#jobs.set(job.id, { job, controller })
    this.ingest(name, paths, { caller: options.caller, signal: controller.signal, onProgress: p => { job.progress = p } })
      .then(report => { job.report = report; job.state = 'done' })
      .catch(err => {
        job.state = controller.signal.aborted ? 'cancelled' : 'failed'
        job.error = describeError(err)
      })
      .finally(() => {
        job.finishedAt = new Date().toISOString()
        this.#pruneJobs()
      })
    return { ...job }
  }

  job (id: string): IngestJob {
    const j = this.#jobs.get(id)
    if (j == null) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`No ingest job '${id}'`], { param: 'id' })
    return { ...j.job, progress: { ...j.job.progress } }
  }

  cancelJob (id: string): IngestJob {
    const j = this.#jobs.get(id)
    if (j == null) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`No ingest job '${id}'`], { param: 'id' })
    j.controller.abort()
    return this.job(id)
  }

  #pruneJobs (): void {
    const finished = [...this.#jobs.values()].filter(j => j.job.state !== 'running')
    for (const j of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED_JOBS))) this.#jobs.delete(j.job.id)
  }

  /**
   * Searches one or more cabinets. Several cabinets are merged by reciprocal rank fusion (their
   * scores are not comparable). Hybrid search embeds the query with each cabinet's model.
   */
  async search (names: string[], query: string, options: { topK?: number, mode?: SearchMode, filters?: SearchFilters, caller?: string | null, signal?: AbortSignal } = {}): Promise<CabinetSearchResult> {
    if (names.length === 0) throw new PlexusError('PLX_ERR_BAD_REQUEST', ['Name at least one cabinet'], { param: 'cabinets' })
    const topK = options.topK ?? 5
    const lists: CabinetHit[][] = []
    let mode: SearchMode = options.mode ?? 'hybrid'
    let fallbackReason: string | null = null
    for (const name of names) {
      const open = this.#get(name)
      this.#touch(name, open)
      const queryVector = await this.#queryVector(open.store, query, options.mode ?? 'hybrid', options.signal)
      const r = open.store.search({ query, topK, mode: options.mode ?? 'hybrid', queryVector, filters: options.filters })
      mode = r.mode
      fallbackReason = r.fallbackReason
      lists.push(r.hits.map(h => ({ ...h, cabinet: name })))
      open.store.appendAudit({ action: 'search', caller: options.caller ?? null, query, resultCount: r.hits.length, detail: { mode: r.mode, topK } })
    }
    const hits = lists.length === 1
      ? lists[0]!
      : reciprocalRankFusion(lists.map(l => l.map(h => ({ key: `${h.cabinet}:${h.chunkId}`, item: h })))).slice(0, topK).map(f => ({ ...f.item, score: f.score }))
    return { mode, fallbackReason, hits }
  }

  async #queryVector (store: CabinetStore, query: string, mode: SearchMode, signal?: AbortSignal): Promise<number[] | undefined> {
    const model = store.embeddingModel()
    if (mode === 'lexical' || model == null || this.#engine == null) return undefined
    const r = await this.#engine.embed(model.name, [query], { signal })
    return r.embeddings[0]
  }

  /**
   * Answers a question from cabinet passages, with citations. The work is pinned to this node:
   * asking for a wider privacy level is refused, never downgraded silently.
   */
  async ask (names: string[], question: string, options: { topK?: number, model?: string, mode?: 'auto' | AnswerMode, caller?: string | null, privacy?: PrivacyLevel, signal?: AbortSignal } = {}): Promise<AskResult> {
    const privacy = pinPrivate(options.privacy ?? 'private', names.map(n => `cabinet:${n}`).join(', '))
    const found = await this.search(names, question, { topK: options.topK ?? 5, caller: options.caller, signal: options.signal })
    const result = await answerFromSources({
      engine: this.#engine,
      question,
      sources: this.sourcesFor(found.hits),
      model: options.model,
      mode: options.mode ?? 'auto',
      privacy,
      signal: options.signal
    })
    for (const name of names) {
      this.#open.get(name)?.store.appendAudit({ action: 'ask', caller: options.caller ?? null, query: question, resultCount: result.citations.length, detail: { mode: result.mode, model: result.model } })
    }
    return { ...result, privacy }
  }

  /** The full text of each hit's chunk, for quoting or for the model. */
  sourcesFor (hits: CabinetHit[]): Source[] {
    const texts = new Map<string, string>()
    for (const name of new Set(hits.map(h => h.cabinet))) {
      const ids = hits.filter(h => h.cabinet === name).map(h => h.chunkId)
      for (const c of this.#get(name).store.getChunksByIds(ids)) texts.set(`${name}:${c.chunkId}`, c.text)
    }
    return hits.map(h => ({ cabinet: h.cabinet, documentPath: h.documentPath, title: h.title, chunkId: h.chunkId, score: h.score, snippet: h.snippet, text: texts.get(`${h.cabinet}:${h.chunkId}`) ?? h.snippet }))
  }

  /** Locks everything (node shutdown). */
  async stop (): Promise<void> {
    for (const { controller } of this.#jobs.values()) controller.abort()
    const pending = [...this.#open.values()].map(o => o.embedding).filter(p => p != null)
    for (const name of [...this.#open.keys()]) this.lock(name)
    await Promise.allSettled(pending)
  }

  #requireEngine (): InferenceEngine {
    if (this.#engine == null) throw new PlexusError('PLX_ERR_BAD_REQUEST', ['This needs the inference engine; start the node first'])
    return this.#engine
  }

  #requireExists (name: string): void {
    if (!CABINET_NAME_RE.test(name) || !this.exists(name)) throw new PlexusError('PLX_ERR_CABINET_NOT_FOUND', [name])
  }

  #get (name: string): OpenCabinet {
    this.#requireExists(name)
    const open = this.#open.get(name)
    if (open == null) throw new PlexusError('PLX_ERR_CABINET_LOCKED', [name])
    return open
  }

  /** One cabinet's state: locked or not, file size, and its statistics while unlocked. */
  summary (name: string): CabinetSummary {
    this.#requireExists(name)
    const open = this.#open.get(name)
    return { name, locked: open == null, fileBytes: statSync(cabinetPaths(this.#init.dir, name).cabinet).size, stats: open?.store.stats() ?? null }
  }

  #adopt (name: string, store: CabinetStore): void {
    const open: OpenCabinet = { store, lastUsed: Date.now(), timer: null, embedding: null }
    this.#open.set(name, open)
    this.#touch(name, open)
    this.#log.info({ cabinet: name }, 'cabinet unlocked')
  }

  /** Marks use and re-arms the auto-lock timer. */
  #touch (name: string, open: OpenCabinet): void {
    open.lastUsed = Date.now()
    if (this.#init.autoLockMs <= 0) return
    if (open.timer != null) clearTimeout(open.timer)
    open.timer = setTimeout(() => {
      const busy = [...this.#jobs.values()].some(j => j.job.cabinet === name && j.job.state === 'running')
      if (busy || open.embedding != null) { this.#touch(name, open); return }
      this.#log.info({ cabinet: name }, 'auto-locking idle cabinet')
      this.lock(name)
    }, this.#init.autoLockMs)
    open.timer.unref()
  }

  /** Embeds chunks that have no vector yet, in the background, batch by batch. */
  #resumeEmbedding (name: string): void {
    const open = this.#open.get(name)
    if (open == null || open.embedding != null || this.#engine == null) return
    const model = open.store.embeddingModel()
    if (model == null) return
    const engine = this.#engine
    open.embedding = (async () => {
      try {
        while (this.#open.get(name) === open) {
          const batch = open.store.chunksMissingVectors(EMBED_BATCH)
          if (batch.length === 0) break
          const r = await engine.embed(model.name, batch.map(c => c.text))
          if (this.#open.get(name) !== open) break
          open.store.putVectors(batch.map((c, i) => ({ chunkId: c.chunkId, vector: r.embeddings[i]! })), { modelSha256: model.sha256 })
        }
      } catch (err) {
        this.#log.warn({ cabinet: name, err: describeError(err) }, 'background embedding stopped')
      } finally {
        open.embedding = null
      }
    })()
  }
}

const UPLOAD_ERRORS: Record<IngestErrorCode, 'PLX_ERR_CABINET_FILE_UNSUPPORTED' | 'PLX_ERR_CABINET_FILE_CORRUPT' | 'PLX_ERR_CABINET_FILE_TOO_LARGE' | 'PLX_ERR_CABINET_FILE_ENCRYPTED'> = {
  unsupported: 'PLX_ERR_CABINET_FILE_UNSUPPORTED',
  corrupt: 'PLX_ERR_CABINET_FILE_CORRUPT',
  too_large: 'PLX_ERR_CABINET_FILE_TOO_LARGE',
  encrypted: 'PLX_ERR_CABINET_FILE_ENCRYPTED'
}

/** Absolute paths to ingest; a missing one is a bad request. */
function existingRoots (paths: string[]): string[] {
  const roots = paths.map(p => resolve(p))
  for (const r of roots) if (!existsSync(r)) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`${r} does not exist`], { param: 'paths' })
  return roots
}

/** The cabinets folder inside a data directory. */
export function cabinetsDir (dataDir: string): string {
  return join(dataDir, 'cabinets')
}
