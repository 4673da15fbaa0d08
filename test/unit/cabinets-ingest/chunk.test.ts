import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chunkSections, type Chunk } from '../../../src/cabinets/ingest/chunk.js'
import { estimateTokens } from '../../../src/cabinets/ingest/tokens.js'
import type { Section } from '../../../src/cabinets/ingest/types.js'

/** Numbered sentences, so each piece of text is unique and overlaps can be found exactly. */
function sentences (prefix: string, count: number, from = 0): string {
  return Array.from({ length: count }, (_, i) => `${prefix} sentence ${from + i} says something useful.`).join(' ')
}

/** A text with paragraphs of different lengths. */
function paragraphs (prefix: string, sizes: number[]): string {
  let from = 0
  return sizes.map(n => { const p = sentences(prefix, n, from); from += n; return p }).join('\n\n')
}

/** Chunk text without its heading line. */
const body = (chunk: Chunk): string => chunk.heading === null ? chunk.text : chunk.text.slice(chunk.heading.length + 2)

/** The longest start of `next` that is also the end of `previous`. */
function overlapOf (previous: string, next: string): string {
  for (let k = Math.min(previous.length, next.length); k > 0; k--) {
    if (previous.endsWith(next.slice(0, k))) return next.slice(0, k)
  }
  return ''
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

describe('chunkSections', () => {
  it('keeps every chunk within maxTokens, counting the heading prefix', () => {
    // Prepare
    const sections: Section[] = [{ heading: 'Installation', text: paragraphs('Install', [1, 3, 12, 2, 30, 1, 5]) }]

    // Execute
    const chunks = chunkSections(sections, { maxTokens: 64, overlapTokens: 8 })

    // Assert
    assert.ok(chunks.length > 3)
    for (const chunk of chunks) {
      assert.ok(chunk.tokenCount <= 64, `${chunk.tokenCount} tokens`)
      assert.equal(chunk.tokenCount, estimateTokens(chunk.text))
      assert.ok(chunk.text.startsWith('Installation\n\n'))
    }
  })

  it('never mixes two sections in one chunk, and records each heading', () => {
    // Prepare
    const sections: Section[] = [
      { heading: null, text: 'Preface text.' },
      { heading: 'Alpha', text: sentences('Alpha', 20) },
      { heading: 'Beta', text: sentences('Beta', 20) }
    ]

    // Execute
    const chunks = chunkSections(sections, { maxTokens: 48, overlapTokens: 8 })

    // Assert
    assert.deepEqual(chunks[0], { heading: null, text: 'Preface text.', tokenCount: 4 })
    for (const chunk of chunks.slice(1)) {
      const other = chunk.heading === 'Alpha' ? 'Beta' : 'Alpha'
      assert.ok(body(chunk).includes(`${chunk.heading ?? ''} sentence`))
      assert.ok(!body(chunk).includes(`${other} sentence`))
    }
    const headings = chunks.map(c => c.heading)
    assert.deepEqual([...new Set(headings)], [null, 'Alpha', 'Beta'])
    assert.ok(headings.lastIndexOf('Alpha') < headings.indexOf('Beta'))
  })

  it('starts each later chunk of a section with up to overlapTokens from the end of the previous one', () => {
    // Prepare
    const sections: Section[] = [
      { heading: 'A', text: paragraphs('A', [4, 6, 3, 8, 5]) },
      { heading: 'B', text: sentences('B', 12) }
    ]

    // Execute
    const chunks = chunkSections(sections, { maxTokens: 80, overlapTokens: 24 })

    // Assert
    let pairs = 0
    for (let i = 1; i < chunks.length; i++) {
      const previous = chunks[i - 1] as Chunk
      const current = chunks[i] as Chunk
      const shared = overlapOf(body(previous), body(current))
      if (previous.heading !== current.heading) {
        assert.equal(shared, '', 'no overlap across a heading')
        continue
      }
      pairs++
      assert.ok(shared.length > 0, `chunk ${i} repeats the end of chunk ${i - 1}`)
      assert.ok(estimateTokens(shared) <= 24)
      assert.ok(shared.length < body(current).length, 'a chunk adds new text after the overlap')
    }
    assert.ok(pairs >= 3)
  })

  it('covers all the text: every sentence lands in some chunk', () => {
    // Prepare
    const text = paragraphs('Cover', [2, 9, 1, 17, 4])
    const all = text.split(/(?<=\.)\s+/)

    // Execute
    const chunks = chunkSections([{ heading: 'Cover', text }], { maxTokens: 40, overlapTokens: 6 })

    // Assert
    const joined = chunks.map(body).join('\n')
    for (const sentence of all) assert.ok(joined.includes(sentence), sentence)
  })

  it('splits one huge paragraph at sentences, a huge sentence at words, and a huge word between characters', () => {
    // Prepare
    const longSentence = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ')
    const longWord = 'x'.repeat(3000)
    const sections: Section[] = [
      { heading: 'S', text: sentences('Huge', 200) },
      { heading: 'W', text: longSentence },
      { heading: 'X', text: longWord }
    ]

    // Execute
    const chunks = chunkSections(sections, { maxTokens: 32, overlapTokens: 4 })

    // Assert
    for (const chunk of chunks) assert.ok(chunk.tokenCount <= 32, `${chunk.tokenCount} > 32`)
    const sentenceChunks = chunks.filter(c => c.heading === 'S')
    assert.ok(sentenceChunks.every(c => /\.$/.test(body(c))), 'sentence chunks end at a sentence boundary')
    const wordChunks = chunks.filter(c => c.heading === 'W')
    assert.ok(wordChunks.every(c => /^(word\d+ ?)+$/.test(body(c))), 'word chunks hold whole words')
    for (let i = 0; i < 400; i++) assert.ok(wordChunks.some(c => body(c).split(' ').includes(`word${i}`)))
    const xChunks = chunks.filter(c => c.heading === 'X')
    assert.ok(xChunks.length > 1)
    assert.ok(xChunks.reduce((n, c) => n + body(c).length, 0) >= longWord.length)
  })

  it('keeps CJK, astral characters and emoji sequences whole', () => {
    // Prepare
    const cjk = Array.from({ length: 120 }, (_, i) => `第${i}句讲的是检索增强生成𠀀。`).join('')
    const family = '👨‍👩‍👧'
    const sections: Section[] = [
      { heading: '中文', text: cjk },
      { heading: 'Emoji', text: family.repeat(300) }
    ]

    // Execute
    const chunks = chunkSections(sections, { maxTokens: 40, overlapTokens: 8 })

    // Assert
    for (const chunk of chunks) {
      assert.ok(!LONE_SURROGATE.test(chunk.text), 'no broken surrogate pair')
      assert.equal(chunk.text, chunk.text.normalize('NFC'))
    }
    const emoji = chunks.filter(c => c.heading === 'Emoji')
    assert.ok(emoji.length > 1)
    assert.ok(emoji.every(c => new RegExp(`^(${family})+$`, 'u').test(body(c))), 'no family emoji is cut apart')
    const cjkChunks = chunks.filter(c => c.heading === '中文')
    assert.ok(cjkChunks.length > 1)
    assert.ok(cjkChunks.every(c => c.tokenCount <= 40 && body(c).endsWith('。')), 'CJK chunks end at a sentence')
  })

  it('is deterministic', () => {
    // Prepare
    const sections: Section[] = [{ heading: 'D', text: paragraphs('D', [3, 14, 2, 7]) }, { heading: null, text: '日本語のテキスト。🎉 done' }]

    // Execute
    const first = chunkSections(sections, { maxTokens: 50, overlapTokens: 10 })
    const second = chunkSections(structuredClone(sections), { maxTokens: 50, overlapTokens: 10 })

    // Assert
    assert.deepEqual(second, first)
  })

  it('uses the defaults of 256 and 32 tokens', () => {
    // Prepare
    const sections: Section[] = [{ heading: null, text: sentences('Default', 300) }]

    // Execute
    const chunks = chunkSections(sections)

    // Assert
    assert.ok(chunks.every(c => c.tokenCount <= 256))
    assert.ok(chunks.some(c => c.tokenCount > 200), 'chunks are packed close to the limit')
    const shared = overlapOf(chunks[0]?.text ?? '', chunks[1]?.text ?? '')
    assert.ok(shared.length > 0 && estimateTokens(shared) <= 32)
  })

  it('leaves the heading out of the text when prefixHeading is false', () => {
    // Prepare
    const sections: Section[] = [{ heading: 'Hidden', text: 'Body.' }]

    // Execute
    const chunks = chunkSections(sections, { prefixHeading: false })

    // Assert
    assert.deepEqual(chunks, [{ heading: 'Hidden', text: 'Body.', tokenCount: 2 }])
  })

  it('cuts a heading longer than a quarter of maxTokens', () => {
    // Prepare
    const heading = Array.from({ length: 50 }, (_, i) => `h${i}`).join(' ')

    // Execute
    const chunks = chunkSections([{ heading, text: 'Body text.' }], { maxTokens: 32, overlapTokens: 0 })

    // Assert
    const prefix = chunks[0]?.text.split('\n\n')[0] ?? ''
    assert.equal(chunks[0]?.heading, heading)
    assert.ok(prefix.endsWith('…'))
    assert.ok(estimateTokens(prefix) <= 8)
    assert.ok(chunks[0]?.text.endsWith('Body text.'))
  })

  it('holds to maxTokens with a caller tokenizer that counts separators too', () => {
    // Prepare
    const countChars = (text: string): number => text.length
    const sections: Section[] = [{ heading: 'C', text: Array.from({ length: 40 }, (_, i) => `p${i} a b`).join('\n\n') }]

    // Execute
    const chunks = chunkSections(sections, { maxTokens: 40, overlapTokens: 10, countTokens: countChars })

    // Assert
    assert.ok(chunks.length > 5)
    for (const chunk of chunks) {
      assert.ok(chunk.text.length <= 40, JSON.stringify(chunk))
      assert.equal(chunk.tokenCount, chunk.text.length)
    }
  })

  it('gives no chunks for sections without text', () => {
    // Prepare
    const sections: Section[] = [{ heading: 'Empty', text: '' }, { heading: null, text: ' \n\n ' }]

    // Execute
    const chunks = chunkSections(sections)

    // Assert
    assert.deepEqual(chunks, [])
  })

  it('rejects out-of-range options', () => {
    // Prepare
    const sections: Section[] = [{ heading: null, text: 'x' }]

    // Execute
    const attempts = [
      () => chunkSections(sections, { maxTokens: 8 }),
      () => chunkSections(sections, { maxTokens: 100.5 }),
      () => chunkSections(sections, { maxTokens: 64, overlapTokens: 33 }),
      () => chunkSections(sections, { overlapTokens: -1 })
    ]

    // Assert
    for (const attempt of attempts) assert.throws(attempt, RangeError)
    assert.equal(chunkSections(sections, { maxTokens: 16 }).length, 1, 'the default overlap shrinks to fit a small maxTokens')
  })
})
