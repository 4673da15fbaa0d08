/**
 * CabinetStore: one encrypted SQLite file per cabinet (`<dir>/<name>.cabinet`) holding documents,
 * chunks, the FTS5 index, sqlite-vec vectors and the audit log, with the data key kept wrapped in
 * `<dir>/<name>.keyring.json`.
 *
 * Encryption is SQLCipher 4's scheme (AES-256-CBC per page with an HMAC-SHA512 per page) through
 * better-sqlite3-multiple-ciphers, keyed with the raw 32-byte data key, so no second KDF runs and the
 * file opens in stock SQLCipher with `PRAGMA key = "x'<hex>'"`. The WAL holds encrypted pages too,
 * and temporary tables stay in memory: nothing readable reaches the disk. Because every page is
 * authenticated, a changed byte is caught before SQLite parses the page, and surfaces as
 * PLX_ERR_CABINET_CORRUPT instead of misbehaviour.
 *
 * Everything here is synchronous (better-sqlite3 is) except unlocking, whose scrypt runs off the
 * event loop. Every write is one transaction, so a crash at any point leaves the cabinet as it was
 * before or after the write.
 *
 * @packageDocumentation
 */

import { createHmac } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3-multiple-ciphers'
import type { Database as Db } from 'better-sqlite3'
import * as sqliteVec from 'sqlite-vec'
import { releaseClaim, takeClaim } from '../claim.js'
import { PlexusError, isPlexusError } from '../errors.js'
import { forComponent, type Logger } from '../logger.js'
import { BUSY_TIMEOUT_MS, CABINET_FILE_SUFFIX, CABINET_NAME_RE, KEYRING_FILE_SUFFIX, MAX_AUDIT_LIST, PAGE_CACHE_KIB, type ScryptParams } from './constants.js'
import { zeroize } from './crypto.js'
import { changeKeyringPassphrase, createKeyring, unlockKeyring } from './keyring.js'
import {
  AuditInputSchema, CHUNK_SELECT, DOCUMENT_SELECT, DocumentInputSchema, EmbeddingModelSchema, META, SCHEMA_VERSION, auditDetail, getMeta,
  migrate, parseInput, readTokenizer, setMeta, vectorTableSql, type AuditEntry, type AuditInput, type CabinetStats, type ChunkInfo,
  type DocumentInfo, type DocumentInput, type EmbeddingModelInfo, type IntegrityReport, type PendingChunk, type UpsertResult
} from './schema.js'
import { checkVector, search, type SearchRequest, type SearchResult } from './retrieval/search.js'
import { DEFAULT_TOKENIZER, indexTerms, type TokenizerOptions } from './retrieval/tokenizer.js'

export type {
  DocumentInput, ChunkInput, AuditInput, EmbeddingModelInfo, DocumentInfo, ChunkInfo, UpsertResult, PendingChunk, AuditEntry,
  CabinetStats, IntegrityReport
} from './schema.js'
export type { SearchRequest, SearchResult, SearchHit, SearchMode } from './retrieval/search.js'
export type { SearchFilters } from './retrieval/filters.js'
export type { TokenizerOptions } from './retrieval/tokenizer.js'

/** Options of {@link CabinetStore.create} and {@link CabinetStore.open}. */
export interface CabinetStoreOptions {
  /** scrypt parameters for new keyrings (create, passphrase change). Default: N=2^17, r=8, p=1. */
  kdf?: ScryptParams
  /** Tokenizer of a new cabinet (ignored by open: the cabinet's own settings apply). */
  tokenizer?: Partial<TokenizerOptions>
  /**
   * SQLite `synchronous` level. FULL (the default) fsyncs the WAL at every commit, so a document
   * reported as ingested and an audit entry reported as written survive a power cut; NORMAL is
   * equally crash-consistent but may lose the last commits on power loss, for faster bulk ingest.
   */
  synchronous?: 'FULL' | 'NORMAL'
  logger?: Logger
  /** Clock in ms since the epoch, for tests. */
  now?: () => number
}

/** A create in progress: `<name>.cabinet.creating`, a claim file (claim.ts). */
const CLAIM_SUFFIX = '.creating'
/** A claim older than this belongs to a create that was cut off (the KDF takes seconds). */
const MAX_CREATE_MS = 10 * 60_000

function claimPath (paths: { cabinet: string }): string {
  return paths.cabinet + CLAIM_SUFFIX
}

function removeCabinetFiles (paths: { cabinet: string, keyring: string }): void {
  for (const file of [paths.cabinet, `${paths.cabinet}-wal`, `${paths.cabinet}-shm`, paths.keyring, claimPath(paths)]) rmSync(file, { force: true })
}

/** Takes the claim on a cabinet name, clearing what a cut-off create left; PLX_ERR_CABINET_EXISTS while another create runs. */
function claimCreation (paths: { cabinet: string, keyring: string }, name: string): void {
  let taken: boolean
  try {
    taken = takeClaim(claimPath(paths), { maxAgeMs: MAX_CREATE_MS, onStale: () => { removeCabinetFiles(paths) } })
  } catch (err) {
    throw new PlexusError('PLX_ERR_CABINET_IO', [name, (err as Error).message], { cause: err })
  }
  if (!taken) throw new PlexusError('PLX_ERR_CABINET_EXISTS', [name])
}

/** File names of a cabinet. */
export function cabinetPaths (dir: string, name: string): { cabinet: string, keyring: string } {
  checkName(name)
  return { cabinet: join(dir, name + CABINET_FILE_SUFFIX), keyring: join(dir, name + KEYRING_FILE_SUFFIX) }
}

function checkName (name: string): void {
  if (!CABINET_NAME_RE.test(name)) {
    throw new PlexusError('PLX_ERR_BAD_REQUEST', ['A cabinet name is 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit'], { param: 'name' })
  }
}

// Interpolated into a PRAGMA, so checked even though the type already says so.
function checkSynchronous (value: unknown): void {
  if (value != null && value !== 'FULL' && value !== 'NORMAL') throw new PlexusError('PLX_ERR_BAD_REQUEST', ['synchronous must be FULL or NORMAL'], { param: 'synchronous' })
}

/** SQLite's integrity messages reported at most (a damaged file can produce thousands). */
const MAX_INTEGRITY_PROBLEMS = 20

const CORRUPT_MESSAGES = ['file is not a database', 'database disk image is malformed']

/**
 * Maps SQLite failures to Plexus errors: SQLITE_NOTADB / SQLITE_CORRUPT* (a page failed its HMAC, or
 * the file is not a cabinet) → CORRUPT; SQLITE_BUSY / LOCKED → BUSY; I/O, full disk, permissions →
 * IO. Anything else is returned unchanged.
 */
export function translateSqliteError (err: unknown, name: string, opening = false): unknown {
  if (isPlexusError(err) || !(err instanceof Error)) return err
  const code = String((err as { code?: unknown }).code ?? '')
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT') || CORRUPT_MESSAGES.some(m => err.message.includes(m))) {
    // The keyring already proved the passphrase, so a failing first read means the file changed
    // (or, when opening, that the keyring is another cabinet's).
    const why = opening ? 'the file was damaged or replaced, or the keyring belongs to another cabinet' : 'the file was damaged on disk'
    return new PlexusError('PLX_ERR_CABINET_CORRUPT', [name, `${err.message} (${why})`], { cause: err })
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return new PlexusError('PLX_ERR_CABINET_BUSY', [name], { cause: err })
  if (/^SQLITE_(IOERR|FULL|CANTOPEN|READONLY|PERM)/.test(code)) return new PlexusError('PLX_ERR_CABINET_IO', [name, err.message], { cause: err })
  return err
}

/** An unlocked cabinet. Create or open one with the static methods; `close()` locks it again. */
export class CabinetStore {
  readonly name: string
  readonly dir: string
  #db: Db | null
  #tokenizer: TokenizerOptions
  #embedding: EmbeddingModelInfo | null
  readonly #options: CabinetStoreOptions
  readonly #now: () => number
  /** Key of the audit log's query HMAC (stored inside the encrypted cabinet). */
  readonly #auditKey: Buffer

  private constructor (dir: string, name: string, db: Db, options: CabinetStoreOptions) {
    this.dir = dir
    this.name = name
    this.#db = db
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#tokenizer = readTokenizer(db, name)
    const model = getMeta(db, META.embeddingModel)
    this.#embedding = model == null ? null : EmbeddingModelSchema.parse(JSON.parse(model))
    this.#auditKey = Buffer.from(getMeta(db, META.auditKey) ?? '', 'hex')
  }

  /** True when a cabinet of that name exists in `dir` (one still being created, or whose creation was cut off, does not). */
  static exists (dir: string, name: string): boolean {
    const paths = cabinetPaths(dir, name)
    return existsSync(paths.cabinet) && !existsSync(claimPath(paths))
  }

  /**
   * Creates a cabinet: a new random data key wrapped under `passphrase` in the keyring, and an empty
   * encrypted database. Throws PLX_ERR_CABINET_EXISTS when either file exists, PLX_ERR_BAD_REQUEST
   * for a bad name or passphrase. On failure nothing is left behind.
   */
  static async create (dir: string, name: string, passphrase: string, options: CabinetStoreOptions = {}): Promise<CabinetStore> {
    const paths = cabinetPaths(dir, name)
    checkSynchronous(options.synchronous)
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
    } catch (err) {
      throw new PlexusError('PLX_ERR_CABINET_IO', [name, (err as Error).message], { cause: err })
    }
    // Claim the name atomically (O_EXCL) before the slow KDF, so two concurrent creates cannot both
    // win; the claim stays until the cabinet is complete, so a create cut off (a crash, a kill) is
    // recognised and cleaned up by the next create of that name.
    claimCreation(paths, name)
    try {
      if (existsSync(paths.keyring)) throw new PlexusError('PLX_ERR_CABINET_EXISTS', [name])
      // The file SQLite then opens, created here (never over an existing one) so that its mode is 0600 from the start.
      closeSync(openSync(paths.cabinet, 'wx', 0o600))
    } catch (err) {
      releaseClaim(claimPath(paths))
      if (isPlexusError(err)) throw err
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new PlexusError('PLX_ERR_CABINET_EXISTS', [name])
      throw new PlexusError('PLX_ERR_CABINET_IO', [name, (err as Error).message], { cause: err })
    }
    try {
      const dataKey = await createKeyring(paths.keyring, passphrase, { kdf: options.kdf })
      const store = CabinetStore.#unlock(dir, name, dataKey, options, { ...DEFAULT_TOKENIZER, ...options.tokenizer })
      releaseClaim(claimPath(paths))
      return store
    } catch (err) {
      removeCabinetFiles(paths)
      throw err
    }
  }

  /**
   * Unlocks an existing cabinet. Throws PLX_ERR_CABINET_NOT_FOUND, PLX_ERR_CABINET_KEYRING,
   * PLX_ERR_CABINET_PASSPHRASE (wrong passphrase), PLX_ERR_CABINET_CORRUPT (damaged file),
   * PLX_ERR_CABINET_VERSION (newer schema).
   */
  static async open (dir: string, name: string, passphrase: string, options: CabinetStoreOptions = {}): Promise<CabinetStore> {
    const paths = cabinetPaths(dir, name)
    if (!CabinetStore.exists(dir, name)) throw new PlexusError('PLX_ERR_CABINET_NOT_FOUND', [name])
    checkSynchronous(options.synchronous)
    const dataKey = await unlockKeyring(paths.keyring, passphrase, name)
    return CabinetStore.#unlock(dir, name, dataKey, options, null)
  }

  /**
   * Changes a cabinet's passphrase without opening it: re-wraps the same data key (the cabinet file
   * is not touched). Throws PLX_ERR_CABINET_PASSPHRASE when `oldPassphrase` is wrong.
   */
  static async changePassphrase (dir: string, name: string, oldPassphrase: string, newPassphrase: string, options: Pick<CabinetStoreOptions, 'kdf'> = {}): Promise<void> {
    const paths = cabinetPaths(dir, name)
    if (!existsSync(paths.cabinet)) throw new PlexusError('PLX_ERR_CABINET_NOT_FOUND', [name])
    await changeKeyringPassphrase(paths.keyring, oldPassphrase, newPassphrase, name, { kdf: options.kdf })
  }

  /**
   * BENCHMARK BASELINE ONLY: NO ENCRYPTION. Creates a cabinet whose SQLite file is plain (no
   * cipher, no keyring), with everything else (schema, pragmas, write paths, search) exactly as
   * {@link CabinetStore.create} does, so `bench/cabinet-ingest.ts` can measure what encryption
   * costs. Nothing in the node, its API or its CLI calls this, and such a file cannot be opened by
   * {@link CabinetStore.open} (it has no keyring). Never use it for user data.
   */
  static createUnencryptedForBenchmark (dir: string, name: string, options: CabinetStoreOptions = {}): CabinetStore {
    const paths = cabinetPaths(dir, name)
    checkSynchronous(options.synchronous)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    if (existsSync(paths.keyring)) throw new PlexusError('PLX_ERR_CABINET_EXISTS', [name])
    try {
      closeSync(openSync(paths.cabinet, 'wx', 0o600))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new PlexusError('PLX_ERR_CABINET_EXISTS', [name])
      throw err
    }
    try {
      return CabinetStore.#unlock(dir, name, null, options, { ...DEFAULT_TOKENIZER, ...options.tokenizer })
    } catch (err) {
      for (const file of [paths.cabinet, `${paths.cabinet}-wal`, `${paths.cabinet}-shm`]) rmSync(file, { force: true })
      throw err
    }
  }

  /**
   * Opens the database with the data key, which it zeroes whatever happens. A null key (only from
   * {@link CabinetStore.createUnencryptedForBenchmark}) opens it without a cipher.
   */
  static #unlock (dir: string, name: string, dataKey: Buffer | null, options: CabinetStoreOptions, creating: TokenizerOptions | null): CabinetStore {
    const file = cabinetPaths(dir, name).cabinet
    let db: Db | null = null
    try {
      db = new Database(file, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS }) as unknown as Db
      if (dataKey != null) {
        db.pragma("cipher='sqlcipher'")
        db.pragma('legacy=4')
        // "raw:" + 32 bytes bypasses the cipher's own KDF: the data key is already random. A Buffer,
        // unlike a PRAGMA string, can be wiped after use.
        const keyArg = Buffer.concat([Buffer.from('raw:'), dataKey])
        try {
          if ((db as unknown as { key: (k: Buffer) => number }).key(keyArg) !== 0) throw new PlexusError('PLX_ERR_CABINET_IO', [name, 'the key could not be set'])
        } finally {
          zeroize(keyArg)
        }
      }
      // The key is only checked when a page is read: read the schema now to fail early.
      db.prepare('SELECT count(*) FROM sqlite_master').get()
      db.pragma('journal_mode = WAL')
      db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`)
      db.pragma('temp_store = MEMORY')
      // Every page read from disk is decrypted and HMAC-checked; a 64 MiB page cache keeps a
      // 100k-chunk cabinet's vectors decrypted in memory (hybrid p50 106 ms → 31 ms, bench/CABINETS.md).
      // Memory only: nothing of it reaches the disk.
      db.pragma(`cache_size = -${PAGE_CACHE_KIB}`)
      db.pragma('foreign_keys = ON')
      db.pragma('secure_delete = ON')
      sqliteVec.load(db)
      migrate(db, name, { tokenizer: creating ?? DEFAULT_TOKENIZER, now: (options.now ?? Date.now)() })
      const store = new CabinetStore(dir, name, db, options)
      if (options.logger != null) forComponent(options.logger, 'cabinets:store').info({ cabinet: name, created: creating != null }, 'cabinet unlocked')
      return store
    } catch (err) {
      try { db?.close() } catch {}
      throw translateSqliteError(err, name, true)
    } finally {
      if (dataKey != null) zeroize(dataKey)
    }
  }

  /** False once closed (locked). */
  get isOpen (): boolean {
    return this.#db != null
  }

  /** Locks the cabinet: closes the database (checkpointing the WAL into the file), forgetting the key. Idempotent. */
  /**
   * Rebuilds the full-text index with other tokenizer settings (one transaction: all or nothing),
   * and keeps them as the cabinet's. Searches use the new settings from then on. Returns the chunks
   * re-indexed and the settings now in force.
   */
  reindex (changes: Partial<TokenizerOptions>): { chunks: number, tokenizer: TokenizerOptions } {
    const tokenizer: TokenizerOptions = { ...this.#tokenizer, ...changes }
    const done = this.#use(db => db.transaction(() => {
      db.exec("INSERT INTO chunk_fts(chunk_fts) VALUES ('delete-all')")
      const page = db.prepare('SELECT id, text FROM chunks WHERE id > ? ORDER BY id LIMIT 500')
      const insert = db.prepare('INSERT INTO chunk_fts(rowid, terms) VALUES (?, ?)')
      const setLength = db.prepare('UPDATE chunks SET term_count = ? WHERE id = ?')
      let chunks = 0
      let after = 0
      for (;;) {
        const rows = page.all(after) as Array<{ id: number, text: string }>
        if (rows.length === 0) break
        for (const row of rows) {
          const terms = indexTerms(row.text, tokenizer)
          insert.run(row.id, terms.join(' '))
          setLength.run(terms.length, row.id)
        }
        chunks += rows.length
        after = rows.at(-1)!.id
      }
      setMeta(db, META.tokenizer, JSON.stringify(tokenizer))
      return chunks
    }).immediate())
    this.#tokenizer = tokenizer
    return { chunks: done, tokenizer: { ...tokenizer } }
  }

  close (): void {
    const db = this.#db
    this.#db = null
    zeroize(this.#auditKey)
    try { db?.close() } catch (err) { throw translateSqliteError(err, this.name) }
  }

  /** Changes the passphrase of this (open) cabinet; see {@link CabinetStore.changePassphrase}. */
  async changePassphrase (oldPassphrase: string, newPassphrase: string, options: Pick<CabinetStoreOptions, 'kdf'> = {}): Promise<void> {
    this.#use(() => undefined)
    await CabinetStore.changePassphrase(this.dir, this.name, oldPassphrase, newPassphrase, { kdf: options.kdf ?? this.#options.kdf })
  }

  /** Runs `fn` with the open database, translating SQLite errors. */
  #use<T> (fn: (db: Db) => T): T {
    const db = this.#db
    if (db == null) throw new PlexusError('PLX_ERR_CABINET_LOCKED', [this.name])
    try {
      return fn(db)
    } catch (err) {
      throw translateSqliteError(err, this.name)
    }
  }

  /**
   * Runs `fn` in one transaction: every store write inside commits together or not at all (use it
   * to ingest many small documents with one commit).
   */
  batch<T> (fn: () => T): T {
    return this.#use(db => db.transaction(fn).immediate())
  }

  /**
   * Inserts or replaces the document at `input.path`, with its chunks, FTS rows and (later) vectors,
   * in one transaction. When a document with the same sha256 is already stored (this path or
   * another), its content and chunks are reused and no chunk is written. Content no document uses
   * any more is garbage-collected. `signal` is checked between chunks; an abort rolls everything
   * back (PLX_ERR_ABORTED).
   */
  upsertDocument (input: DocumentInput, options: { signal?: AbortSignal } = {}): UpsertResult {
    const doc = parseInput(DocumentInputSchema, input)
    return this.#use(db => db.transaction((): UpsertResult => {
      const now = this.#now()
      const existing = db.prepare('SELECT id, content_id AS contentId, sha256 FROM documents WHERE path = ?').get(doc.path) as { id: number, contentId: number, sha256: string } | undefined
      let content = db.prepare('SELECT id, chunk_count AS chunkCount FROM contents WHERE sha256 = ?').get(doc.sha256) as { id: number, chunkCount: number } | undefined
      const reusedContent = content != null
      if (content == null) {
        const contentId = Number(db.prepare('INSERT INTO contents(sha256, chunk_count, created_at) VALUES (?, ?, ?)').run(doc.sha256, doc.chunks.length, now).lastInsertRowid)
        const insertChunk = db.prepare('INSERT INTO chunks(content_id, ordinal, heading, text, token_count, term_count) VALUES (?, ?, ?, ?, ?, ?)')
        const insertFts = db.prepare('INSERT INTO chunk_fts(rowid, terms) VALUES (?, ?)')
        doc.chunks.forEach((chunk, ordinal) => {
          if (options.signal?.aborted === true) throw new PlexusError('PLX_ERR_ABORTED')
          const terms = indexTerms(chunk.text, this.#tokenizer)
          const chunkId = insertChunk.run(contentId, ordinal, chunk.heading, chunk.text, chunk.tokenCount, terms.length).lastInsertRowid
          insertFts.run(chunkId, terms.join(' '))
        })
        content = { id: contentId, chunkCount: doc.chunks.length }
      }
      const values = [doc.title, doc.mime, doc.mtime, doc.size, doc.sha256, content.id, now]
      let documentId: number
      if (existing != null) {
        db.prepare('UPDATE documents SET title = ?, mime = ?, mtime = ?, size = ?, sha256 = ?, content_id = ?, ingested_at = ? WHERE id = ?').run(...values, existing.id)
        documentId = existing.id
        if (existing.contentId !== content.id) this.#collectContent(db, existing.contentId)
      } else {
        documentId = Number(db.prepare('INSERT INTO documents(title, mime, mtime, size, sha256, content_id, ingested_at, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(...values, doc.path).lastInsertRowid)
      }
      if (options.signal?.aborted === true) throw new PlexusError('PLX_ERR_ABORTED')
      return { documentId, contentId: content.id, chunkCount: content.chunkCount, changed: existing?.sha256 !== doc.sha256, reusedContent }
    }).immediate())
  }

  /** Removes the document at `path` and any content no other document shares. False when there was none. */
  removeDocument (path: string): boolean {
    return this.#use(db => db.transaction((): boolean => {
      const doc = db.prepare('SELECT id, content_id AS contentId FROM documents WHERE path = ?').get(path) as { id: number, contentId: number } | undefined
      if (doc == null) return false
      db.prepare('DELETE FROM documents WHERE id = ?').run(doc.id)
      this.#collectContent(db, doc.contentId)
      return true
    }).immediate())
  }

  /** Deletes a content with its chunks, FTS rows and vectors, unless a document still uses it. */
  #collectContent (db: Db, contentId: number): void {
    if (db.prepare('SELECT 1 FROM documents WHERE content_id = ? LIMIT 1').get(contentId) != null) return
    const ids = db.prepare('SELECT id FROM chunks WHERE content_id = ?').pluck().all(contentId) as number[]
    const deleteFts = db.prepare('DELETE FROM chunk_fts WHERE rowid = ?')
    const deleteVector = this.#embedding == null ? null : db.prepare('DELETE FROM chunk_vectors WHERE rowid = ?')
    for (const id of ids) {
      deleteFts.run(id)
      deleteVector?.run(BigInt(id))
    }
    db.prepare('DELETE FROM chunks WHERE content_id = ?').run(contentId)
    db.prepare('DELETE FROM contents WHERE id = ?').run(contentId)
  }

  /** The document at `path` (for change detection by sha256, mtime and size), or null. */
  getDocumentByPath (path: string): DocumentInfo | null {
    return this.#use(db => (db.prepare(`${DOCUMENT_SELECT} WHERE d.path = ?`).get(path) as DocumentInfo | undefined) ?? null)
  }

  /** Documents ordered by path, optionally under a path prefix and paged. */
  listDocuments (options: { pathPrefix?: string, limit?: number, offset?: number } = {}): DocumentInfo[] {
    const prefix = options.pathPrefix ?? ''
    return this.#use(db => db.prepare(`${DOCUMENT_SELECT} WHERE substr(d.path, 1, length(?)) = ? ORDER BY d.path LIMIT ? OFFSET ?`)
      .all(prefix, prefix, options.limit ?? -1, options.offset ?? 0) as DocumentInfo[])
  }

  /** The chunks of the document at `path`, in order, or null when there is no such document. */
  getChunks (path: string): ChunkInfo[] | null {
    return this.#use(db => {
      const doc = db.prepare('SELECT content_id AS contentId FROM documents WHERE path = ?').get(path) as { contentId: number } | undefined
      return doc == null ? null : db.prepare(`${CHUNK_SELECT} WHERE content_id = ? ORDER BY ordinal`).all(doc.contentId) as ChunkInfo[]
    })
  }

  /** Chunks by id (for example the full text of search hits), in the order asked; unknown ids are skipped. */
  getChunksByIds (chunkIds: readonly number[]): ChunkInfo[] {
    return this.#use(db => {
      const rows = db.prepare(`${CHUNK_SELECT} WHERE id IN (SELECT value FROM json_each(?))`).all(JSON.stringify(chunkIds)) as ChunkInfo[]
      const byId = new Map(rows.map(r => [r.chunkId, r]))
      return chunkIds.flatMap(id => byId.get(id) ?? [])
    })
  }

  /** Searches the cabinet; see `retrieval/search.ts`. */
  search (request: SearchRequest): SearchResult {
    return this.#use(db => search({ db, tokenizer: this.#tokenizer, embeddingModel: this.#embedding }, request))
  }

  /** The embedding model vectors come from, or null. */
  embeddingModel (): EmbeddingModelInfo | null {
    this.#use(() => undefined)
    return this.#embedding
  }

  /**
   * Sets (or with null, removes) the embedding model. A different model (name, sha256 or dims)
   * drops every vector and recreates the vector table with the new dimensions; all chunks are then
   * waiting for embeddings ({@link chunksMissingVectors}). Returns false when nothing changed.
   */
  setEmbeddingModel (model: EmbeddingModelInfo | null): boolean {
    const next = model == null ? null : parseInput(EmbeddingModelSchema, model)
    const current = this.#embedding
    if (next?.name === current?.name && next?.sha256 === current?.sha256 && next?.dims === current?.dims) return false
    this.#use(db => db.transaction(() => {
      db.exec('DROP TABLE IF EXISTS chunk_vectors')
      db.prepare('UPDATE chunks SET has_vector = 0 WHERE has_vector = 1').run()
      if (next == null) {
        db.prepare('DELETE FROM meta WHERE key = ?').run(META.embeddingModel)
      } else {
        db.exec(vectorTableSql(next.dims))
        setMeta(db, META.embeddingModel, JSON.stringify(next))
      }
    }).immediate())
    this.#embedding = next
    return true
  }

  /** Up to `limit` chunks without a vector, oldest first; empty without an embedding model. */
  chunksMissingVectors (limit: number): PendingChunk[] {
    const n = Math.max(0, Math.min(Math.floor(limit), 10_000))
    return this.#use(db => this.#embedding == null
      ? []
      : db.prepare('SELECT id AS chunkId, heading, text FROM chunks WHERE has_vector = 0 ORDER BY id LIMIT ?').all(n) as PendingChunk[])
  }

  /**
   * Stores vectors for chunks (replacing any), in one transaction, and returns how many were
   * written: chunks deleted meanwhile are skipped. Pass `modelSha256` (the model the vectors came
   * from) to refuse them if the cabinet's model changed since (PLX_ERR_CABINET_EMBEDDING_MODEL).
   * Every vector is checked first (PLX_ERR_CABINET_VECTOR_DIMS).
   */
  putVectors (items: ReadonlyArray<{ chunkId: number, vector: Float32Array | readonly number[] }>, options: { modelSha256?: string } = {}): number {
    return this.#use(db => {
      const model = this.#embedding
      if (model == null) throw new PlexusError('PLX_ERR_CABINET_EMBEDDING_MODEL', [this.name, 'no embedding model is set'])
      if (options.modelSha256 != null && options.modelSha256 !== model.sha256) {
        throw new PlexusError('PLX_ERR_CABINET_EMBEDDING_MODEL', [this.name, `the vectors come from model ${options.modelSha256.slice(0, 12)}…, but the cabinet now uses ${model.name}`])
      }
      const checked = items.map(item => ({ id: item.chunkId, vector: checkVector(item.vector, model) }))
      return db.transaction((): number => {
        const exists = db.prepare('SELECT 1 FROM chunks WHERE id = ?')
        const remove = db.prepare('DELETE FROM chunk_vectors WHERE rowid = ?')
        const insert = db.prepare('INSERT INTO chunk_vectors(rowid, embedding) VALUES (?, ?)')
        const mark = db.prepare('UPDATE chunks SET has_vector = 1 WHERE id = ?')
        let written = 0
        for (const { id, vector } of checked) {
          if (!Number.isSafeInteger(id) || exists.get(id) == null) continue
          remove.run(BigInt(id))
          insert.run(BigInt(id), vector)
          mark.run(id)
          written++
        }
        return written
      }).immediate()
    })
  }

  /** Appends an audit entry and returns its id. The query text is stored only as a keyed hash. */
  appendAudit (input: AuditInput): number {
    const entry = parseInput(AuditInputSchema, input)
    const detail = auditDetail(entry.detail)
    return this.#use(db => {
      const queryHash = entry.query == null ? null : createHmac('sha256', this.#auditKey).update(entry.query).digest('hex')
      return Number(db.prepare('INSERT INTO audit(at, action, caller, query_hash, result_count, detail) VALUES (?, ?, ?, ?, ?, ?)')
        .run(this.#now(), entry.action, entry.caller, queryHash, entry.resultCount, detail).lastInsertRowid)
    })
  }

  /** Audit entries, newest first: at most `limit` (default 100, up to 1000), optionally older than `beforeId`. */
  listAudit (options: { limit?: number, beforeId?: number } = {}): AuditEntry[] {
    const limit = Math.max(1, Math.min(Math.floor(options.limit ?? 100), MAX_AUDIT_LIST))
    return this.#use(db => (db.prepare(`SELECT id, at, action, caller, query_hash AS queryHash, result_count AS resultCount, detail
      FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?`).all(options.beforeId ?? Number.MAX_SAFE_INTEGER, limit) as Array<AuditEntry & { detail: string | null }>)
      .map(row => ({ ...row, detail: row.detail == null ? null : JSON.parse(row.detail) as unknown })))
  }

  /** Counts and settings of the cabinet. */
  stats (): CabinetStats {
    return this.#use(db => {
      const count = (sql: string): number => db.prepare(sql).pluck().get() as number
      const fileBytes = [this.#file(), `${this.#file()}-wal`].reduce((sum, f) => sum + (existsSync(f) ? statSync(f).size : 0), 0)
      return {
        name: this.name,
        cabinetId: getMeta(db, META.cabinetId) ?? '',
        schemaVersion: Number(getMeta(db, META.schemaVersion)),
        createdAt: Number(getMeta(db, META.createdAt)),
        documents: count('SELECT count(*) FROM documents'),
        contents: count('SELECT count(*) FROM contents'),
        chunks: count('SELECT count(*) FROM chunks'),
        vectors: count('SELECT count(*) FROM chunks WHERE has_vector = 1'),
        chunksMissingVectors: this.#embedding == null ? 0 : count('SELECT count(*) FROM chunks WHERE has_vector = 0'),
        embeddingModel: this.#embedding,
        tokenizer: { ...this.#tokenizer },
        lastIngestedAt: db.prepare('SELECT max(ingested_at) FROM documents').pluck().get() as number | null,
        fileBytes
      }
    })
  }

  /**
   * Checks the cabinet: SQLite's quick_check (or the slower integrity_check with `full`), which reads
   * every page and so verifies every page's HMAC; FTS5's own integrity check; and the store's
   * invariants (chunk counts, vectors, no orphan content). Damage is reported, not thrown.
   */
  checkIntegrity (options: { full?: boolean } = {}): IntegrityReport {
    return this.#use(db => {
      const problems: string[] = []
      try {
        const rows = db.pragma(`${options.full === true ? 'integrity_check' : 'quick_check'}(${MAX_INTEGRITY_PROBLEMS})`) as Array<Record<string, string>>
        const messages = rows.flatMap(row => String(Object.values(row)[0]).split('\n')).filter(m => m !== 'ok' && !m.startsWith('*** in database'))
        problems.push(...messages.slice(0, MAX_INTEGRITY_PROBLEMS))
        db.exec("INSERT INTO chunk_fts(chunk_fts) VALUES ('integrity-check')")
        const value = (sql: string): number => db.prepare(sql).pluck().get() as number
        const ftsRows = value('SELECT count(*) FROM chunk_fts')
        const chunks = value('SELECT count(*) FROM chunks')
        if (ftsRows !== chunks) problems.push(`the full-text index has ${ftsRows} rows for ${chunks} chunks`)
        const badCounts = value('SELECT count(*) FROM contents c WHERE chunk_count != (SELECT count(*) FROM chunks WHERE content_id = c.id)')
        if (badCounts > 0) problems.push(`${badCounts} contents have a wrong chunk count`)
        const orphans = value('SELECT count(*) FROM contents c WHERE NOT EXISTS (SELECT 1 FROM documents WHERE content_id = c.id)')
        if (orphans > 0) problems.push(`${orphans} contents belong to no document`)
        if (this.#embedding != null) {
          const vectors = value('SELECT count(*) FROM chunk_vectors')
          const marked = value('SELECT count(*) FROM chunks WHERE has_vector = 1')
          if (vectors !== marked) problems.push(`${vectors} vectors stored for ${marked} chunks marked as embedded`)
        }
      } catch (err) {
        const translated = translateSqliteError(err, this.name)
        problems.push(translated instanceof Error ? translated.message : String(translated))
      }
      return { ok: problems.length === 0, problems }
    })
  }

  /** Copies the WAL into the cabinet file and truncates the WAL (as `close()` does). */
  checkpoint (): void {
    this.#use(db => db.pragma('wal_checkpoint(TRUNCATE)'))
  }

  #file (): string {
    return cabinetPaths(this.dir, this.name).cabinet
  }
}

/** The schema version this code writes. */
export { SCHEMA_VERSION }
