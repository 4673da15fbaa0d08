/**
 * Okapi BM25 (Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond",
 * Foundations and Trends in IR 3(4), 2009), with tunable k1 and b. FTS5's built-in `bm25()` fixes
 * k1 = 1.2 and b = 0.75, so the score is computed here from FTS5's postings and our own statistics.
 *
 * For a query Q and chunk D:
 *
 *   score(D, Q) = Σ_{t ∈ Q} idf(t) · tf(t, D) · (k1 + 1) / (tf(t, D) + k1 · (1 − b + b · |D| / avgdl))
 *   idf(t)      = ln(1 + (N − n(t) + 0.5) / (n(t) + 0.5))
 *
 * where N is the number of chunks, n(t) the number containing t, |D| the chunk's length in terms and
 * avgdl the mean length. This idf (Lucene's) is never negative, unlike the classic Robertson–Spärck
 * Jones weight, so a term in more than half the chunks still counts a little instead of penalising.
 * Each distinct query term counts once.
 *
 * @packageDocumentation
 */

import { DEFAULT_BM25, MAX_BM25_K1 } from '../constants.js'
import { PlexusError } from '../../errors.js'

/** BM25 free parameters. */
export interface Bm25Params {
  /** Term-frequency saturation, 0 (binary) to {@link MAX_BM25_K1}. Default 1.2. */
  k1: number
  /** Length normalisation, 0 (none) to 1 (full). Default 0.75. */
  b: number
}

/** Collection statistics BM25 needs. */
export interface CollectionStats {
  /** Number of chunks (N). */
  chunkCount: number
  /** Mean chunk length in terms (avgdl). */
  avgLength: number
}

/** Validates and completes BM25 parameters; out-of-range values are a PLX_ERR_BAD_REQUEST. */
export function bm25Params (given: Partial<Bm25Params> = {}): Bm25Params {
  const k1 = given.k1 ?? DEFAULT_BM25.k1
  const b = given.b ?? DEFAULT_BM25.b
  if (!Number.isFinite(k1) || k1 < 0 || k1 > MAX_BM25_K1) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`bm25.k1 must be between 0 and ${MAX_BM25_K1}`], { param: 'bm25.k1' })
  if (!Number.isFinite(b) || b < 0 || b > 1) throw new PlexusError('PLX_ERR_BAD_REQUEST', ['bm25.b must be between 0 and 1'], { param: 'bm25.b' })
  return { k1, b }
}

/** Inverse document frequency of a term found in `docFreq` of `chunkCount` chunks. */
export function idf (docFreq: number, chunkCount: number): number {
  return Math.log(1 + (chunkCount - docFreq + 0.5) / (docFreq + 0.5))
}

/** One term's contribution to a chunk's score. */
export function termScore (termIdf: number, tf: number, length: number, stats: CollectionStats, params: Bm25Params): number {
  if (tf <= 0) return 0
  const norm = stats.avgLength > 0 ? length / stats.avgLength : 1
  return termIdf * tf * (params.k1 + 1) / (tf + params.k1 * (1 - params.b + params.b * norm))
}
