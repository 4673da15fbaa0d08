/**
 * Lexical ranking: every chunk holding at least one query term, scored with BM25 (see `bm25.ts`).
 *
 * Candidates and term frequencies come straight from FTS5's postings through the `fts5vocab`
 * tables (`chunk_fts_terms`: term → number of chunks; `chunk_fts_postings`: one row per occurrence),
 * looked up with the term as a bound parameter. User text therefore never reaches an FTS5 query
 * string, so FTS5 syntax in it (`"foo" OR bar*`, `NEAR(`, `col:`) is just words.
 *
 * @packageDocumentation
 */

import type { Database } from 'better-sqlite3'
import { idf, termScore, type Bm25Params, type CollectionStats } from './bm25.js'

/** A chunk with its score, best first in a ranking. */
export interface RankedChunk {
  chunkId: number
  score: number
}

/** N and avgdl over all chunks. */
export function collectionStats (db: Database): CollectionStats {
  const row = db.prepare('SELECT count(*) AS n, coalesce(avg(term_count), 0) AS avg FROM chunks').get() as { n: number, avg: number }
  return { chunkCount: row.n, avgLength: row.avg }
}

/**
 * Ranks all chunks containing any of `terms` (already tokenized, distinct) by BM25, best first;
 * ties go to the older chunk so results are deterministic.
 */
export function lexicalRank (db: Database, terms: readonly string[], params: Bm25Params): RankedChunk[] {
  if (terms.length === 0) return []
  const stats = collectionStats(db)
  if (stats.chunkCount === 0) return []
  const docFreq = db.prepare('SELECT doc FROM chunk_fts_terms WHERE term = ?').pluck()
  const postings = db.prepare('SELECT doc AS id, count(*) AS tf FROM chunk_fts_postings WHERE term = ? GROUP BY doc')

  const perTerm: Array<{ idf: number, tf: Map<number, number> }> = []
  const candidates = new Set<number>()
  for (const term of terms) {
    const df = docFreq.get(term) as number | undefined
    if (df == null || df === 0) continue
    const tf = new Map<number, number>()
    for (const row of postings.iterate(term) as Iterable<{ id: number, tf: number }>) {
      tf.set(row.id, row.tf)
      candidates.add(row.id)
    }
    perTerm.push({ idf: idf(df, stats.chunkCount), tf })
  }
  if (candidates.size === 0) return []

  const lengths = db.prepare('SELECT id, term_count AS len FROM chunks WHERE id IN (SELECT value FROM json_each(?))')
  const ranked: RankedChunk[] = []
  for (const row of lengths.iterate(JSON.stringify([...candidates])) as Iterable<{ id: number, len: number }>) {
    let score = 0
    for (const t of perTerm) score += termScore(t.idf, t.tf.get(row.id) ?? 0, row.len, stats, params)
    ranked.push({ chunkId: row.id, score })
  }
  return ranked.sort((a, b) => b.score - a.score || a.chunkId - b.chunkId)
}
