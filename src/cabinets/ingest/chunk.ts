/**
 * The chunker: packs each section's text into chunks of at most `maxTokens` tokens for
 * embedding and retrieval.
 *
 * - A chunk never spans two sections, so it has one heading.
 * - The heading is recorded in `heading` and, unless `prefixHeading` is false, also written as
 *   the first line of `text` (`"Heading\n\nbody"`) and counted in `tokenCount`. A chunk is then
 *   self-contained for the embedding model and for the prompt ("Installation" gives meaning to
 *   "run the script"), and `tokenCount` is exactly what gets embedded. Headings longer than a
 *   quarter of `maxTokens` are cut with an ellipsis.
 * - Paragraphs are packed whole while they fit; a longer one is cut at sentence boundaries, a
 *   longer sentence at word boundaries, and a word longer than a chunk between grapheme clusters.
 * - Each chunk after the first in a section starts with the last sentences (or, failing that,
 *   words) of the previous one, up to `overlapTokens`.
 * - The output depends only on the input and options.
 */
import { DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS, MAX_HEADING_TOKEN_FRACTION, MIN_MAX_TOKENS } from './constants.js'
import { splitAtoms, wordAtoms, type Atom, type TokenCounter } from './split.js'
import { estimateTokens } from './tokens.js'
import type { Section } from './types.js'

/** Options for chunkSections. */
export interface ChunkOptions {
  /** Most tokens per chunk, heading prefix included (default 256, at least 16). */
  maxTokens?: number
  /** Tokens repeated from the end of the previous chunk of the same section (default 32, capped at half of maxTokens; at most half when given). */
  overlapTokens?: number
  /** Token counter; defaults to estimateTokens. Pass the embedding model's tokenizer for exact sizes. */
  countTokens?: TokenCounter
  /** Write the heading as the first line of each chunk's text (default true). */
  prefixHeading?: boolean
}

/** One retrieval chunk. */
export interface Chunk {
  /** The heading of the section the chunk comes from. */
  heading: string | null
  /** The text to embed and to quote, starting with the heading unless `prefixHeading` is false. */
  text: string
  /** `countTokens(text)`; at most maxTokens except for a single grapheme cluster larger than a chunk. */
  tokenCount: number
}

interface Settings {
  maxTokens: number
  overlapTokens: number
  count: TokenCounter
  prefixHeading: boolean
}

function settings (options: ChunkOptions): Settings {
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS
  if (!Number.isInteger(maxTokens) || maxTokens < MIN_MAX_TOKENS) {
    throw new RangeError(`maxTokens must be an integer of at least ${MIN_MAX_TOKENS}, not ${maxTokens}`)
  }
  const overlapTokens = options.overlapTokens ?? Math.min(DEFAULT_OVERLAP_TOKENS, Math.floor(maxTokens / 2))
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens > maxTokens / 2) {
    throw new RangeError(`overlapTokens must be an integer from 0 to half of maxTokens (${maxTokens / 2}), not ${overlapTokens}`)
  }
  return { maxTokens, overlapTokens, count: options.countTokens ?? estimateTokens, prefixHeading: options.prefixHeading ?? true }
}

/**
 * Cut sections into chunks of at most `maxTokens` tokens that never cross a heading; see the
 * module comment for the rules. Sections with no text give no chunks.
 *
 * @throws RangeError when maxTokens or overlapTokens is out of range.
 */
export function chunkSections (sections: readonly Section[], options: ChunkOptions = {}): Chunk[] {
  const s = settings(options)
  return sections.flatMap(section => chunkSection(section, s))
}

/** Cut a heading to at most `limit` tokens at a word boundary, marking the cut with an ellipsis. */
function fitHeading (heading: string, limit: number, count: TokenCounter): string {
  if (count(heading) <= limit) return heading
  let fitted = ''
  for (const word of wordAtoms(heading, count)) {
    const next = fitted === '' ? word.text : fitted + word.sep + word.text
    if (count(next + '…') > limit) break
    fitted = next
  }
  return fitted + '…'
}

function render (atoms: readonly Atom[]): string {
  return atoms.map((atom, i) => i === 0 ? atom.text : atom.sep + atom.text).join('')
}

function sum (atoms: readonly Atom[]): number {
  return atoms.reduce((total, atom) => total + atom.tokens, 0)
}

/**
 * The end of a chunk to repeat at the start of the next: the last whole atoms that fit in
 * `limit`, else (when the last atom alone is too big) the last words of it; possibly nothing.
 */
function overlapTail (atoms: readonly Atom[], limit: number, count: TokenCounter, splitWords = true): Atom[] {
  if (limit === 0) return []
  const tail: Atom[] = []
  let tokens = 0
  for (let i = atoms.length - 1; i >= 0; i--) {
    const atom = atoms[i] as Atom
    if (tokens + atom.tokens > limit) {
      if (tail.length === 0 && splitWords) return overlapTail(wordAtoms(atom.text, count), limit, count, false)
      break
    }
    tail.unshift(atom)
    tokens += atom.tokens
  }
  return tail
}

function chunkSection (section: Section, s: Settings): Chunk[] {
  const heading = section.heading
  const prefix = heading !== null && s.prefixHeading
    ? fitHeading(heading, Math.floor(s.maxTokens * MAX_HEADING_TOKEN_FRACTION), s.count) + '\n\n'
    : ''
  const budget = s.maxTokens - (prefix === '' ? 0 : s.count(prefix))
  // Every atom must fit beside a full overlap, so that each chunk adds new text.
  const atoms = splitAtoms(section.text, Math.max(1, budget - s.overlapTokens), s.count)
  const chunks: Chunk[] = []
  let overlap: Atom[] = []
  let i = 0
  while (i < atoms.length) {
    let end = i + 1
    let tokens = sum(overlap) + (atoms[i] as Atom).tokens
    while (end < atoms.length && tokens + (atoms[end] as Atom).tokens <= budget) {
      tokens += (atoms[end] as Atom).tokens
      end++
    }
    // Atom counts are summed; a real tokenizer may count the joined text differently, so check it.
    let body = [...overlap, ...atoms.slice(i, end)]
    let tokenCount = s.count(prefix + render(body))
    while (tokenCount > s.maxTokens && (end - i > 1 || overlap.length > 0)) {
      if (end - i > 1) end--
      else overlap = []
      body = [...overlap, ...atoms.slice(i, end)]
      tokenCount = s.count(prefix + render(body))
    }
    chunks.push({ heading, text: prefix + render(body), tokenCount })
    overlap = overlapTail(body, s.overlapTokens, s.count)
    i = end
  }
  return chunks
}
