/**
 * Snippets: the part of a chunk's text where the query terms are densest, about
 * {@link SNIPPET_CHARS} characters, as plain text (whitespace collapsed, control characters removed,
 * `…` where text was cut). No markup is added: callers render or escape it as their medium needs.
 *
 * @packageDocumentation
 */

import { SNIPPET_CHARS } from '../constants.js'
import { tokenize, type Token, type TokenizerOptions } from './tokenizer.js'

// Everything from C0/C1 controls and Unicode whitespace collapses to one space.
const SPACE_RE = /[\s\p{Cc}]+/gu

/**
 * The best window of `text` for `terms` (tokenizer terms): the one holding the most distinct terms,
 * then the most occurrences. Without any match, the start of the text.
 */
export function makeSnippet (text: string, terms: ReadonlySet<string>, tokenizer: TokenizerOptions, maxChars: number = SNIPPET_CHARS): string {
  if (text.length <= maxChars) return clean(text, false, false)
  const matches = terms.size === 0 ? [] : tokenize(text, tokenizer).filter(t => terms.has(t.term))
  const [spanStart, spanEnd] = bestSpan(matches, maxChars) ?? [0, 0]

  // Centre the span in the window, keeping the window inside the text.
  const slack = Math.max(0, maxChars - (spanEnd - spanStart))
  let start = Math.max(0, Math.min(spanStart - Math.floor(slack / 2), text.length - maxChars))
  let end = Math.min(text.length, start + maxChars)
  // Snap to word boundaries without cutting into the span.
  if (start > 0) {
    const space = text.slice(start, spanStart).search(/\s/)
    if (space >= 0) start += space + 1
  }
  if (end < text.length) {
    const tail = text.slice(Math.max(spanEnd, start), end)
    const space = tail.search(/\s\S*$/)
    if (space > 0) end = Math.max(spanEnd, start) + space
  }
  // Never split a surrogate pair.
  if (isLowSurrogate(text.charCodeAt(start))) start++
  if (end < text.length && isLowSurrogate(text.charCodeAt(end))) end--
  return clean(text.slice(start, end), start > 0, end < text.length)
}

function bestSpan (matches: Token[], maxChars: number): [number, number] | null {
  let best: { distinct: number, count: number, i: number, j: number } | null = null
  for (let i = 0, j = 0; i < matches.length; i++) {
    if (j < i) j = i
    while (j + 1 < matches.length && matches[j + 1]!.end - matches[i]!.start <= maxChars) j++
    const window = matches.slice(i, j + 1)
    const distinct = new Set(window.map(t => t.term)).size
    if (best == null || distinct > best.distinct || (distinct === best.distinct && window.length > best.count)) {
      best = { distinct, count: window.length, i, j }
    }
  }
  return best == null ? null : [matches[best.i]!.start, matches[best.j]!.end]
}

function isLowSurrogate (code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff
}

function clean (text: string, cutStart: boolean, cutEnd: boolean): string {
  const body = text.replace(SPACE_RE, ' ').trim()
  return `${cutStart ? '…' : ''}${body}${cutEnd ? '…' : ''}`
}
