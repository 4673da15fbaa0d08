/**
 * Chunk lengths for BM25 (`chunks.term_count`, |D|) and the collection statistics derived from
 * them (N, avgdl), cached per database connection.
 *
 * Read from SQL on every search, they cost a scan of the whole `chunks` table (its rows hold the
 * chunk text) plus one row lookup per candidate: at 100,000 chunks, about half a second per query,
 * most of it spent decrypting and authenticating pages. The cache loads them once (the first search
 * after unlocking pays that scan) and then follows changes cheaply. It relies on two properties of
 * the schema: chunk ids come from AUTOINCREMENT, so a committed id is never used again, and a
 * chunk's `term_count` is updated only by a re-index, which changes the cabinet's tokenizer setting
 * (compared on each refresh; a change reloads everything). Hence, since the cache was last brought up to date, chunks
 * can only have been added (all with ids above the largest the cache knows) or deleted (then the
 * count no longer matches), and:
 *
 * - nothing committed anywhere (`PRAGMA data_version` and `total_changes()` unchanged): use it;
 * - otherwise load the rows above the largest known id, and if the count still differs, drop the
 *   ids that are gone (a scan of a small index, not of the table).
 *
 * Inside a transaction the connection may see rows that are later rolled back (whose ids
 * AUTOINCREMENT then hands out again), so there nothing is cached: the statistics are computed from
 * the table as before.
 *
 * @packageDocumentation
 */

import type { Database } from 'better-sqlite3'
import type { CollectionStats } from './bm25.js'

/** Lengths and statistics for one search. */
export interface ChunkLengths {
  stats: CollectionStats
  /** The chunk's length in terms, or null for a chunk that does not exist (any more). */
  length: (chunkId: number) => number | null
}

interface Cache {
  /** term_count by chunk id. */
  lengths: Map<number, number>
  /** Sum of the lengths. */
  total: number
  /** Largest id seen: every chunk added later has a larger one. */
  maxId: number
  /** data_version and total_changes() when the cache was last brought up to date. */
  stamp: string
  /** The tokenizer setting the lengths were counted with. */
  tokenizer: string | null
}

const caches = new WeakMap<Database, Cache>()

/** Chunk lengths and collection statistics, as of now. */
export function chunkLengths (db: Database): ChunkLengths {
  if (db.inTransaction) return view(load(db, ''), db)
  const stamp = changeStamp(db)
  let cache = caches.get(db)
  if (cache == null) {
    cache = load(db, stamp)
    caches.set(db, cache)
  } else if (cache.stamp !== stamp) {
    if (tokenizerSetting(db) !== cache.tokenizer) {
      cache = load(db, stamp)
      caches.set(db, cache)
    } else {
      refresh(db, cache)
      cache.stamp = stamp
    }
  }
  return view(cache, db)
}

/** Changes when this connection writes anything or another one commits. */
function changeStamp (db: Database): string {
  return `${String(db.pragma('data_version', { simple: true }))}:${String(db.prepare('SELECT total_changes()').pluck().get())}`
}

function view (cache: Cache, db: Database): ChunkLengths {
  const lookup = db.prepare('SELECT term_count FROM chunks WHERE id = ?').pluck()
  return {
    stats: { chunkCount: cache.lengths.size, avgLength: cache.lengths.size === 0 ? 0 : cache.total / cache.lengths.size },
    // An unknown id was committed by another connection after the cache was brought up to date
    // (each statement reads its own snapshot): ask the table.
    length: id => cache.lengths.get(id) ?? (lookup.get(id) as number | undefined) ?? null
  }
}

function tokenizerSetting (db: Database): string | null {
  return (db.prepare("SELECT value FROM meta WHERE key = 'tokenizer'").pluck().get() as string | undefined) ?? null
}

function load (db: Database, stamp: string): Cache {
  const cache: Cache = { lengths: new Map(), total: 0, maxId: 0, stamp, tokenizer: tokenizerSetting(db) }
  addRows(cache, db.prepare('SELECT id, term_count FROM chunks').raw().all() as Array<[number, number]>)
  return cache
}

function refresh (db: Database, cache: Cache): void {
  addRows(cache, db.prepare('SELECT id, term_count FROM chunks WHERE id > ?').raw().all(cache.maxId) as Array<[number, number]>)
  const count = db.prepare('SELECT count(*) FROM chunks').pluck().get() as number
  if (count === cache.lengths.size) return
  // Chunks were deleted: keep the lengths of those still there.
  const old = cache.lengths
  cache.lengths = new Map()
  cache.total = 0
  for (const id of db.prepare('SELECT id FROM chunks').pluck().all() as number[]) {
    const length = old.get(id)
    if (length == null) continue // added meanwhile by another connection; the next refresh loads it
    cache.lengths.set(id, length)
    cache.total += length
  }
}

function addRows (cache: Cache, rows: Array<[number, number]>): void {
  for (const [id, length] of rows) {
    cache.total += length - (cache.lengths.get(id) ?? 0)
    cache.lengths.set(id, length)
    if (id > cache.maxId) cache.maxId = id
  }
}
