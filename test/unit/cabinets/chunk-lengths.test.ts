import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { CabinetStore, type SearchHit } from '../../../src/cabinets/store.js'
import { PASSPHRASE, createStore, doc, removeDir, tempDir } from './store-fixtures.js'

// The chunk lengths and N / avgdl behind BM25 are cached per connection (retrieval/chunk-lengths.ts).
// After every kind of change, a connection that has searched before must score exactly as a fresh
// connection, which reads everything from the table.

const QUERY = 'harbour lantern'

let dir: string
let store: CabinetStore

const hits = (s: CabinetStore): SearchHit[] => s.search({ query: QUERY, mode: 'lexical', topK: 50 }).hits

async function freshHits (): Promise<SearchHit[]> {
  const fresh = await CabinetStore.open(dir, 'test', PASSPHRASE)
  try {
    return hits(fresh)
  } finally {
    fresh.close()
  }
}

beforeEach(async () => {
  dir = tempDir()
  store = await createStore(dir)
  store.upsertDocument(doc('a.txt', ['the harbour at night', 'a lantern by the harbour wall, and a long line of boats waiting']))
  store.upsertDocument(doc('b.txt', ['lantern', 'nothing to see here at all, only words that make this chunk longer than the rest']))
  assert.equal(hits(store).length, 3) // the cache is loaded
})

afterEach(() => {
  store.close()
  removeDir(dir)
})

describe('cached chunk lengths', () => {
  it('follow documents added, replaced and removed through the same connection', async () => {
    // Execute / Assert
    store.upsertDocument(doc('c.txt', ['harbour harbour lantern', 'one more chunk without the words']))
    assert.deepEqual(hits(store), await freshHits())

    store.upsertDocument(doc('a.txt', ['the harbour was rebuilt with a new lantern']))
    assert.deepEqual(hits(store), await freshHits())

    store.removeDocument('b.txt')
    assert.deepEqual(hits(store), await freshHits())
    assert.equal(store.search({ query: 'lantern', mode: 'lexical' }).hits.some(h => h.documentPath === 'b.txt'), false)
  })

  it('follow changes committed by another connection', async () => {
    // Prepare
    const other = await CabinetStore.open(dir, 'test', PASSPHRASE)

    // Execute
    other.upsertDocument(doc('d.txt', ['lantern lantern harbour', 'short']))
    other.removeDocument('a.txt')
    other.close()

    // Assert
    assert.deepEqual(hits(store), await freshHits())
  })

  it('are bypassed inside a transaction, so a rollback leaves nothing stale behind', async () => {
    // Execute
    assert.throws(() => store.batch(() => {
      store.upsertDocument(doc('e.txt', ['harbour lantern harbour lantern']))
      assert.equal(hits(store)[0]!.documentPath, 'e.txt')
      throw new Error('roll back')
    }), /roll back/)
    // The rolled-back chunk's id is handed out again, with another length.
    store.upsertDocument(doc('f.txt', ['a lantern', 'and a harbour far away from every other word in this cabinet']))

    // Assert
    assert.deepEqual(hits(store), await freshHits())
  })
})
