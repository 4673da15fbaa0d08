/**
 * Cabinet search: lexical (BM25), vector (KNN) or hybrid (reciprocal rank fusion of both), with
 * metadata filters and snippets. Falls back to lexical when the cabinet has no embedding model or
 * the caller sent no query vector, and says so in the result.
 *
 * @packageDocumentation
 */

import type { Database } from 'better-sqlite3'
import { z } from 'zod'
import { PlexusError } from '../../errors.js'
import { DEFAULT_TOP_K, FUSION_DEPTH, MAX_QUERY_CHARS, MAX_TOP_K } from '../constants.js'
import { parseInput, type EmbeddingModelInfo } from '../schema.js'
import { bm25Params } from './bm25.js'
import { SearchFiltersSchema } from './filters.js'
import { reciprocalRankFusion } from './fusion.js'
import { resolveHits, type HitRow } from './hits.js'
import { lexicalRank } from './lexical.js'
import { makeSnippet } from './snippet.js'
import { queryTerms, type TokenizerOptions } from './tokenizer.js'
import { vectorRank } from './vector.js'

export type SearchMode = 'lexical' | 'vector' | 'hybrid'

/** What a search accepts. */
export const SearchRequestSchema = z.object({
  /** The user's text. Treated as words only: no query syntax is interpreted. */
  query: z.string().max(MAX_QUERY_CHARS),
  /** Hits wanted, 1 to {@link MAX_TOP_K}; default {@link DEFAULT_TOP_K}. */
  topK: z.number().int().min(1).max(MAX_TOP_K).default(DEFAULT_TOP_K),
  /** Default `hybrid`, which degrades to `lexical` without embeddings. */
  mode: z.enum(['lexical', 'vector', 'hybrid']).default('hybrid'),
  /** The query embedded with the cabinet's embedding model (needed for `vector` and `hybrid`). */
  queryVector: z.union([z.instanceof(Float32Array), z.array(z.number())]).optional(),
  filters: SearchFiltersSchema.optional(),
  /** BM25 parameters; defaults k1 = 1.2, b = 0.75. */
  bm25: z.object({ k1: z.number().optional(), b: z.number().optional() }).optional(),
  /** Drop English stop words from the query (default true). */
  removeStopWords: z.boolean().default(true)
})
export type SearchRequest = z.input<typeof SearchRequestSchema>

/** One search hit. `score` is BM25 (lexical), cosine similarity (vector) or the RRF sum (hybrid). */
export interface SearchHit {
  documentId: number
  documentPath: string
  title: string | null
  mime: string
  chunkId: number
  ordinal: number
  heading: string | null
  score: number
  /** About 200 characters of plain text around the best match. */
  snippet: string
}

/** Why a search ran in another mode than asked. */
export type SearchFallback = 'no-embedding-model' | 'no-query-vector'

export interface SearchResult {
  /** The mode that actually ran. */
  mode: SearchMode
  requestedMode: SearchMode
  /** Set when `mode` differs from `requestedMode`. */
  fallbackReason: SearchFallback | null
  /** The query terms searched for (after tokenizing, stemming, stop words). */
  terms: string[]
  hits: SearchHit[]
}

/** What search needs from the store. */
export interface SearchContext {
  db: Database
  tokenizer: TokenizerOptions
  embeddingModel: EmbeddingModelInfo | null
}

/** Runs a search; invalid requests throw PLX_ERR_BAD_REQUEST or PLX_ERR_CABINET_VECTOR_DIMS. */
export function search (ctx: SearchContext, request: SearchRequest): SearchResult {
  const req = parseInput(SearchRequestSchema, request)
  const params = bm25Params(req.bm25)
  const terms = queryTerms(req.query, { ...ctx.tokenizer, removeStopWords: req.removeStopWords })

  let mode: SearchMode = req.mode
  let fallbackReason: SearchFallback | null = null
  if (mode !== 'lexical' && ctx.embeddingModel == null) {
    mode = 'lexical'
    fallbackReason = 'no-embedding-model'
  } else if (mode !== 'lexical' && req.queryVector == null) {
    mode = 'lexical'
    fallbackReason = 'no-query-vector'
  }

  const lexical = (limit: number): HitRow[] => resolveHits(ctx.db, lexicalRank(ctx.db, terms, params), limit, req.filters)
  const vector = (limit: number): HitRow[] => {
    const query = checkVector(req.queryVector!, ctx.embeddingModel!)
    return resolveHits(ctx.db, vectorRank(ctx.db, query, limit, req.filters), limit, req.filters)
  }

  let rows: HitRow[]
  if (mode === 'lexical') rows = lexical(req.topK)
  else if (mode === 'vector') rows = vector(req.topK)
  else {
    const depth = Math.max(FUSION_DEPTH, req.topK)
    const key = (h: HitRow): string => `${h.documentId}:${h.chunkId}`
    const fused = reciprocalRankFusion([lexical(depth), vector(depth)].map(list => list.map(item => ({ key: key(item), item }))))
    rows = fused.slice(0, req.topK).map(f => ({ ...f.item, score: f.score }))
  }

  const termSet = new Set(terms)
  const hits = rows.map(({ text, ...row }) => ({ ...row, snippet: makeSnippet(text, termSet, ctx.tokenizer) }))
  return { mode, requestedMode: req.mode, fallbackReason, terms, hits }
}

/**
 * Checks a vector against the embedding model: right length, finite, not all zeros (cosine is
 * undefined there). Returns it as a Float32Array. Throws PLX_ERR_CABINET_VECTOR_DIMS.
 */
export function checkVector (vector: Float32Array | readonly number[], model: EmbeddingModelInfo): Float32Array {
  if (vector.length !== model.dims) throw new PlexusError('PLX_ERR_CABINET_VECTOR_DIMS', [`it has ${vector.length} dimensions`, model.dims])
  const out = vector instanceof Float32Array ? vector : Float32Array.from(vector)
  let norm = 0
  for (const x of out) {
    if (!Number.isFinite(x)) throw new PlexusError('PLX_ERR_CABINET_VECTOR_DIMS', ['it holds a non-finite value', model.dims])
    norm += x * x
  }
  if (norm === 0) throw new PlexusError('PLX_ERR_CABINET_VECTOR_DIMS', ['it is all zeros', model.dims])
  return out
}
