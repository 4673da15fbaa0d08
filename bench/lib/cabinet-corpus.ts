/**
 * Deterministic English-like corpus for the cabinet benchmarks (`cabinet-ingest`, `cabinet-query`).
 *
 * Words follow a Zipf law (exponent about 1, as in English text) over a vocabulary of real English
 * words (the frequent end: function words first, then common nouns, verbs and adjectives) followed
 * by a long tail of pronounceable made-up words. Each document also has a handful of topic words
 * drawn from the tail and repeated through it, so rare terms cluster in few documents as they do in
 * real collections. Documents are markdown: `# Title`, `## Section` headings, paragraphs of
 * sentences, some lists and inline emphasis; a share are plain `.txt` files.
 *
 * Everything derives from one seed through a small PRNG (sfc32), so a corpus, a chunk set or a query
 * set is the same on every machine and run. Not a benchmark itself (it is in `bench/`, not
 * `bench/lib/`, only because its owner keeps `bench/lib/` for the inference benchmarks).
 *
 * @packageDocumentation
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): fast, good quality, 128-bit state. */
export class Rng {
  #a: number
  #b: number
  #c: number
  #d: number

  constructor (seed: number) {
    this.#a = 0x9e3779b9
    this.#b = 0x243f6a88
    this.#c = 0xb7e15162
    this.#d = seed >>> 0
    for (let i = 0; i < 15; i++) this.next()
  }

  /** Uniform in [0, 1). */
  next (): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0
    this.#d = (this.#d + 1) | 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) | 0
    this.#c = (this.#c << 21) | (this.#c >>> 11)
    this.#c = (this.#c + t) | 0
    return (t >>> 0) / 4294967296
  }

  /** Integer in [lo, hi]. */
  int (lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1))
  }

  pick<T> (items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!
  }

  /** Standard normal (Box–Muller). */
  gaussian (): number {
    const u = 1 - this.next()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next())
  }
}

// Roughly in order of frequency: function words, then common content words.
const COMMON = `the of and to a in is that for it as was with be by on not he this are or his from at which but have an they
you were had her she there been one all we their has would when if so no will more can who out said some what
its into them only about time other than then also new could any two may these do first such over like after
our most made where through back years between much well before should because each those people very just
state how many must own under while both world last year still being three part take life great since against
work day same another found might general number system right used however place high school during public
without small case both group long children way point government water given form power line often until
house second fact order end set general side social course free development important within large problem
use early family interest later less national whole number city different around possible hand law several
country local help business human information service rather already known area history level process
thought report question light data model value change program result market research table control design
energy method study field theory policy support figure range practice music paper price health rate member
board centre account voice body plan factor source sense record river amount kind office view street
region season market garden letter county nature effect council season station network signal memory
village harbour engine forest island bridge castle valley doctor soldier teacher student library museum
summer winter morning evening silver copper marble timber cotton leather crystal harvest weather journey
measure balance comfort courage freedom justice silence shadow mirror window ladder pocket basket candle
whisper wander gather follow borrow settle travel finish remember consider discover explain prepare
quick quiet heavy bright narrow gentle ancient modern rapid steady simple common strange proper careful
ordinary natural central formal careful patient honest clever golden hollow distant frequent`.split(/\s+/)

const ONSETS = ['b', 'br', 'c', 'ch', 'cl', 'd', 'dr', 'f', 'fl', 'g', 'gr', 'h', 'j', 'k', 'l', 'm', 'n', 'p', 'pl', 'pr', 'qu', 'r', 's', 'sh', 'st', 't', 'th', 'tr', 'v', 'w', 'z']
const NUCLEI = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'io', 'ou', 'y']
const CODAS = ['', '', '', 'n', 'r', 'l', 's', 'st', 'nd', 'ck', 'm', 'x', 'th']
const SUFFIXES = ['', '', '', 'ing', 'ed', 'er', 'tion', 'ness', 'ly', 'ment', 'ic', 'al', 'ous']

/** Vocabulary and Zipf sampler shared by the corpus and the query sets. */
export class Vocabulary {
  /** Words by frequency rank (index 0 is the most frequent). */
  readonly words: readonly string[]
  readonly #cdf: Float64Array

  constructor (size = 40_000, seed = 7, exponent = 1.05) {
    const rng = new Rng(seed)
    const words: string[] = [...new Set(COMMON)]
    const seen = new Set(words)
    while (words.length < size) {
      const syllables = rng.int(2, 4)
      let w = ''
      for (let i = 0; i < syllables; i++) w += rng.pick(ONSETS) + rng.pick(NUCLEI) + (i === syllables - 1 ? rng.pick(CODAS) : '')
      w += rng.pick(SUFFIXES)
      if (!seen.has(w)) { seen.add(w); words.push(w) }
    }
    this.words = words
    this.#cdf = new Float64Array(words.length)
    let sum = 0
    for (let r = 0; r < words.length; r++) { sum += 1 / (r + 1) ** exponent; this.#cdf[r] = sum }
    for (let r = 0; r < words.length; r++) this.#cdf[r]! /= sum
  }

  /** A frequency rank drawn from the Zipf law. */
  rank (rng: Rng): number {
    const u = rng.next()
    let lo = 0
    let hi = this.#cdf.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.#cdf[mid]! < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  word (rng: Rng): string {
    return this.words[this.rank(rng)]!
  }
}

const capitalise = (w: string): string => w.charAt(0).toUpperCase() + w.slice(1)

/** Writes English-like prose; one instance per document (it holds the document's topic words). */
export class ProseWriter {
  readonly #vocab: Vocabulary
  readonly #rng: Rng
  readonly #topic: string[]

  constructor (vocab: Vocabulary, rng: Rng) {
    this.#vocab = vocab
    this.#rng = rng
    // Topic words: mid-frequency to rare, repeated through the document.
    this.#topic = Array.from({ length: rng.int(4, 10) }, () => vocab.words[rng.int(300, vocab.words.length - 1)]!)
  }

  word (): string {
    return this.#rng.next() < 0.06 ? this.#rng.pick(this.#topic) : this.#vocab.word(this.#rng)
  }

  words (n: number): string[] {
    return Array.from({ length: n }, () => this.word())
  }

  sentence (): string {
    const rng = this.#rng
    const words = this.words(rng.int(6, 24))
    if (words.length > 10 && rng.next() < 0.4) words[rng.int(3, words.length - 4)] += ','
    if (rng.next() < 0.05) words.push(String(rng.int(2, 2030)))
    const end = rng.next() < 0.06 ? '?' : '.'
    return capitalise(words.join(' ')) + end
  }

  paragraph (markdown: boolean): string {
    const rng = this.#rng
    const sentences = Array.from({ length: rng.int(2, 7) }, () => this.sentence())
    if (markdown && rng.next() < 0.3) {
      const s = rng.int(0, sentences.length - 1)
      const ws = sentences[s]!.split(' ')
      const i = rng.int(0, ws.length - 1)
      ws[i] = rng.next() < 0.5 ? `**${ws[i]!}**` : `\`${ws[i]!.replace(/[.,?]$/, '')}\``
      sentences[s] = ws.join(' ')
    }
    return sentences.join(' ')
  }

  /** Paragraphs of plain prose (2 to 6 sentences each) totalling at least `words` words. */
  prose (words: number): string {
    const paragraphs: string[] = []
    let sentences: string[] = []
    let length = this.#rng.int(2, 6)
    let n = 0
    while (n < words) {
      const s = this.sentence()
      sentences.push(s)
      n += s.split(' ').length
      if (sentences.length >= length) {
        paragraphs.push(sentences.join(' '))
        sentences = []
        length = this.#rng.int(2, 6)
      }
    }
    if (sentences.length > 0) paragraphs.push(sentences.join(' '))
    return paragraphs.join('\n\n')
  }

  heading (): string {
    return capitalise(this.words(this.#rng.int(2, 5)).join(' '))
  }

  /** A markdown document of about `targetBytes` characters. */
  markdown (targetBytes: number): string {
    const rng = this.#rng
    const parts: string[] = [`# ${this.heading()}`, this.paragraph(true)]
    let size = parts.join('\n\n').length
    while (size < targetBytes) {
      const block = rng.next() < 0.18
        ? `## ${this.heading()}`
        : rng.next() < 0.06
          ? `### ${this.heading()}`
          : rng.next() < 0.08
            ? Array.from({ length: rng.int(2, 6) }, () => `- ${capitalise(this.words(rng.int(3, 10)).join(' '))}`).join('\n')
            : this.paragraph(true)
      parts.push(block)
      size += block.length + 2
    }
    return parts.join('\n\n') + '\n'
  }

  /** A plain-text document of about `targetBytes` characters. */
  plain (targetBytes: number): string {
    const parts: string[] = [this.heading()]
    let size = parts[0]!.length
    while (size < targetBytes) {
      const p = this.paragraph(false)
      parts.push(p)
      size += p.length + 2
    }
    return parts.join('\n\n') + '\n'
  }
}

/** What {@link writeCorpus} wrote. */
export interface CorpusInfo {
  files: number
  bytes: number
}

/**
 * Writes about `totalBytes` of documents under `dir` (folders of 100 files): 85 % markdown, 15 %
 * plain text, sizes log-normal around 8 KB (from 500 bytes to 120 KB).
 */
export function writeCorpus (dir: string, options: { totalBytes: number, seed?: number, vocab?: Vocabulary }): CorpusInfo {
  const rng = new Rng(options.seed ?? 1)
  const vocab = options.vocab ?? new Vocabulary()
  let bytes = 0
  let files = 0
  while (bytes < options.totalBytes) {
    const folder = join(dir, `d${String(Math.floor(files / 100)).padStart(3, '0')}`)
    if (files % 100 === 0) mkdirSync(folder, { recursive: true })
    const target = Math.round(Math.min(120_000, Math.max(500, Math.exp(Math.log(8000) + 0.8 * rng.gaussian()))))
    const writer = new ProseWriter(vocab, rng)
    const markdown = rng.next() < 0.85
    const text = markdown ? writer.markdown(target) : writer.plain(target)
    writeFileSync(join(folder, `doc${String(files).padStart(5, '0')}.${markdown ? 'md' : 'txt'}`), text)
    bytes += Buffer.byteLength(text)
    files++
  }
  return { files, bytes }
}

/**
 * A chunk's text as the chunker produces it for a section: the heading line, a blank line and
 * paragraphs of about `words` words.
 */
export function chunkText (writer: ProseWriter, heading: string, words: number): string {
  return `${heading}\n\n${writer.prose(words)}`
}

/**
 * `count` search queries of 2 to 5 words, as people type them: mostly content words, mixing common
 * ones (frequency ranks 50–1,000), mid-frequency ones and rare ones (rank 5,000 and beyond, the
 * corpus's topic words), sometimes with a stop word.
 */
export function makeQueries (vocab: Vocabulary, count: number, seed = 99): string[] {
  const rng = new Rng(seed)
  const n = vocab.words.length
  const queries: string[] = []
  for (let q = 0; q < count; q++) {
    const len = rng.int(2, 5)
    const words: string[] = []
    for (let i = 0; i < len; i++) {
      const u = rng.next()
      const rank = u < 0.1 ? rng.int(0, 49) : u < 0.5 ? rng.int(50, 1000) : u < 0.75 ? rng.int(1000, 5000) : rng.int(5000, n - 1)
      words.push(vocab.words[Math.min(rank, n - 1)]!)
    }
    queries.push(words.join(' '))
  }
  return queries
}

/** A random unit vector (normal components, normalised). */
export function randomUnitVector (rng: Rng, dims: number): Float32Array<ArrayBuffer> {
  const v = new Float32Array(dims)
  let norm = 0
  for (let i = 0; i < dims; i++) { v[i] = rng.gaussian(); norm += v[i]! * v[i]! }
  norm = Math.sqrt(norm)
  for (let i = 0; i < dims; i++) v[i]! /= norm
  return v
}

/** The p-th percentile (0–100, nearest rank) of the samples. */
export function percentile (values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!
}
