/**
 * The one tokenizer of cabinet search. Chunks are tokenized here at ingest and the resulting terms
 * are what the FTS5 index stores (joined by spaces, under FTS5's trivial `ascii` tokenizer); queries
 * are tokenized here too. Index, query and BM25 statistics therefore agree on every term by
 * construction.
 *
 * Steps: split on anything that is not a letter, digit or combining mark (Unicode-aware, like FTS5's
 * `unicode61`), NFKC-normalise and lowercase, optionally strip diacritics (`café` → `cafe`), and
 * optionally Porter-stem lowercase ASCII words (`running` → `run`). Stop words are a query option.
 *
 * Scripts written without spaces (Chinese, Japanese, Thai, Lao, Khmer) are indexed as overlapping
 * character pairs (`cjkBigrams`, on for new cabinets), as Lucene's CJK analyzer does, so a query
 * finds any part of a run of two or more characters. Cabinets created before it give one token
 * per run of letters (as `unicode61`) until re-indexed.
 *
 * @packageDocumentation
 */

import { MAX_QUERY_TERMS } from '../constants.js'
import { porterStem } from './porter.js'
import { ENGLISH_STOP_WORDS } from './stop-words.js'

/** Index-time settings, fixed when a cabinet is created (changing them needs a re-index). */
export interface TokenizerOptions {
  /** Porter-stem lowercase ASCII words. */
  stemming: boolean
  /** Fold accented letters to their base letter. */
  removeDiacritics: boolean
  /**
   * Index runs of Chinese, Japanese, Thai, Lao or Khmer characters (written without spaces) as
   * overlapping pairs of characters, so that any part of a run of two or more can be found.
   */
  cjkBigrams: boolean
}

/** Defaults for new cabinets: stemming, diacritic folding and CJK bigrams on, as most searchers expect. */
export const DEFAULT_TOKENIZER: Readonly<TokenizerOptions> = Object.freeze({ stemming: true, removeDiacritics: true, cjkBigrams: true })

/** A token with its place in the original text (UTF-16 offsets, `end` exclusive). */
export interface Token {
  /** The indexed form: normalised and, with stemming, stemmed. */
  term: string
  /** The normalised form before stemming (used for stop-word tests). */
  norm: string
  start: number
  end: number
}

const WORD_RE = /[\p{L}\p{N}\p{M}]+/gu
// NFKC can turn one word into several (`⑴` → `(1)`); split again so terms never hold separators.
const NON_WORD_RE = /[^\p{L}\p{N}\p{M}]+/u
const MARKS_RE = /\p{M}+/gu
const ASCII_WORD_RE = /^[a-z]+$/

/** Tokenizes text; every returned `term` is non-empty and free of separators. */
export function tokenize (text: string, options: TokenizerOptions): Token[] {
  const tokens: Token[] = []
  // One look at the whole text, so text without those scripts pays nothing per word.
  const cjk = options.cjkBigrams && CJK_ANY_RE.test(text)
  for (const match of text.matchAll(WORD_RE)) {
    const start = match.index
    const end = start + match[0].length
    let word = match[0].normalize('NFKC').toLowerCase()
    if (options.removeDiacritics) word = word.normalize('NFD').replace(MARKS_RE, '').normalize('NFC')
    for (const norm of word.split(NON_WORD_RE)) {
      if (norm === '') continue
      for (const part of cjk ? splitCjk(norm) : [{ text: norm, cjk: false }]) {
        if (part.cjk) {
          for (const pair of bigrams(part.text)) tokens.push({ term: pair, norm: pair, start, end })
          continue
        }
        const term = options.stemming && ASCII_WORD_RE.test(part.text) ? porterStem(part.text) : part.text
        tokens.push({ term, norm: part.text, start, end })
      }
    }
  }
  return tokens
}

/** Scripts written without spaces between words. */
const CJK_CHAR = '[\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\p{Script=Thai}\\p{Script=Lao}\\p{Script=Khmer}]'
const CJK_RUN_RE = new RegExp(`${CJK_CHAR}+`, 'gu')
const CJK_ANY_RE = new RegExp(CJK_CHAR, 'u')

/** A word cut into its runs of spaceless scripts and the rest, in order. */
function splitCjk (word: string): Array<{ text: string, cjk: boolean }> {
  const parts: Array<{ text: string, cjk: boolean }> = []
  let at = 0
  for (const m of word.matchAll(CJK_RUN_RE)) {
    if (m.index > at) parts.push({ text: word.slice(at, m.index), cjk: false })
    parts.push({ text: m[0], cjk: true })
    at = m.index + m[0].length
  }
  if (at < word.length) parts.push({ text: word.slice(at), cjk: false })
  return parts
}

/** Overlapping pairs of characters (code points); a run of one is itself. */
function bigrams (run: string): string[] {
  const chars = Array.from(run)
  if (chars.length < 2) return chars
  const out: string[] = []
  for (let i = 0; i + 1 < chars.length; i++) out.push(chars[i]! + chars[i + 1]!)
  return out
}

/** The terms of a chunk as stored in the index, in order (duplicates kept: they are the term frequencies). */
export function indexTerms (text: string, options: TokenizerOptions): string[] {
  return tokenize(text, options).map(t => t.term)
}

/** Query-time options. */
export interface QueryTermOptions extends TokenizerOptions {
  /** Drop English stop words, unless the query has nothing else. */
  removeStopWords: boolean
}

/**
 * The distinct terms of a query, in first-seen order, at most {@link MAX_QUERY_TERMS}. When every
 * word is a stop word ("to be or not to be") they are kept, so such a query still finds something.
 */
export function queryTerms (text: string, options: QueryTermOptions): string[] {
  const tokens = tokenize(text, options)
  const kept = options.removeStopWords ? tokens.filter(t => !ENGLISH_STOP_WORDS.has(t.norm)) : tokens
  const chosen = kept.length > 0 ? kept : tokens
  return [...new Set(chosen.map(t => t.term))].slice(0, MAX_QUERY_TERMS)
}
