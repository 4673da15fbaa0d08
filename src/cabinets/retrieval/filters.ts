/**
 * Metadata filters on search hits, turned into a parameterised SQL condition over the `documents`
 * table (alias `d`). Values are always bound parameters, never spliced into SQL.
 *
 * @packageDocumentation
 */

import { z } from 'zod'

/** Filters a search applies to the documents its hits come from; all given filters must hold. */
export const SearchFiltersSchema = z.object({
  /** Document path starts with this string (exact, case-sensitive). */
  pathPrefix: z.string().min(1).max(4096).optional(),
  /**
   * Document path matches this SQLite GLOB pattern: `*` any characters (including `/`), `?` one
   * character, `[abc]` a set; case-sensitive.
   */
  pathGlob: z.string().min(1).max(4096).optional(),
  /** MIME type equals this one, or one of these. */
  mime: z.union([z.string().min(1).max(255), z.array(z.string().min(1).max(255)).min(1).max(64)]).optional(),
  /** Modified at or after this time (ms since the epoch). */
  mtimeFrom: z.number().int().min(0).optional(),
  /** Modified at or before this time (ms since the epoch). */
  mtimeTo: z.number().int().min(0).optional()
})
export type SearchFilters = z.input<typeof SearchFiltersSchema>

/** A SQL condition and its parameters, in order. */
export interface SqlCondition {
  sql: string
  params: Array<string | number>
}

/** The condition for `filters` over documents aliased `d`; `1` when there are none. */
export function filterCondition (filters: SearchFilters | undefined): SqlCondition {
  const parts: string[] = []
  const params: Array<string | number> = []
  if (filters?.pathPrefix != null) {
    // substr/length count characters on both sides, so this is an exact prefix test with no
    // LIKE/GLOB metacharacters to escape.
    parts.push('substr(d.path, 1, length(?)) = ?')
    params.push(filters.pathPrefix, filters.pathPrefix)
  }
  if (filters?.pathGlob != null) {
    parts.push('d.path GLOB ?')
    params.push(filters.pathGlob)
  }
  if (filters?.mime != null) {
    const mimes = Array.isArray(filters.mime) ? filters.mime : [filters.mime]
    parts.push(`d.mime IN (${mimes.map(() => '?').join(', ')})`)
    params.push(...mimes)
  }
  if (filters?.mtimeFrom != null) {
    parts.push('d.mtime >= ?')
    params.push(filters.mtimeFrom)
  }
  if (filters?.mtimeTo != null) {
    parts.push('d.mtime <= ?')
    params.push(filters.mtimeTo)
  }
  return { sql: parts.length === 0 ? '1' : parts.join(' AND '), params }
}

/** True when no filter is set. */
export function hasFilters (filters: SearchFilters | undefined): boolean {
  return filterCondition(filters).params.length > 0
}
