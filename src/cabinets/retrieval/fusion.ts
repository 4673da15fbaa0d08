/**
 * Reciprocal rank fusion: Cormack, Clarke & Büttcher, "Reciprocal Rank Fusion outperforms Condorcet
 * and individual Rank Learning Methods", SIGIR 2009. Each list contributes 1 / (k + rank) for every
 * item it holds (ranks from 1); items are ordered by the sum. Only ranks matter, so BM25 scores and
 * cosine similarities need no calibration against each other.
 *
 * @packageDocumentation
 */

import { RRF_K } from '../constants.js'

/** An item of a ranked list, identified by `key` across lists. */
export interface Keyed<T> {
  key: string
  item: T
}

/** A fused item: its RRF score and its rank in each input list (null where absent). */
export interface Fused<T> extends Keyed<T> {
  score: number
  ranks: Array<number | null>
}

/**
 * Fuses ranked lists (best first). The item kept for a key is the one from the first list holding
 * it. Ties are broken by the best single rank, then by key, so the order is deterministic.
 */
export function reciprocalRankFusion<T> (lists: ReadonlyArray<ReadonlyArray<Keyed<T>>>, k: number = RRF_K): Array<Fused<T>> {
  const fused = new Map<string, Fused<T>>()
  lists.forEach((list, listIndex) => {
    list.forEach((entry, index) => {
      const rank = index + 1
      let f = fused.get(entry.key)
      if (f == null) {
        f = { key: entry.key, item: entry.item, score: 0, ranks: lists.map(() => null) }
        fused.set(entry.key, f)
      }
      // A key repeated within one list counts once, at its best rank.
      if (f.ranks[listIndex] != null) return
      f.ranks[listIndex] = rank
      f.score += 1 / (k + rank)
    })
  })
  const bestRank = (f: Fused<T>): number => Math.min(...f.ranks.map(r => r ?? Infinity))
  return [...fused.values()].sort((a, b) => b.score - a.score || bestRank(a) - bestRank(b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}
