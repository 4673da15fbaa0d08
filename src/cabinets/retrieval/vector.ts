/**
 * Vector ranking: k-nearest chunks by cosine distance, from sqlite-vec's `vec0` table (an exact,
 * brute-force scan inside SQLite). Filters are pushed into the KNN query as a `rowid IN (…)`
 * constraint, so the k results are k chunks that pass them.
 *
 * @packageDocumentation
 */

import type { Database } from 'better-sqlite3'
import { MAX_VECTOR_K } from '../constants.js'
import { filterCondition, hasFilters, type SearchFilters } from './filters.js'
import type { RankedChunk } from './lexical.js'

/**
 * The `k` chunks nearest to `query`, best first; `score` is the cosine similarity (1 − distance),
 * from −1 to 1.
 */
export function vectorRank (db: Database, query: Float32Array, k: number, filters?: SearchFilters): RankedChunk[] {
  const limit = Math.min(Math.max(1, k), MAX_VECTOR_K)
  let sql = 'SELECT rowid AS id, distance FROM chunk_vectors WHERE embedding MATCH ? AND k = ?'
  const params: unknown[] = [query, limit]
  if (hasFilters(filters)) {
    const cond = filterCondition(filters)
    sql += ` AND rowid IN (SELECT c.id FROM chunks c JOIN documents d ON d.content_id = c.content_id WHERE ${cond.sql})`
    params.push(...cond.params)
  }
  // vec0 allows only `ORDER BY distance`; equal distances are ordered by chunk id below.
  sql += ' ORDER BY distance'
  const rows = db.prepare(sql).all(...params) as Array<{ id: number | bigint, distance: number }>
  return rows
    .map(r => ({ chunkId: Number(r.id), score: 1 - r.distance }))
    .sort((a, b) => b.score - a.score || a.chunkId - b.chunkId)
}
