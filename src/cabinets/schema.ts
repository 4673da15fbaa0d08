/**
 * The cabinet's SQL schema (versioned through the `meta` table) and the validation of what callers
 * hand the store.
 *
 * Tables: `documents` (one row per ingested file, `path` unique) point at `contents` (one row per
 * distinct sha256, so identical files are stored once), which own `chunks`. `chunk_fts` is a
 * contentless FTS5 index (rowid = chunk id) over the tokenizer's terms: the chunk text itself lives
 * only in `chunks`, and `contentless_delete=1` lets the store delete index rows exactly. Two
 * `fts5vocab` tables expose its postings for BM25. `chunk_vectors` (sqlite-vec vec0, rowid = chunk
 * id) exists once an embedding model is set. `audit` records who asked what (queries as keyed
 * hashes, never text).
 *
 * @packageDocumentation
 */

import { randomBytes, randomUUID } from 'node:crypto'
import type { Database } from 'better-sqlite3'
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import { MAX_AUDIT_DETAIL_CHARS, MAX_CHUNKS_PER_DOCUMENT, MAX_EMBEDDING_DIMS } from './constants.js'
import type { TokenizerOptions } from './retrieval/tokenizer.js'

/** Version of the schema below; stored as meta `schema_version`. */
export const SCHEMA_VERSION = 1

const SCHEMA_V1 = `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

CREATE TABLE contents (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  sha256      TEXT NOT NULL UNIQUE,
  chunk_count INTEGER NOT NULL,
  created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE documents (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  path        TEXT NOT NULL UNIQUE,
  title       TEXT,
  mime        TEXT NOT NULL,
  mtime       INTEGER NOT NULL,
  size        INTEGER NOT NULL,
  sha256      TEXT NOT NULL,
  content_id  INTEGER NOT NULL REFERENCES contents(id),
  ingested_at INTEGER NOT NULL
) STRICT;
CREATE INDEX documents_content ON documents(content_id);

CREATE TABLE chunks (
  -- AUTOINCREMENT: ids are never reused, so a vector computed for a chunk that was deleted
  -- meanwhile can never land on a new chunk (the same holds for document ids in hits).
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  content_id  INTEGER NOT NULL REFERENCES contents(id),
  ordinal     INTEGER NOT NULL,
  heading     TEXT,
  text        TEXT NOT NULL,
  token_count INTEGER NOT NULL,
  -- Length in index terms, |D| of BM25 (token_count is the chunker's LLM token count).
  term_count  INTEGER NOT NULL,
  has_vector  INTEGER NOT NULL DEFAULT 0,
  UNIQUE (content_id, ordinal)
) STRICT;
CREATE INDEX chunks_missing_vector ON chunks(id) WHERE has_vector = 0;

CREATE VIRTUAL TABLE chunk_fts USING fts5(terms, content='', contentless_delete=1, tokenize='ascii');
CREATE VIRTUAL TABLE chunk_fts_terms USING fts5vocab(chunk_fts, 'row');
CREATE VIRTUAL TABLE chunk_fts_postings USING fts5vocab(chunk_fts, 'instance');

CREATE TABLE audit (
  id           INTEGER PRIMARY KEY,
  at           INTEGER NOT NULL,
  action       TEXT NOT NULL,
  caller       TEXT,
  query_hash   TEXT,
  result_count INTEGER,
  detail       TEXT
) STRICT;
`

/** Meta keys. */
export const META = {
  schemaVersion: 'schema_version',
  cabinetId: 'cabinet_id',
  createdAt: 'created_at',
  tokenizer: 'tokenizer',
  embeddingModel: 'embedding_model',
  auditKey: 'audit_key'
} as const

/** Reads a meta value, or null. */
export function getMeta (db: Database, key: string): string | null {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined
  return row?.value ?? null
}

/** Writes a meta value. */
export function setMeta (db: Database, key: string, value: string): void {
  db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value)
}

/**
 * Creates the schema in a new cabinet, or checks an existing one's version. Runs in one
 * transaction, so a crash while creating leaves an empty file that is created again on retry.
 */
export function migrate (db: Database, label: string, init: { tokenizer: TokenizerOptions, now: number }): void {
  db.transaction(() => {
    const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() != null
    if (!hasMeta) {
      db.exec(SCHEMA_V1)
      setMeta(db, META.schemaVersion, String(SCHEMA_VERSION))
      setMeta(db, META.cabinetId, randomUUID())
      setMeta(db, META.createdAt, String(init.now))
      setMeta(db, META.tokenizer, JSON.stringify(init.tokenizer))
      setMeta(db, META.auditKey, randomBytes(32).toString('hex'))
      return
    }
    const version = Number(getMeta(db, META.schemaVersion))
    if (!Number.isInteger(version) || version < 1) throw new PlexusError('PLX_ERR_CABINET_CORRUPT', [label, 'its schema version is missing'])
    if (version > SCHEMA_VERSION) throw new PlexusError('PLX_ERR_CABINET_VERSION', [label, version, SCHEMA_VERSION])
    // Future versions: apply MIGRATIONS[version] … MIGRATIONS[SCHEMA_VERSION - 1] here.
  }).immediate()
}

/** DDL of the vector table for `dims`-dimensional embeddings, compared by cosine distance. */
export function vectorTableSql (dims: number): string {
  if (!Number.isInteger(dims) || dims < 1 || dims > MAX_EMBEDDING_DIMS) throw new RangeError(`bad dimensions ${dims}`)
  return `CREATE VIRTUAL TABLE chunk_vectors USING vec0(embedding float[${dims}] distance_metric=cosine)`
}

// cjkBigrams came later: a cabinet whose settings lack it was indexed without.
const TokenizerSchema = z.object({ stemming: z.boolean(), removeDiacritics: z.boolean(), cjkBigrams: z.boolean().default(false) })

/** The cabinet's tokenizer settings from meta. */
export function readTokenizer (db: Database, label: string): TokenizerOptions {
  const parsed = TokenizerSchema.safeParse(JSON.parse(getMeta(db, META.tokenizer) ?? 'null'))
  if (!parsed.success) throw new PlexusError('PLX_ERR_CABINET_CORRUPT', [label, 'its tokenizer settings are unreadable'])
  return parsed.data
}

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits')

/** The embedding model a cabinet's vectors come from. */
export const EmbeddingModelSchema = z.object({
  name: z.string().min(1).max(256),
  sha256: sha256Hex,
  dims: z.number().int().min(1).max(MAX_EMBEDDING_DIMS)
})
export type EmbeddingModelInfo = z.output<typeof EmbeddingModelSchema>

/** One chunk handed to {@link DocumentInputSchema}. */
export const ChunkInputSchema = z.object({
  heading: z.string().max(1000).nullable().default(null),
  text: z.string(),
  /** The chunker's token count (for LLM context budgeting). */
  tokenCount: z.number().int().min(0)
})

/** What `upsertDocument` accepts. `mtime` is milliseconds since the epoch. */
export const DocumentInputSchema = z.object({
  path: z.string().min(1).max(4096),
  title: z.string().max(1000).nullable().default(null),
  mime: z.string().min(1).max(255),
  mtime: z.number().int().min(0),
  size: z.number().int().min(0),
  sha256: sha256Hex,
  chunks: z.array(ChunkInputSchema).max(MAX_CHUNKS_PER_DOCUMENT)
})
export type DocumentInput = z.input<typeof DocumentInputSchema>
export type ChunkInput = z.input<typeof ChunkInputSchema>

/** What `appendAudit` accepts; `query` is stored only as a keyed hash. */
export const AuditInputSchema = z.object({
  action: z.string().min(1).max(64),
  caller: z.string().max(256).nullable().default(null),
  query: z.string().nullable().default(null),
  resultCount: z.number().int().min(0).nullable().default(null),
  detail: z.unknown().optional()
})
export type AuditInput = z.input<typeof AuditInputSchema>

/** Parses input with a schema; failures become PLX_ERR_BAD_REQUEST naming the field. */
export function parseInput<T extends z.ZodType> (schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  const param = issue?.path.join('.') ?? ''
  throw new PlexusError('PLX_ERR_BAD_REQUEST', [`${param === '' ? 'input' : param}: ${issue?.message ?? 'invalid'}`], param === '' ? {} : { param })
}

/** Serialises audit detail as JSON, bounded by {@link MAX_AUDIT_DETAIL_CHARS}. */
export function auditDetail (detail: unknown): string | null {
  if (detail === undefined || detail === null) return null
  const text = JSON.stringify(detail) as string | undefined
  if (text === undefined) return null
  if (text.length > MAX_AUDIT_DETAIL_CHARS) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`audit detail is longer than ${MAX_AUDIT_DETAIL_CHARS} characters`], { param: 'detail' })
  return text
}

/** A document as stored. Times are ms since the epoch. */
export interface DocumentInfo {
  id: number
  path: string
  title: string | null
  mime: string
  mtime: number
  size: number
  sha256: string
  contentId: number
  chunkCount: number
  ingestedAt: number
}

/** A stored chunk. */
export interface ChunkInfo {
  chunkId: number
  contentId: number
  ordinal: number
  heading: string | null
  text: string
  tokenCount: number
}

/** What {@link CabinetStore.upsertDocument} did. */
export interface UpsertResult {
  documentId: number
  contentId: number
  chunkCount: number
  /** False when the path already held this sha256 (only metadata was refreshed). */
  changed: boolean
  /** True when the content was already stored (same sha256 elsewhere or unchanged): no chunks were written. */
  reusedContent: boolean
}

/** A chunk waiting for its embedding. */
export interface PendingChunk {
  chunkId: number
  heading: string | null
  text: string
}

/** One audit entry; `queryHash` is an HMAC-SHA256 of the query under a per-cabinet key. */
export interface AuditEntry {
  id: number
  at: number
  action: string
  caller: string | null
  queryHash: string | null
  resultCount: number | null
  detail: unknown
}

/** Counts and settings of a cabinet. */
export interface CabinetStats {
  name: string
  cabinetId: string
  schemaVersion: number
  createdAt: number
  documents: number
  /** Distinct contents (identical documents count once). */
  contents: number
  chunks: number
  /** Chunks with a vector. */
  vectors: number
  /** Chunks still to embed (0 without an embedding model). */
  chunksMissingVectors: number
  embeddingModel: EmbeddingModelInfo | null
  tokenizer: TokenizerOptions
  lastIngestedAt: number | null
  /** Bytes on disk: the cabinet file plus its WAL. */
  fileBytes: number
}

/** What `checkIntegrity` found: `ok` when `problems` is empty. */
export interface IntegrityReport {
  ok: boolean
  problems: string[]
}

/** Columns of {@link DocumentInfo}, over `documents d JOIN contents c`. */
export const DOCUMENT_SELECT = `SELECT d.id, d.path, d.title, d.mime, d.mtime, d.size, d.sha256, d.content_id AS contentId,
  c.chunk_count AS chunkCount, d.ingested_at AS ingestedAt FROM documents d JOIN contents c ON c.id = d.content_id`

/** Columns of {@link ChunkInfo}. */
export const CHUNK_SELECT = 'SELECT id AS chunkId, content_id AS contentId, ordinal, heading, text, token_count AS tokenCount FROM chunks'
