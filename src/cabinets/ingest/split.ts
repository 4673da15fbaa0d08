/**
 * Cuts section text into "atoms", the pieces the chunker packs: whole paragraphs where they fit
 * the budget, else their sentences (and lines), else their words, else runs of grapheme clusters
 * (so an emoji or an accented letter is never cut in half). Each atom remembers the whitespace
 * that separated it from the one before, so packing atoms back together restores the text.
 *
 * Boundaries come from regular expressions rather than Intl.Segmenter: V8's segmenter takes
 * quadratic time on long strings (a 260,000-character paragraph took 7 s by sentence and 29 s by
 * word on Node 20), and its rules change with the ICU version, which would re-cut every cabinet
 * after a Node upgrade.
 */

/** A piece of text small enough to pack. */
export interface Atom {
  text: string
  tokens: number
  /** Put between the previous atom and this one: `\n\n` (paragraph), `\n`, ` ` or `` (CJK, a cut word). */
  sep: string
}

/** Counts tokens in a string. */
export type TokenCounter = (text: string) => number

/** A sentence ends at . ! ? … (with closing quotes or brackets) before whitespace, after a full-width 。！？, or at a line break. */
const SENTENCE_BREAK = /(?<=[.!?…][\p{Pe}\p{Pf}"']*)[ \t]+(?=\S)|(?<=[。！？])[ \t]*(?=\S)|[ \t]*\n\s*/gu
/** A word is a run of non-space characters, except that each Han or kana character stands alone (CJK has no spaces). */
const WORD = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|[^\s\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]+/gu
/**
 * An approximate extended grapheme cluster (UAX #29): a regional-indicator pair (flag), an emoji
 * ZWJ sequence with modifiers and variation selectors, CR LF, or a character with its combining
 * marks.
 */
const GRAPHEME = /\p{RI}\p{RI}|\p{Extended_Pictographic}[\p{EMod}\uFE0F]*(?:\u200D\p{Extended_Pictographic}[\p{EMod}\uFE0F]*)*|\r\n|[\s\S][\p{M}\u200D\uFE0F]*/gu

/** The separator that stands for a run of whitespace. */
function sepOf (whitespace: string): string {
  if (whitespace === '') return ''
  return whitespace.includes('\n') ? '\n' : ' '
}

/** Pieces of `text` between matches of a separator pattern, each with the separator before it. */
function splitBy (text: string, separator: RegExp): Array<{ text: string, sep: string }> {
  const out: Array<{ text: string, sep: string }> = []
  let from = 0
  let sep = ''
  for (const match of text.matchAll(separator)) {
    const piece = text.slice(from, match.index).trim()
    if (piece !== '') out.push({ text: piece, sep: out.length === 0 ? '' : sep })
    // Zero-width breaks (after 。) carry no whitespace; keep an earlier separator over an empty piece.
    sep = piece === '' && sepOf(match[0]) === '' ? sep : sepOf(match[0])
    from = match.index + match[0].length
  }
  const last = text.slice(from).trim()
  if (last !== '') out.push({ text: last, sep: out.length === 0 ? '' : sep })
  return out
}

/** Words of `text`, each with the whitespace before it (none between CJK characters). */
function splitWords (text: string): Array<{ text: string, sep: string }> {
  const out: Array<{ text: string, sep: string }> = []
  let end = 0
  for (const match of text.matchAll(WORD)) {
    out.push({ text: match[0], sep: out.length === 0 ? '' : sepOf(text.slice(end, match.index)) })
    end = match.index + match[0].length
  }
  return out
}

/** Split text into atoms of at most `budget` tokens (a single grapheme cluster may exceed it). */
export function splitAtoms (text: string, budget: number, count: TokenCounter): Atom[] {
  const atoms: Atom[] = []
  for (const paragraph of text.split(/\n[ \t]*\n/)) {
    const trimmed = paragraph.trim()
    if (trimmed !== '') pushFitting(atoms, trimmed, atoms.length === 0 ? '' : '\n\n', 0, budget, count)
  }
  return atoms
}

/** Splitters tried in turn for a piece over budget; after the last comes the grapheme split. */
const LEVELS: Array<(text: string) => Array<{ text: string, sep: string }>> = [
  text => splitBy(text, SENTENCE_BREAK),
  splitWords
]

function pushFitting (out: Atom[], text: string, sep: string, level: number, budget: number, count: TokenCounter): void {
  const tokens = count(text)
  if (tokens <= budget) {
    out.push({ text, tokens, sep })
    return
  }
  const split = LEVELS[level]
  if (split === undefined) {
    splitGraphemes(out, text, sep, budget, count)
    return
  }
  const parts = split(text)
  if (parts.length <= 1) {
    pushFitting(out, text, sep, level + 1, budget, count)
    return
  }
  parts.forEach((part, i) => { pushFitting(out, part.text, i === 0 ? sep : part.sep, level + 1, budget, count) })
}

/**
 * Cut a run with no word boundary (a URL, base64, a long word in a script without spaces) into
 * the longest grapheme prefixes that fit, found by galloping then binary search so the cost
 * stays near linear.
 */
function splitGraphemes (out: Atom[], text: string, sep: string, budget: number, count: TokenCounter): void {
  const graphemes = text.match(GRAPHEME) ?? []
  const fits = (from: number, to: number): boolean => count(graphemes.slice(from, to).join('')) <= budget
  let start = 0
  while (start < graphemes.length) {
    let good = start + 1
    let step = 1
    while (good + step <= graphemes.length && fits(start, good + step)) {
      good += step
      step *= 2
    }
    let bad = Math.min(good + step, graphemes.length + 1)
    while (bad - good > 1) {
      const mid = Math.floor((good + bad) / 2)
      if (fits(start, mid)) good = mid
      else bad = mid
    }
    const piece = graphemes.slice(start, good).join('')
    out.push({ text: piece, tokens: count(piece), sep: start === 0 ? sep : '' })
    start = good
  }
}

/** Split text into word atoms (for overlap tails); a word is never cut. */
export function wordAtoms (text: string, count: TokenCounter): Atom[] {
  return splitWords(text).map(part => ({ text: part.text, tokens: count(part.text), sep: part.sep }))
}
