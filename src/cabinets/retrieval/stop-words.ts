/**
 * English stop words: Lucene's `EnglishAnalyzer.ENGLISH_STOP_WORDS_SET` (33 words). A short list on
 * purpose: BM25's IDF already discounts common words, so the list only drops words that carry no
 * topic at all. Stop words are removed from queries only; the index keeps every word, so the option
 * can be switched per query without re-indexing.
 *
 * @packageDocumentation
 */

export const ENGLISH_STOP_WORDS: ReadonlySet<string> = new Set([
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'for', 'if', 'in', 'into', 'is', 'it', 'no',
  'not', 'of', 'on', 'or', 'such', 'that', 'the', 'their', 'then', 'there', 'these', 'they', 'this',
  'to', 'was', 'will', 'with'
])
