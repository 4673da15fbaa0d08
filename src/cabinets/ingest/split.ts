/**
 * Cuts section text into "atoms", the pieces the chunker packs: whole paragraphs where they fit
 * the budget, else their sentences, else their words, else runs of grapheme clusters (so an
 * emoji or an accented letter is never cut in half). Each atom remembers the whitespace that
 * separated it from the one before, so packing atoms back together restores the text.
 */

/** A piece of text small enough to pack. */
export interface Atom {
  text: string
  tokens: number
  /** Put between the previous atom and this one: `\n\n` (paragraph), `\n`, ` ` or `` (CJK, punctuation). */
  sep: string
}

/** Counts tokens in a string. */
export type TokenCounter = (text: string) => number

// A fixed locale keeps the output the same on every machine; ICU's rules hardly vary by locale.
const SENTENCES = new Intl.Segmenter('en', { granularity: 'sentence' })
const WORDS = new Intl.Segmenter('en', { granularity: 'word' })
const GRAPHEMES = new Intl.Segmenter('en', { granularity: 'grapheme' })

/** The separator that stands for a run of whitespace. */
function sepOf (whitespace: string): string {
  if (whitespace === '') return ''
  return whitespace.includes('\n') ? '\n' : ' '
}

/** Segments of `text` trimmed, each with the separator that preceded it. */
export function segments (text: string, segmenter: Intl.Segmenter): Array<{ text: string, sep: string }> {
  const out: Array<{ text: string, sep: string }> = []
  let pending = ''
  for (const { segment } of segmenter.segment(text)) {
    const core = segment.trim()
    if (core === '') {
      pending += segment
      continue
    }
    const lead = segment.slice(0, segment.length - segment.trimStart().length)
    out.push({ text: core, sep: sepOf(pending + lead) })
    pending = segment.slice(segment.trimEnd().length)
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

/** Levels tried in turn for a piece that is over budget; after the last comes the grapheme split. */
const LEVELS = [SENTENCES, WORDS]

function pushFitting (out: Atom[], text: string, sep: string, level: number, budget: number, count: TokenCounter): void {
  const tokens = count(text)
  if (tokens <= budget) {
    out.push({ text, tokens, sep })
    return
  }
  const segmenter = LEVELS[level]
  if (segmenter === undefined) {
    splitGraphemes(out, text, sep, budget, count)
    return
  }
  const parts = segments(text, segmenter)
  if (parts.length <= 1) {
    pushFitting(out, text, sep, level + 1, budget, count)
    return
  }
  parts.forEach((part, i) => { pushFitting(out, part.text, i === 0 ? sep : part.sep, level + 1, budget, count) })
}

/**
 * Cut a run with no word boundary (a URL, base64, a long CJK word) into the longest grapheme
 * prefixes that fit, found by galloping then binary search so the cost stays near linear.
 */
function splitGraphemes (out: Atom[], text: string, sep: string, budget: number, count: TokenCounter): void {
  const graphemes = Array.from(GRAPHEMES.segment(text), s => s.segment)
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
  return segments(text, WORDS).map(part => ({ text: part.text, tokens: count(part.text), sep: part.sep }))
}
