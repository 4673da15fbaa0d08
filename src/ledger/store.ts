/**
 * The ledger's SQLite file: schema, opening, and the Merkle `HashStore` backed by it.
 *
 * Crash safety comes from SQLite: WAL journal, and every append (the entry, its leaf hash and the
 * tree nodes it completes) in one transaction, so a process killed at any instant leaves either
 * all of an append or none of it. `synchronous = NORMAL` keeps commits cheap; before a tree head is
 * signed the WAL is synced (see `LedgerLog.signHead`), so a head never covers entries a power loss
 * could take back.
 *
 * @packageDocumentation
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3-multiple-ciphers'
import type { Database as Db, Statement } from 'better-sqlite3'
import { PlexusError } from '../errors.js'
import { nodeHash, type HashStore } from './merkle.js'

export type { Db }

export const SCHEMA_VERSION = 2
/** How long a writer waits for another connection's lock before failing. */
const BUSY_TIMEOUT_MS = 5000

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
  idx INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  data TEXT NOT NULL,
  leaf_hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heads (
  seq INTEGER PRIMARY KEY,
  size INTEGER NOT NULL,
  root TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  signature TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_heads (
  signer TEXT NOT NULL,
  size INTEGER NOT NULL,
  root TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  signature TEXT NOT NULL,
  status TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (signer, size, root)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS equivocations (
  seq INTEGER PRIMARY KEY,
  signer TEXT NOT NULL,
  evidence TEXT NOT NULL,
  detected_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS equivocations_signer ON equivocations (signer);
`

/** Opens (creating if needed) a ledger file and checks its schema version. */
export function openLedgerDb (file: string): Db {
  let db: Db
  try {
    mkdirSync(dirname(file), { recursive: true })
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS }) as unknown as Db
  } catch (err) {
    throw new PlexusError('PLX_ERR_LEDGER_STORE', [file, (err as Error).message], { cause: err })
  }
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.exec(SCHEMA)
    const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get() as string | undefined
    if (version == null) db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(String(SCHEMA_VERSION))
    else if (version === '1') upgradeFromVersion1(db)
    else if (version !== String(SCHEMA_VERSION)) throw new PlexusError('PLX_ERR_LEDGER_CORRUPT', [file, `schema version ${version}, this Plexus reads ${SCHEMA_VERSION}`])
    return db
  } catch (err) {
    db.close()
    if (err instanceof PlexusError) throw err
    const code = (err as { code?: string }).code === 'SQLITE_NOTADB' || (err as { code?: string }).code === 'SQLITE_CORRUPT' ? 'PLX_ERR_LEDGER_CORRUPT' : 'PLX_ERR_LEDGER_STORE'
    throw new PlexusError(code, [file, (err as Error).message], { cause: err })
  }
}

/** Version 1 stored every tree level; version 2 keeps levels from FIRST_STORED_LEVEL up. */
function upgradeFromVersion1 (db: Db): void {
  db.transaction(() => {
    db.prepare('DELETE FROM nodes WHERE level < ?').run(FIRST_STORED_LEVEL)
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(String(SCHEMA_VERSION))
  })()
}

export function getMeta (db: Db, key: string): string | null {
  return (db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined) ?? null
}

export function setMeta (db: Db, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value)
}

export function deleteMeta (db: Db, key: string): void {
  db.prepare('DELETE FROM meta WHERE key = ?').run(key)
}

/**
 * The lowest tree level kept in `nodes`. Nodes below it (spanning at most 2^3 = 8 leaves) are
 * not stored: `get` folds them from the leaf hashes (one range read of ≤ 8 rows), which saves
 * seven in eight of the inserts an append would otherwise make, at the price of a few hashes per
 * proof.
 */
export const FIRST_STORED_LEVEL = 4

/**
 * Tree hashes in the ledger file: level 0 is `entries.leaf_hash` (written with the entry, so
 * `put` at level 0 has nothing to do), levels from FIRST_STORED_LEVEL up are rows of `nodes`,
 * and the levels between are computed from the leaves when asked for.
 */
export class SqliteHashStore implements HashStore {
  readonly #leaf: Statement
  readonly #leaves: Statement
  readonly #node: Statement
  readonly #insert: Statement

  constructor (db: Db) {
    this.#leaf = db.prepare('SELECT leaf_hash FROM entries WHERE idx = ?').pluck()
    this.#leaves = db.prepare('SELECT leaf_hash FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx').pluck()
    this.#node = db.prepare('SELECT hash FROM nodes WHERE level = ? AND idx = ?').pluck()
    this.#insert = db.prepare('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)')
  }

  get (level: number, index: number): Uint8Array {
    if (level > 0 && level < FIRST_STORED_LEVEL) return this.#fold(level, index)
    const h = (level === 0 ? this.#leaf.get(index) : this.#node.get(level, index)) as Buffer | undefined
    if (h == null || h.length !== 32) throw new RangeError(`the ledger has no hash at level ${level} index ${index}`)
    return new Uint8Array(h.buffer, h.byteOffset, h.length)
  }

  put (level: number, index: number, hash: Uint8Array): void {
    if (level < FIRST_STORED_LEVEL) return
    this.#insert.run(level, index, hash)
  }

  /** The hash of complete subtree `index` at `level`, from its 2^level leaf hashes. */
  #fold (level: number, index: number): Uint8Array {
    const span = 2 ** level
    let hashes = this.#leaves.all(index * span, (index + 1) * span) as Uint8Array[]
    if (hashes.length !== span || hashes.some(h => h.length !== 32)) throw new RangeError(`the ledger has no hash at level ${level} index ${index}`)
    while (hashes.length > 1) {
      const up: Uint8Array[] = []
      for (let i = 0; i < hashes.length; i += 2) up.push(nodeHash(hashes[i]!, hashes[i + 1]!))
      hashes = up
    }
    return hashes[0]!
  }
}
