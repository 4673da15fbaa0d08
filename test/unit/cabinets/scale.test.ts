import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { CabinetStore } from '../../../src/cabinets/store.js'
import { createStore, doc, removeDir, sha256, tempDir } from './store-fixtures.js'

const DOCS = 3000
const TOPICS = 50
const DIMS = 8

let dir: string
let store: CabinetStore

/** A deterministic unit-ish vector per topic, so vector search can be checked by topic. */
const topicVector = (topic: number): number[] => Array.from({ length: DIMS }, (_, i) => (i === topic % DIMS ? 1 : 0) + (i === (topic * 3) % DIMS ? 0.5 : 0) + 0.01 * topic)

before(async () => {
  dir = tempDir()
  store = await createStore(dir, 'big', { synchronous: 'NORMAL' })
  // Prepare: 3,000 small documents in batches of 500 (one commit each), two chunks per document
  for (let start = 0; start < DOCS; start += 500) {
    store.batch(() => {
      for (let i = start; i < start + 500; i++) {
        store.upsertDocument(doc(`dir${i % 10}/doc${i}.txt`, [
          `Document ${i} is about topic${i % TOPICS} and carries the unique token uniq${i}.`,
          `Appendix of document ${i}: shared boilerplate text that every document repeats.`
        ], { mtime: i }))
      }
    })
  }
})

after(() => {
  store.close()
  removeDir(dir)
})

describe('a cabinet of 3,000 documents', () => {
  it('stores them all', () => {
    const stats = store.stats()
    assert.deepEqual([stats.documents, stats.contents, stats.chunks], [DOCS, DOCS, 2 * DOCS])
  })

  it('finds each unique token in exactly its document, first', () => {
    for (const i of [0, 1, 777, 1500, 2999]) {
      const { hits } = store.search({ query: `uniq${i}`, mode: 'lexical' })
      assert.equal(hits.length, 1, `uniq${i}`)
      assert.equal(hits[0]!.documentPath, `dir${i % 10}/doc${i}.txt`)
      assert.equal(hits[0]!.ordinal, 0)
    }
  })

  it('returns topK of the many chunks sharing a term, and all of a topic within the limit', () => {
    // Execute
    const shared = store.search({ query: 'boilerplate', mode: 'lexical', topK: 100 })
    const topic = store.search({ query: 'topic7', mode: 'lexical', topK: 100 })

    // Assert
    assert.equal(shared.hits.length, 100)
    assert.equal(topic.hits.length, DOCS / TOPICS)
    assert.ok(topic.hits.every(h => Number(/doc(\d+)/.exec(h.documentPath)![1]) % TOPICS === 7))
  })

  it('filters across thousands of candidates', () => {
    // Execute
    const { hits } = store.search({ query: 'boilerplate', mode: 'lexical', topK: 100, filters: { pathPrefix: 'dir3/', mtimeFrom: 2000 } })

    // Assert
    assert.equal(hits.length, 100)
    assert.ok(hits.every(h => h.documentPath.startsWith('dir3/') && Number(/doc(\d+)/.exec(h.documentPath)![1]) >= 2000))
  })

  it('embeds, searches by vector, and removes a third of the documents cleanly', () => {
    // Prepare
    store.setEmbeddingModel({ name: 'toy', sha256: sha256('toy'), dims: DIMS })
    for (let batch = store.chunksMissingVectors(1000); batch.length > 0; batch = store.chunksMissingVectors(1000)) {
      store.putVectors(batch.map(c => ({ chunkId: c.chunkId, vector: topicVector(Number(/topic(\d+)/.exec(c.text)?.[1] ?? 49)) })))
    }

    // Execute
    const vector = store.search({ query: '', mode: 'vector', queryVector: topicVector(13), topK: 20 })
    store.batch(() => {
      for (let i = 0; i < DOCS; i += 3) store.removeDocument(`dir${i % 10}/doc${i}.txt`)
    })

    // Assert
    assert.equal(vector.hits.length, 20)
    assert.ok(vector.hits.every(h => Number(/doc(\d+)/.exec(h.documentPath)![1]) % TOPICS === 13 && h.ordinal === 0))
    const stats = store.stats()
    assert.deepEqual([stats.documents, stats.chunks, stats.vectors, stats.chunksMissingVectors], [2000, 4000, 4000, 0])
    assert.deepEqual(store.search({ query: 'uniq3', mode: 'lexical' }).hits, [])
    assert.equal(store.search({ query: 'uniq4', mode: 'lexical' }).hits.length, 1)
    assert.deepEqual(store.checkIntegrity({ full: true }), { ok: true, problems: [] })
  })
})
