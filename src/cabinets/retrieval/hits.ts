/**
 * Turns ranked chunk ids into hits: joins each chunk to the documents that hold its content
 * (identical files share chunks, so one chunk can yield several hits) and applies the metadata
 * filters. Works through the ranking in batches and stops once it has enough hits.
 *
 * @packageDocumentation
 */

import type { Database } from 'better-sqlite3'
import { filterCondition, type SearchFilters } from './filters.js'
import type { RankedChunk } from './lexical.js'
import type { SearchHit } from './search.js'

/** A hit before its snippet is made (it still carries the chunk text). */
export interface HitRow extends Omit<SearchHit, 'snippet'> {
  text: string
}

/**
 * Ranked chunks resolved per round trip: at first as many as hits wanted (without filters, every
 * chunk gives at least one hit, and each one resolved reads its text), then four times more per
 * round, up to this many, while filters drop hits.
 */
const RESOLVE_BATCH = 256

/** The first `limit` hits of a chunk ranking, in ranking order (documents of one chunk by path). */
export function resolveHits (db: Database, ranked: readonly RankedChunk[], limit: number, filters?: SearchFilters): HitRow[] {
  const cond = filterCondition(filters)
  const stmt = db.prepare(`
    SELECT c.id AS chunkId, c.ordinal, c.heading, c.text,
           d.id AS documentId, d.path AS documentPath, d.title, d.mime
    FROM chunks c JOIN documents d ON d.content_id = c.content_id
    WHERE c.id IN (SELECT value FROM json_each(?)) AND ${cond.sql}
    ORDER BY d.path`)
  const hits: HitRow[] = []
  let size = Math.min(Math.max(limit, 1), RESOLVE_BATCH)
  for (let offset = 0; offset < ranked.length && hits.length < limit; offset += size, size = Math.min(size * 4, RESOLVE_BATCH)) {
    const batch = ranked.slice(offset, offset + size)
    const byChunk = new Map<number, Array<Omit<HitRow, 'score'>>>()
    for (const row of stmt.all(JSON.stringify(batch.map(r => r.chunkId)), ...cond.params) as Array<Omit<HitRow, 'score'>>) {
      const list = byChunk.get(row.chunkId) ?? []
      list.push(row)
      byChunk.set(row.chunkId, list)
    }
    for (const r of batch) {
      for (const row of byChunk.get(r.chunkId) ?? []) {
        if (hits.length >= limit) break
        hits.push({ ...row, score: r.score })
      }
    }
  }
  return hits
}
