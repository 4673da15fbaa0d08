/**
 * Lexical ranking: every chunk holding at least one query term, scored with BM25 (see `bm25.ts`).
 *
 * Candidates and term frequencies come straight from FTS5's postings through the `fts5vocab`
 * tables (`chunk_fts_terms`: term → number of chunks; `chunk_fts_postings`: one row per occurrence),
 * looked up with the term as a bound parameter. User text therefore never reaches an FTS5 query
 * string, so FTS5 syntax in it (`"foo" OR bar*`, `NEAR(`, `col:`) is just words. Chunk lengths and
 * N / avgdl come from a per-connection cache (`chunk-lengths.ts`), not from a scan per query.
 *
 * @packageDocumentation
 */

import type { Database } from 'better-sqlite3'
import { idf, termScore, type Bm25Params, type CollectionStats } from './bm25.js'
import { chunkLengths } from './chunk-lengths.js'

/** A chunk with its score, best first in a ranking. */
export interface RankedChunk {
  chunkId: number
  score: number
}

/** N and avgdl over all chunks. */
export function collectionStats (db: Database): CollectionStats {
  return chunkLengths(db).stats
}

/**
 * Ranks all chunks containing any of `terms` (already tokenized, distinct) by BM25, best first;
 * ties go to the older chunk so results are deterministic.
 */
export function lexicalRank (db: Database, terms: readonly string[], params: Bm25Params): RankedChunk[] {
  if (terms.length === 0) return []
  const lengths = chunkLengths(db)
  const stats = lengths.stats
  if (stats.chunkCount === 0) return []
  const docFreq = db.prepare('SELECT doc FROM chunk_fts_terms WHERE term = ?').pluck()
  // One row per occurrence, counted here: a GROUP BY would cost SQLite a sort.
  const occurrences = db.prepare('SELECT doc FROM chunk_fts_postings WHERE term = ?').pluck()

  // Each term adds its part to the scores of the chunks holding it, in query order (so the sums
  // are the same as adding every term's part, zeros included, chunk by chunk).
  const scores = new Map<number, number>()
  for (const term of terms) {
    const df = docFreq.get(term) as number | undefined
    if (df == null || df === 0) continue
    const termIdf = idf(df, stats.chunkCount)
    for (const [id, tf] of termFrequencies(occurrences.all(term) as number[])) {
      const length = lengths.length(id)
      if (length == null) continue // deleted meanwhile
      scores.set(id, (scores.get(id) ?? 0) + termScore(termIdf, tf, length, stats, params))
    }
  }
  const ranked: RankedChunk[] = []
  for (const [chunkId, score] of scores) ranked.push({ chunkId, score })
  return ranked.sort((a, b) => b.score - a.score || a.chunkId - b.chunkId)
}

/**
 * Occurrences per chunk from a term's postings. FTS5 lists them chunk by chunk in rowid order, so
 * runs are counted; that order is checked, not assumed, and counted with a map if it ever differs.
 */
function termFrequencies (ids: readonly number[]): Iterable<[number, number]> {
  let sorted = true
  for (let i = 1; i < ids.length && sorted; i++) sorted = ids[i - 1]! <= ids[i]!
  if (!sorted) {
    const tf = new Map<number, number>()
    for (const id of ids) tf.set(id, (tf.get(id) ?? 0) + 1)
    return tf
  }
  const runs: Array<[number, number]> = []
  for (let i = 0; i < ids.length;) {
    let j = i + 1
    while (j < ids.length && ids[j] === ids[i]) j++
    runs.push([ids[i]!, j - i])
    i = j
  }
  return runs
}
