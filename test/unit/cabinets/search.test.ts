import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { CabinetStore, SearchRequest } from '../../../src/cabinets/store.js'
import { createStore, doc, hasCode, removeDir, sha256, tempDir } from './store-fixtures.js'

let dir: string
let store: CabinetStore

const fillers = (n: number, tag: string): string => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(' ')

// A small hand-made corpus; each document has one chunk, so lengths are easy to count.
const CORPUS: Record<string, string> = {
  'fruit/repeat.txt': 'apple apple apple banana',
  'fruit/once.txt': 'apple banana cherry date',
  'kiwi/short.txt': 'kiwi one two three',
  'kiwi/long.txt': `kiwi ${fillers(40, 'pad')}`,
  'stop/the.txt': 'the the the the',
  'verbs/runs.txt': 'she runs every morning',
  'cafe.txt': 'un café au lait',
  'syntax/foo.txt': 'foo is a word',
  'syntax/bar.txt': 'bar is another word',
  'syntax/near.txt': 'near the river'
}
const lengths = Object.values(CORPUS).map(t => t.split(/[^\p{L}\p{N}]+/u).filter(Boolean).length)
const avgdl = lengths.reduce((a, b) => a + b, 0) / lengths.length

const lexical = (query: string, extra: Partial<SearchRequest> = {}): Array<[string, number]> =>
  store.search({ query, mode: 'lexical', topK: 100, ...extra }).hits.map(h => [h.documentPath, h.score])
const paths = (query: string, extra: Partial<SearchRequest> = {}): string[] => lexical(query, extra).map(([p]) => p)

before(async () => {
  dir = tempDir()
  store = await createStore(dir)
  for (const [path, text] of Object.entries(CORPUS)) store.upsertDocument(doc(path, [text]))
})

after(() => {
  store.close()
  removeDir(dir)
})

describe('lexical search (BM25)', () => {
  it('ranks a chunk repeating the term above one mentioning it once', () => {
    assert.deepEqual(paths('apple'), ['fruit/repeat.txt', 'fruit/once.txt'])
  })

  it('computes exactly BM25 with k1 = 1.2, b = 0.75 from the index statistics', () => {
    // Prepare: apple is in 2 of N chunks; repeat.txt has tf = 3 and length 4
    const N = lengths.length
    const idf = Math.log(1 + (N - 2 + 0.5) / (2 + 0.5))
    const expected = idf * 3 * 2.2 / (3 + 1.2 * (1 - 0.75 + 0.75 * 4 / avgdl))

    // Execute
    const [top] = lexical('apple')

    // Assert
    assert.ok(Math.abs(top![1] - expected) < 1e-9, `${top![1]} ≠ ${expected}`)
  })

  it('normalises by length with b, and not at all with b = 0', () => {
    // Execute
    const normalised = lexical('kiwi')
    const flat = lexical('kiwi', { bm25: { b: 0 } })

    // Assert
    assert.deepEqual(normalised.map(([p]) => p), ['kiwi/short.txt', 'kiwi/long.txt'])
    assert.ok(normalised[0]![1] > normalised[1]![1])
    assert.equal(flat[0]![1], flat[1]![1])
  })

  it('ignores term frequency with k1 = 0', () => {
    // Execute
    const scores = lexical('apple', { bm25: { k1: 0 } })

    // Assert
    assert.equal(scores[0]![1], scores[1]![1])
  })

  it('drops stop words from the query unless told not to', () => {
    // Execute
    const dropped = store.search({ query: 'the apple', mode: 'lexical' })
    const kept = paths('the apple', { removeStopWords: false })

    // Assert
    assert.deepEqual(dropped.terms, ['appl'])
    assert.ok(!dropped.hits.some(h => h.documentPath === 'stop/the.txt'))
    assert.ok(kept.includes('stop/the.txt'))
  })

  it('stems: "running" finds "runs"; folds accents: "cafe" finds "café"', () => {
    assert.deepEqual(paths('running'), ['verbs/runs.txt'])
    assert.deepEqual(paths('CAFE'), ['cafe.txt'])
  })

  it('does not stem in a cabinet created without stemming', async () => {
    // Prepare
    const plain = await createStore(dir, 'plain', { tokenizer: { stemming: false } })
    plain.upsertDocument(doc('runs.txt', ['she runs every morning']))

    // Execute
    const stemmed = plain.search({ query: 'running', mode: 'lexical' }).hits
    const exact = plain.search({ query: 'runs', mode: 'lexical' }).hits

    // Assert
    assert.deepEqual(stemmed, [])
    assert.equal(exact.length, 1)
    plain.close()
  })

  it('treats FTS5 syntax and SQL in the query as plain words', () => {
    // Prepare
    const nasty = ['"foo" OR bar*', 'NEAR(', 'NEAR(foo bar, 2)', '"', '*', 'AND', 'OR NOT', 'foo:bar', '^foo', '{foo bar}: x',
      "'); DROP TABLE documents; --", '\u0000', '(((', 'foo AND NOT bar', '-foo', '+']

    // Execute
    const results = nasty.map(q => store.search({ query: q, mode: 'lexical' }))

    // Assert
    assert.deepEqual(paths('"foo" OR bar*').sort(), ['syntax/bar.txt', 'syntax/foo.txt'])
    assert.deepEqual(paths('NEAR('), ['syntax/near.txt'])
    assert.ok(results.every(r => Array.isArray(r.hits)))
    assert.equal(store.listDocuments().length, Object.keys(CORPUS).length)
  })

  it('returns snippets of plain text around the match', () => {
    // Execute
    const [hit] = store.search({ query: 'cherry', mode: 'lexical' }).hits

    // Assert
    assert.equal(hit?.snippet, 'apple banana cherry date')
    assert.equal(hit?.ordinal, 0)
    assert.equal(hit?.heading, null)
  })

  it('finds nothing for a query without words, or for unknown words', () => {
    assert.deepEqual(store.search({ query: '?! ...', mode: 'lexical' }).hits, [])
    assert.deepEqual(store.search({ query: 'zzzunknown', mode: 'lexical' }).hits, [])
  })

  it('honours topK', () => {
    assert.equal(store.search({ query: 'apple banana kiwi', mode: 'lexical', topK: 2 }).hits.length, 2)
  })

  it('rejects bad requests with PLX_ERR_BAD_REQUEST', () => {
    for (const req of [{ topK: 0 }, { topK: 101 }, { topK: 1.5 }, { query: 'x'.repeat(5000) }, { bm25: { k1: 9 } }, { bm25: { b: -0.1 } }, { mode: 'fuzzy' }]) {
      assert.throws(() => store.search({ query: 'apple', ...req } as SearchRequest), hasCode('PLX_ERR_BAD_REQUEST'), JSON.stringify(req).slice(0, 40))
    }
  })
})

describe('filters', () => {
  it('restrict hits by path prefix, glob, MIME type and mtime range', async () => {
    // Prepare
    const s = await createStore(dir, 'filters')
    s.upsertDocument(doc('docs/a.md', ['shared alpha'], { mime: 'text/markdown', mtime: 1000 }))
    s.upsertDocument(doc('docs/b.txt', ['shared beta'], { mime: 'text/plain', mtime: 2000 }))
    s.upsertDocument(doc('docs_x/c.md', ['shared gamma'], { mime: 'text/markdown', mtime: 3000 }))
    s.upsertDocument(doc('notes/d.pdf', ['shared delta'], { mime: 'application/pdf', mtime: 4000 }))
    const find = (filters: SearchRequest['filters']): string[] => s.search({ query: 'shared', mode: 'lexical', filters }).hits.map(h => h.documentPath).sort()

    // Execute / Assert
    assert.deepEqual(find({ pathPrefix: 'docs/' }), ['docs/a.md', 'docs/b.txt'])
    assert.deepEqual(find({ pathPrefix: 'docs_' }), ['docs_x/c.md'])
    assert.deepEqual(find({ pathGlob: '*.md' }), ['docs/a.md', 'docs_x/c.md'])
    assert.deepEqual(find({ mime: 'application/pdf' }), ['notes/d.pdf'])
    assert.deepEqual(find({ mime: ['text/plain', 'application/pdf'] }), ['docs/b.txt', 'notes/d.pdf'])
    assert.deepEqual(find({ mtimeFrom: 2000, mtimeTo: 3000 }), ['docs/b.txt', 'docs_x/c.md'])
    assert.deepEqual(find({ pathPrefix: 'docs', mime: 'text/markdown', mtimeTo: 1000 }), ['docs/a.md'])
    assert.deepEqual(find({ pathPrefix: "' OR 1=1 --" }), [])

    // Vector search honours the same filters
    s.setEmbeddingModel({ name: 'e', sha256: sha256('e'), dims: 2 })
    s.putVectors(s.chunksMissingVectors(10).map(c => ({ chunkId: c.chunkId, vector: [1, c.chunkId] })))
    const vec = s.search({ query: '', mode: 'vector', queryVector: [1, 0], filters: { mime: 'text/markdown' } })
    assert.deepEqual(vec.hits.map(h => h.documentPath).sort(), ['docs/a.md', 'docs_x/c.md'])
    s.close()
  })
})

describe('vector and hybrid search', () => {
  it('finds nearest chunks by cosine similarity, and fuses with BM25 by reciprocal rank', async () => {
    // Prepare
    const s = await createStore(dir, 'vectors')
    s.upsertDocument(doc('east.txt', ['sunrise over the sea']))
    s.upsertDocument(doc('northeast.txt', ['sunrise sunrise sunrise and hills']))
    s.upsertDocument(doc('north.txt', ['glaciers and snow']))
    s.setEmbeddingModel({ name: 'toy', sha256: sha256('toy'), dims: 3 })
    const ids = Object.fromEntries(['east.txt', 'northeast.txt', 'north.txt'].map(p => [p, s.getChunks(p)![0]!.chunkId]))
    s.putVectors([
      { chunkId: ids['east.txt']!, vector: [1, 0, 0] },
      { chunkId: ids['northeast.txt']!, vector: [1, 1, 0] },
      { chunkId: ids['north.txt']!, vector: [0, 1, 0] }
    ])

    // Execute
    const vector = s.search({ query: '', mode: 'vector', queryVector: [1, 0.1, 0] })
    const hybrid = s.search({ query: 'sunrise', mode: 'hybrid', queryVector: [0.1, 1, 0] })
    const noVector = s.search({ query: 'sunrise', mode: 'hybrid' })

    // Assert
    assert.equal(vector.mode, 'vector')
    assert.deepEqual(vector.hits.map(h => h.documentPath), ['east.txt', 'northeast.txt', 'north.txt'])
    const cos = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + x * b[i]!, 0) / Math.hypot(...a) / Math.hypot(...b)
    assert.ok(Math.abs(vector.hits[0]!.score - cos([1, 0.1, 0], [1, 0, 0])) < 1e-6)
    assert.equal(vector.hits[0]!.snippet, 'sunrise over the sea')
    // Lexical: northeast (tf 3), east. Vector: north, northeast, east. RRF: northeast 1/61+1/62,
    // east 1/62+1/63, north 1/61.
    assert.equal(hybrid.mode, 'hybrid')
    assert.deepEqual(hybrid.hits.map(h => h.documentPath), ['northeast.txt', 'east.txt', 'north.txt'])
    assert.ok(Math.abs(hybrid.hits[0]!.score - (1 / 61 + 1 / 62)) < 1e-12)
    assert.deepEqual([noVector.mode, noVector.fallbackReason], ['lexical', 'no-query-vector'])
    assert.throws(() => s.search({ query: 'x', mode: 'vector', queryVector: [1, 0] }), hasCode('PLX_ERR_CABINET_VECTOR_DIMS'))
    s.close()
  })

  it('falls back to lexical without an embedding model and says so', () => {
    // Execute
    const hybrid = store.search({ query: 'apple', queryVector: [1, 2, 3] })
    const asked = store.search({ query: 'apple', mode: 'lexical' })

    // Assert
    assert.deepEqual([hybrid.mode, hybrid.requestedMode, hybrid.fallbackReason], ['lexical', 'hybrid', 'no-embedding-model'])
    assert.deepEqual([asked.mode, asked.fallbackReason], ['lexical', null])
    assert.equal(hybrid.hits.length, 2)
  })
})
