import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CabinetStore, type DocumentInput } from '../../../src/cabinets/store.js'
import { CHEAP_KDF, PASSPHRASE, createStore, doc, hasCode, removeDir, sha256, tempDir } from './store-fixtures.js'

let dir: string
let store: CabinetStore

beforeEach(async () => {
  dir = tempDir()
  store = await createStore(dir)
})

afterEach(() => {
  store.close()
  removeDir(dir)
})

describe('CabinetStore.create / open', () => {
  it('creates <name>.cabinet and <name>.keyring.json with mode 0600, and reopens with the passphrase', async () => {
    // Prepare
    store.upsertDocument(doc('a.txt', ['alpha']))
    store.close()

    // Execute
    store = await CabinetStore.open(dir, 'test', PASSPHRASE)

    // Assert
    for (const file of ['test.cabinet', 'test.keyring.json']) assert.equal(statSync(join(dir, file)).mode & 0o777, 0o600, file)
    assert.equal(store.listDocuments().length, 1)
    assert.equal(CabinetStore.exists(dir, 'test'), true)
    assert.equal(CabinetStore.exists(dir, 'other'), false)
  })

  it('refuses to create over an existing cabinet or keyring', async () => {
    await assert.rejects(createStore(dir), hasCode('PLX_ERR_CABINET_EXISTS'))
    assert.equal(store.isOpen, true)
  })

  it('refuses names that are not plain file names', async () => {
    for (const name of ['', '../evil', 'a/b', '.hidden', 'x'.repeat(65), 'sp ace']) {
      await assert.rejects(createStore(dir, name), hasCode('PLX_ERR_BAD_REQUEST'), name)
    }
  })

  it('leaves nothing behind when creation fails (short passphrase)', async () => {
    // Execute
    await assert.rejects(CabinetStore.create(dir, 'short', 'abc', { kdf: CHEAP_KDF }), hasCode('PLX_ERR_BAD_REQUEST'))

    // Assert
    assert.deepEqual(readdirSync(dir).filter(f => f.startsWith('short')), [])
  })

  it('reports a missing cabinet as PLX_ERR_CABINET_NOT_FOUND and a missing keyring as PLX_ERR_CABINET_KEYRING', async () => {
    // Prepare
    const other = await createStore(dir, 'other')
    other.close()
    removeDir(join(dir, 'other.keyring.json'))

    // Execute / Assert
    await assert.rejects(CabinetStore.open(dir, 'nothing', PASSPHRASE), hasCode('PLX_ERR_CABINET_NOT_FOUND'))
    await assert.rejects(CabinetStore.open(dir, 'other', PASSPHRASE), hasCode('PLX_ERR_CABINET_KEYRING'))
  })

  it('keeps the tokenizer chosen at creation', async () => {
    // Prepare
    const plain = await createStore(dir, 'plain', { tokenizer: { stemming: false } })
    plain.close()

    // Execute
    const reopened = await CabinetStore.open(dir, 'plain', PASSPHRASE)

    // Assert
    assert.deepEqual(reopened.stats().tokenizer, { stemming: false, removeDiacritics: true, cjkBigrams: true })
    reopened.close()
  })
})

describe('close (lock)', () => {
  it('makes every method fail with PLX_ERR_CABINET_LOCKED and is idempotent', () => {
    // Execute
    store.close()
    store.close()

    // Assert
    assert.equal(store.isOpen, false)
    const calls: Array<() => unknown> = [
      () => store.listDocuments(), () => store.search({ query: 'x' }), () => store.stats(),
      () => store.upsertDocument(doc('a', ['a'])), () => store.appendAudit({ action: 'x' }), () => store.embeddingModel()
    ]
    for (const call of calls) assert.throws(call, hasCode('PLX_ERR_CABINET_LOCKED'))
  })
})

describe('upsertDocument', () => {
  it('stores a document with its chunks and reports what it did', () => {
    // Execute
    const result = store.upsertDocument(doc('notes/a.md', ['first chunk', 'second chunk'], { title: 'A', mime: 'text/markdown', mtime: 42, size: 99 }))

    // Assert
    assert.deepEqual({ ...result, documentId: 0, contentId: 0 }, { documentId: 0, contentId: 0, chunkCount: 2, changed: true, reusedContent: false })
    const info = store.getDocumentByPath('notes/a.md')
    assert.ok(info != null)
    assert.deepEqual({ title: info.title, mime: info.mime, mtime: info.mtime, size: info.size, chunkCount: info.chunkCount }, { title: 'A', mime: 'text/markdown', mtime: 42, size: 99, chunkCount: 2 })
    assert.deepEqual(store.getChunks('notes/a.md')?.map(c => [c.ordinal, c.text]), [[0, 'first chunk'], [1, 'second chunk']])
    assert.equal(store.getDocumentByPath('nope'), null)
    assert.equal(store.getChunks('nope'), null)
  })

  it('only refreshes metadata when the same content is upserted again', () => {
    // Prepare
    const first = store.upsertDocument(doc('a.txt', ['alpha beta']))

    // Execute
    const again = store.upsertDocument(doc('a.txt', ['alpha beta'], { mtime: 5 }))

    // Assert
    assert.equal(again.changed, false)
    assert.equal(again.reusedContent, true)
    assert.equal(again.documentId, first.documentId)
    assert.equal(store.getDocumentByPath('a.txt')?.mtime, 5)
    assert.equal(store.stats().chunks, 1)
  })

  it('stores identical content once and shares its chunks between documents', () => {
    // Execute
    const a = store.upsertDocument(doc('a.txt', ['same text', 'more']))
    const b = store.upsertDocument(doc('copy/b.txt', ['same text', 'more']))

    // Assert
    assert.equal(b.reusedContent, true)
    assert.equal(b.contentId, a.contentId)
    const stats = store.stats()
    assert.deepEqual([stats.documents, stats.contents, stats.chunks], [2, 1, 2])
    assert.deepEqual(store.search({ query: 'same', mode: 'lexical' }).hits.map(h => h.documentPath), ['a.txt', 'copy/b.txt'])
  })

  it('replaces a changed document and collects its old content', () => {
    // Prepare
    store.upsertDocument(doc('a.txt', ['old words here']))

    // Execute
    const result = store.upsertDocument(doc('a.txt', ['new words', 'and more']))

    // Assert
    assert.equal(result.changed, true)
    const stats = store.stats()
    assert.deepEqual([stats.documents, stats.contents, stats.chunks], [1, 1, 2])
    assert.deepEqual(store.search({ query: 'old', mode: 'lexical' }).hits, [])
    assert.equal(store.search({ query: 'new', mode: 'lexical' }).hits.length, 1)
    assert.equal(store.checkIntegrity({ full: true }).ok, true)
  })

  it('rejects malformed input with PLX_ERR_BAD_REQUEST naming the field', () => {
    // Prepare
    const bad: Array<[Partial<DocumentInput>, string]> = [
      [{ sha256: 'xyz' }, 'sha256'], [{ path: '' }, 'path'], [{ mtime: -1 }, 'mtime'], [{ mime: '' }, 'mime'],
      [{ chunks: [{ text: 'a', tokenCount: -1 }] }, 'chunks.0.tokenCount']
    ]

    // Execute / Assert
    for (const [change, param] of bad) {
      assert.throws(() => store.upsertDocument({ ...doc('a', ['a']), ...change }), (err: unknown) => hasCode('PLX_ERR_BAD_REQUEST')(err) && (err as { param: string }).param === param, param)
    }
    assert.equal(store.stats().documents, 0)
  })
})

describe('transactions', () => {
  /** A signal that reads as aborted from its n-th check on: a throw from inside the upsert. */
  const abortOnCheck = (n: number): AbortSignal => {
    let checks = 0
    return { get aborted () { return ++checks >= n } } as unknown as AbortSignal
  }

  it('rolls back a new document that fails halfway through its chunks', () => {
    // Prepare
    store.upsertDocument(doc('keep.txt', ['kept']))
    const before = store.stats()

    // Execute
    assert.throws(() => store.upsertDocument(doc('big.txt', ['one', 'two', 'three', 'four', 'five']), { signal: abortOnCheck(4) }), hasCode('PLX_ERR_ABORTED'))

    // Assert
    const after = store.stats()
    assert.deepEqual([after.documents, after.contents, after.chunks], [before.documents, before.contents, before.chunks])
    assert.equal(store.getDocumentByPath('big.txt'), null)
    assert.deepEqual(store.search({ query: 'three', mode: 'lexical' }).hits, [])
    assert.deepEqual(store.checkIntegrity({ full: true }), { ok: true, problems: [] })
  })

  it('keeps the previous version when a replacement fails after everything was written', () => {
    // Prepare
    store.upsertDocument(doc('a.txt', ['original text']))

    // Execute: the last check comes after chunks, document row and garbage collection
    assert.throws(() => store.upsertDocument(doc('a.txt', ['replacement text', 'second']), { signal: abortOnCheck(3) }), hasCode('PLX_ERR_ABORTED'))

    // Assert
    assert.deepEqual(store.getChunks('a.txt')?.map(c => c.text), ['original text'])
    assert.equal(store.search({ query: 'original', mode: 'lexical' }).hits.length, 1)
    assert.deepEqual(store.search({ query: 'replacement', mode: 'lexical' }).hits, [])
    assert.equal(store.stats().chunks, 1)
    assert.equal(store.checkIntegrity().ok, true)
  })

  it('commits a batch together or not at all', () => {
    // Execute
    assert.throws(() => store.batch(() => {
      store.upsertDocument(doc('one.txt', ['one']))
      store.upsertDocument(doc('two.txt', ['two']))
      throw new Error('boom')
    }), /boom/)
    const n = store.batch(() => {
      store.upsertDocument(doc('three.txt', ['three']))
      return store.stats().documents
    })

    // Assert
    assert.equal(n, 1)
    assert.deepEqual(store.listDocuments().map(d => d.path), ['three.txt'])
  })
})

describe('removeDocument', () => {
  it('garbage-collects content, chunks, index rows and vectors once no document uses them', () => {
    // Prepare
    store.setEmbeddingModel({ name: 'emb', sha256: sha256('emb'), dims: 2 })
    store.upsertDocument(doc('a.txt', ['shared words', 'more words']))
    store.upsertDocument(doc('b.txt', ['shared words', 'more words']))
    store.upsertDocument(doc('c.txt', ['other']))
    store.putVectors(store.chunksMissingVectors(10).map(c => ({ chunkId: c.chunkId, vector: [1, c.chunkId] })))

    // Execute
    const first = store.removeDocument('a.txt')
    const midStats = store.stats()
    const second = store.removeDocument('b.txt')
    const missing = store.removeDocument('b.txt')

    // Assert
    assert.deepEqual([first, second, missing], [true, true, false])
    assert.deepEqual([midStats.contents, midStats.chunks, midStats.vectors], [2, 3, 3])
    const stats = store.stats()
    assert.deepEqual([stats.documents, stats.contents, stats.chunks, stats.vectors], [1, 1, 1, 1])
    assert.deepEqual(store.search({ query: 'shared', mode: 'lexical' }).hits, [])
    assert.deepEqual(store.search({ query: 'x', queryVector: [1, 2], mode: 'vector' }).hits.map(h => h.documentPath), ['c.txt'])
    assert.deepEqual(store.checkIntegrity({ full: true }), { ok: true, problems: [] })
  })
})

describe('listDocuments', () => {
  it('lists by path, under a prefix, with paging', () => {
    // Prepare
    for (const p of ['b/2.txt', 'a/1.txt', 'b/1.txt', 'b%/x.txt']) store.upsertDocument(doc(p, [p]))

    // Execute / Assert
    assert.deepEqual(store.listDocuments().map(d => d.path), ['a/1.txt', 'b%/x.txt', 'b/1.txt', 'b/2.txt'])
    assert.deepEqual(store.listDocuments({ pathPrefix: 'b/' }).map(d => d.path), ['b/1.txt', 'b/2.txt'])
    assert.deepEqual(store.listDocuments({ limit: 2, offset: 1 }).map(d => d.path), ['b%/x.txt', 'b/1.txt'])
  })
})

describe('embeddings', () => {
  it('sets a model, lists chunks to embed, stores vectors, and starts over when the model changes', () => {
    // Prepare
    store.upsertDocument(doc('a.txt', ['one', 'two', 'three']))
    const model = { name: 'emb', sha256: sha256('emb'), dims: 3 }

    // Execute / Assert
    assert.deepEqual(store.chunksMissingVectors(10), [])
    assert.equal(store.setEmbeddingModel(model), true)
    assert.equal(store.setEmbeddingModel({ ...model }), false)
    const pending = store.chunksMissingVectors(2)
    assert.deepEqual(pending.map(c => c.text), ['one', 'two'])
    assert.equal(store.putVectors(pending.map(c => ({ chunkId: c.chunkId, vector: [1, 0, 0] })), { modelSha256: model.sha256 }), 2)
    assert.deepEqual([store.stats().vectors, store.stats().chunksMissingVectors], [2, 1])

    assert.equal(store.setEmbeddingModel({ ...model, name: 'emb2', dims: 4 }), true)
    assert.deepEqual([store.stats().vectors, store.stats().chunksMissingVectors], [0, 3])
    assert.deepEqual(store.embeddingModel(), { ...model, name: 'emb2', dims: 4 })
    assert.equal(store.checkIntegrity().ok, true)
  })

  it('refuses vectors without a model, from another model, or of the wrong shape, and skips deleted chunks', () => {
    // Prepare
    store.upsertDocument(doc('a.txt', ['one']))
    const chunkId = store.getChunks('a.txt')![0]!.chunkId

    // Execute / Assert
    assert.throws(() => store.putVectors([{ chunkId, vector: [1, 0] }]), hasCode('PLX_ERR_CABINET_EMBEDDING_MODEL'))
    store.setEmbeddingModel({ name: 'emb', sha256: sha256('emb'), dims: 2 })
    assert.throws(() => store.putVectors([{ chunkId, vector: [1, 0] }], { modelSha256: sha256('other') }), hasCode('PLX_ERR_CABINET_EMBEDDING_MODEL'))
    assert.throws(() => store.putVectors([{ chunkId, vector: [1, 0, 0] }]), hasCode('PLX_ERR_CABINET_VECTOR_DIMS'))
    assert.throws(() => store.putVectors([{ chunkId, vector: [0, 0] }]), hasCode('PLX_ERR_CABINET_VECTOR_DIMS'))
    assert.throws(() => store.putVectors([{ chunkId, vector: [Number.NaN, 1] }]), hasCode('PLX_ERR_CABINET_VECTOR_DIMS'))
    assert.equal(store.putVectors([{ chunkId: chunkId + 1000, vector: [1, 0] }, { chunkId, vector: new Float32Array([0, 1]) }]), 1)
    assert.equal(store.putVectors([{ chunkId, vector: [1, 1] }]), 1) // replacing is fine
    assert.equal(store.stats().vectors, 1)
  })

  it('removes the model and its vectors when set to null', () => {
    // Prepare
    store.upsertDocument(doc('a.txt', ['one']))
    store.setEmbeddingModel({ name: 'emb', sha256: sha256('emb'), dims: 2 })

    // Execute
    const changed = store.setEmbeddingModel(null)

    // Assert
    assert.equal(changed, true)
    assert.equal(store.embeddingModel(), null)
    assert.equal(store.search({ query: 'one', queryVector: [1, 0] }).fallbackReason, 'no-embedding-model')
  })
})

describe('audit', () => {
  it('appends entries with a keyed hash of the query, never its text, and lists newest first', async () => {
    // Prepare
    store.close()
    store = await CabinetStore.open(dir, 'test', PASSPHRASE, { now: () => 1234 })

    // Execute
    const a = store.appendAudit({ action: 'search', caller: 'key:laptop', query: 'secret question', resultCount: 3, detail: { mode: 'lexical' } })
    const b = store.appendAudit({ action: 'search', query: 'secret question' })
    const c = store.appendAudit({ action: 'ingest', detail: 'done' })
    const entries = store.listAudit()

    // Assert
    assert.deepEqual(entries.map(e => e.id), [c, b, a])
    const [ec, eb, ea] = entries
    assert.deepEqual({ ...ea, queryHash: null }, { id: a, at: 1234, action: 'search', caller: 'key:laptop', queryHash: null, resultCount: 3, detail: { mode: 'lexical' } })
    assert.match(ea!.queryHash ?? '', /^[0-9a-f]{64}$/)
    assert.equal(ea!.queryHash, eb!.queryHash)
    assert.notEqual(ea!.queryHash, sha256('secret question'))
    assert.deepEqual([ec!.queryHash, ec!.detail], [null, 'done'])
    assert.deepEqual(store.listAudit({ limit: 1 }).map(e => e.id), [c])
    assert.deepEqual(store.listAudit({ beforeId: b }).map(e => e.id), [a])
    assert.throws(() => store.appendAudit({ action: '' }), hasCode('PLX_ERR_BAD_REQUEST'))
    assert.throws(() => store.appendAudit({ action: 'x', detail: 'y'.repeat(5000) }), hasCode('PLX_ERR_BAD_REQUEST'))
  })
})

describe('stats and chunks', () => {
  it('returns chunks by id in the order asked and counts everything', () => {
    // Prepare
    store.upsertDocument(doc('a.txt', ['one', 'two']))
    const ids = store.getChunks('a.txt')!.map(c => c.chunkId)

    // Execute
    const chunks = store.getChunksByIds([ids[1]!, 999_999, ids[0]!])
    const stats = store.stats()

    // Assert
    assert.deepEqual(chunks.map(c => c.text), ['two', 'one'])
    assert.equal(stats.schemaVersion, 1)
    assert.match(stats.cabinetId, /^[0-9a-f-]{36}$/)
    assert.deepEqual([stats.documents, stats.chunks, stats.vectors, stats.chunksMissingVectors], [1, 2, 0, 0])
    assert.ok(stats.fileBytes > 0)
    assert.ok(existsSync(join(dir, 'test.cabinet')))
  })
})

describe('CabinetStore.create cut off', () => {
  it('a create killed during its KDF leaves nothing that blocks the name: invisible, then created again', async () => {
    // Prepare: another process creates 'cut' with the real (slow) KDF and is killed as soon as it has claimed the name.
    const storeModule = new URL('../../../src/cabinets/store.js', import.meta.url).href
    const child = spawn(process.execPath, ['--input-type=module', '-e',
      `import { CabinetStore } from ${JSON.stringify(storeModule)}; await CabinetStore.create(process.argv[1], 'cut', ${JSON.stringify(PASSPHRASE)})`, dir], { stdio: 'ignore' })
    const claim = join(dir, 'cut.cabinet.creating')
    const exited = new Promise(resolve => child.once('exit', resolve))
    while (!existsSync(claim)) await new Promise(resolve => setTimeout(resolve, 5))
    child.kill('SIGKILL')
    await exited

    // Assert: the cut-off cabinet does not exist for anyone.
    assert.equal(existsSync(join(dir, 'cut.cabinet.json')), false)
    assert.equal(CabinetStore.exists(dir, 'cut'), false)
    await assert.rejects(CabinetStore.open(dir, 'cut', PASSPHRASE), hasCode('PLX_ERR_CABINET_NOT_FOUND'))

    // Execute: create it again.
    const again = await createStore(dir, 'cut')
    again.upsertDocument(doc('a.txt', ['alpha']))
    again.close()

    // Assert: a whole cabinet, no claim left.
    assert.equal(existsSync(claim), false)
    const reopened = await CabinetStore.open(dir, 'cut', PASSPHRASE)
    assert.equal(reopened.listDocuments().length, 1)
    reopened.close()
  })

  it('while a create runs, the name is taken and the cabinet does not exist yet', async () => {
    // Prepare: a claim held by a live process (this one).
    writeFileSync(join(dir, 'busy.cabinet.creating'), JSON.stringify({ pid: process.pid, startedAt: Date.now() }))

    // Execute + Assert
    await assert.rejects(createStore(dir, 'busy'), hasCode('PLX_ERR_CABINET_EXISTS'))
    assert.equal(CabinetStore.exists(dir, 'busy'), false)
    assert.equal(existsSync(join(dir, 'busy.cabinet.creating')), true, 'the other create keeps its claim')
  })
})

describe('CabinetStore.reindex', () => {
  it('rebuilds the index with other tokenizer settings: a Japanese word inside a run becomes findable, and stays so after reopening', async () => {
    // Prepare: a cabinet indexed as cabinets were before CJK pairs (runs whole).
    const old = await createStore(dir, 'jp', { tokenizer: { cjkBigrams: false } })
    old.upsertDocument(doc('kyoto.txt', ['東京都と京都府に住む人々', 'The lantern festival']))
    old.upsertDocument(doc('other.txt', ['大阪の話', 'Another lantern']))
    const found = (s: CabinetStore, query: string): string[] => s.search({ query, mode: 'lexical' }).hits.map(h => h.documentPath)
    assert.deepEqual(found(old, '京都'), [], 'inside a run, not found without pairs')
    const before = found(old, 'lantern').sort()

    // Execute
    const r = old.reindex({ cjkBigrams: true })

    // Assert: every chunk re-indexed; the part of the run is found; other searches unchanged.
    assert.equal(r.chunks, 4)
    assert.equal(r.tokenizer.cjkBigrams, true)
    assert.deepEqual(found(old, '京都'), ['kyoto.txt'])
    assert.deepEqual(found(old, 'lantern').sort(), before)
    old.close()
    const reopened = await CabinetStore.open(dir, 'jp', PASSPHRASE)
    assert.equal(reopened.stats().tokenizer.cjkBigrams, true)
    assert.deepEqual(found(reopened, '京都'), ['kyoto.txt'])
    assert.deepEqual(found(reopened, '大阪'), ['other.txt'])
    reopened.close()
  })
})
