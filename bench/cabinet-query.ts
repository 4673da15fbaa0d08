/**
 * Cabinet search latency: p50 / p99 of `CabinetStore.search` over an encrypted cabinet of 100,000
 * chunks with 64-dimensional vectors, in lexical and in hybrid mode. Goals: p50 < 20 ms lexical,
 * < 50 ms hybrid.
 *
 * The cabinet is built directly through `upsertDocument` (documents of 5 to 40 English-like chunks
 * of 120–180 words from `lib/cabinet-corpus.ts`, many documents per `batch()`), then given an embedding
 * model and random unit vectors. Queries are 2 to 5 corpus words mixing common and rare terms;
 * hybrid queries get a random unit query vector.
 *
 * Baseline, measured on the same cabinet in the same run, interleaved query by query: SQLite's own
 * engine without our code — FTS5 `MATCH` (the query's terms OR-ed) ranked by the built-in `bm25()`
 * (`ORDER BY rank LIMIT k`), then the k chunks fetched with their documents; for hybrid, that at
 * depth 100 plus the sqlite-vec KNN query (k = 100) that hybrid search also runs. It uses a second,
 * read-only connection opened with the cabinet's data key. The ratio search/baseline shows what our
 * BM25 (tunable k1/b, computed from FTS5's postings), fusion, filters and snippets cost on top.
 *
 * Run: `npm run bench -- cabinet-query [--chunks 100000] [--queries 200] [--dims 64] [--top-k 10]
 * [--seed 3] [--keep DIR]` (`--keep DIR` builds the cabinet in DIR once and reuses it on later runs).
 *
 * @packageDocumentation
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import Database from 'better-sqlite3-multiple-ciphers'
import type { Database as Db } from 'better-sqlite3'
import * as sqliteVec from 'sqlite-vec'
import { CabinetStore, cabinetPaths, type DocumentInput } from '../src/cabinets/store.js'
import { unlockKeyring } from '../src/cabinets/keyring.js'
import { zeroize } from '../src/cabinets/crypto.js'
import { estimateTokens } from '../src/cabinets/ingest/index.js'
import { DEFAULT_TOKENIZER, queryTerms } from '../src/cabinets/retrieval/tokenizer.js'
import type { ScryptParams } from '../src/cabinets/constants.js'
import { ProseWriter, Rng, Vocabulary, chunkText, makeQueries, percentile, randomUnitVector } from './lib/cabinet-corpus.js'
import { fmt, formatTable } from './lib/stats.js'

const GOAL_P50_MS: Record<'lexical' | 'hybrid', number> = { lexical: 20, hybrid: 50 }
const CHEAP_KDF: ScryptParams = { N: 1024, r: 1, p: 1 }
const PASSPHRASE = 'benchmark passphrase'
const NAME = 'bench'
/** Hits taken from each list before fusion in hybrid search (FUSION_DEPTH in constants.ts). */
const FUSION_DEPTH = 100
const DOCS_PER_BATCH = 100

/** Fills the cabinet with about `target` chunks; returns the number written. */
function build (store: CabinetStore, target: number, dims: number, seed: number, vocab: Vocabulary): number {
  const rng = new Rng(seed)
  let chunks = 0
  let docIndex = 0
  const started = performance.now()
  while (chunks < target) {
    const docs: DocumentInput[] = []
    for (let d = 0; d < DOCS_PER_BATCH && chunks < target; d++, docIndex++) {
      const writer = new ProseWriter(vocab, rng)
      const n = Math.min(rng.int(5, 40), target - chunks)
      let heading = writer.heading()
      const texts = Array.from({ length: n }, (_, i) => {
        if (i > 0 && rng.next() < 0.3) heading = writer.heading()
        const text = chunkText(writer, heading, rng.int(120, 180))
        return { heading, text, tokenCount: estimateTokens(text) }
      })
      const path = `/bench/folder${String(docIndex % 50).padStart(2, '0')}/doc${docIndex}.md`
      // A unique content hash per document (the text is not hashed: only dedupe depends on it).
      const sha256 = (docIndex.toString(16).padStart(16, '0') + seed.toString(16).padStart(8, '0')).padEnd(64, '0')
      docs.push({ path, title: texts[0]!.heading, mime: 'text/markdown', mtime: 1_700_000_000_000 + docIndex * 1000, size: texts.reduce((s, t) => s + t.text.length, 0), sha256, chunks: texts })
      chunks += n
    }
    store.batch(() => { for (const doc of docs) store.upsertDocument(doc) })
    if (docIndex % 1000 < DOCS_PER_BATCH) console.log(`  ${chunks} chunks (${((performance.now() - started) / 1000).toFixed(0)} s)`)
  }
  store.setEmbeddingModel({ name: 'bench', sha256: '0'.repeat(64), dims })
  for (;;) {
    const pending = store.chunksMissingVectors(10_000)
    if (pending.length === 0) break
    store.putVectors(pending.map(c => ({ chunkId: c.chunkId, vector: randomUnitVector(rng, dims) })))
  }
  console.log(`  vectors written (${((performance.now() - started) / 1000).toFixed(0)} s)`)
  return chunks
}

/** A second, read-only connection to the cabinet, keyed as the store keys it, for the baseline. */
async function openRaw (dir: string): Promise<Db> {
  const paths = cabinetPaths(dir, NAME)
  const key = await unlockKeyring(paths.keyring, PASSPHRASE, NAME)
  const keyArg = Buffer.concat([Buffer.from('raw:'), key])
  zeroize(key)
  const db = new Database(paths.cabinet, { readonly: true, fileMustExist: true }) as unknown as Db
  db.pragma("cipher='sqlcipher'")
  db.pragma('legacy=4')
  ;(db as unknown as { key: (k: Buffer) => number }).key(keyArg)
  zeroize(keyArg)
  sqliteVec.load(db)
  return db
}

/** The baseline: FTS5's own BM25 ranking (plus KNN for hybrid), and the top chunks with their documents. */
function makeBaseline (db: Db, topK: number): (query: string, vector: Float32Array | null) => number {
  const fts = db.prepare('SELECT rowid AS id FROM chunk_fts WHERE chunk_fts MATCH ? ORDER BY rank LIMIT ?').pluck()
  const knn = db.prepare('SELECT rowid AS id FROM chunk_vectors WHERE embedding MATCH ? AND k = ? ORDER BY distance').pluck()
  const fetch = db.prepare(`SELECT c.id, c.text, d.path, d.title FROM chunks c JOIN documents d ON d.content_id = c.content_id
    WHERE c.id IN (SELECT value FROM json_each(?))`)
  return (query, vector) => {
    const terms = queryTerms(query, { ...DEFAULT_TOKENIZER, removeStopWords: true })
    if (terms.length === 0) return 0
    const match = terms.map(t => `"${t.replaceAll('"', '""')}"`).join(' OR ')
    let ids = fts.all(match, vector == null ? topK : FUSION_DEPTH) as number[]
    if (vector != null) {
      const near = (knn.all(vector, FUSION_DEPTH) as Array<number | bigint>).map(Number)
      ids = [...new Set([...ids, ...near])].slice(0, topK)
    }
    return fetch.all(JSON.stringify(ids)).length
  }
}

/**
 * sqlite-vec's KNN reads the whole vector table on every query; in an encrypted file each page read
 * from disk (or the OS cache) is decrypted and authenticated again unless SQLite's page cache holds
 * it. Shown on the raw connection: the default cache (2 MiB) against one that holds the table.
 */
function knnAndPageCache (db: Db, vectors: Float32Array[]): void {
  const knn = db.prepare('SELECT rowid FROM chunk_vectors WHERE embedding MATCH ? AND k = ? ORDER BY distance')
  const sample = vectors.slice(0, 50)
  const measure = (): number => percentile(sample.map(v => {
    const t = performance.now()
    knn.all(v, FUSION_DEPTH)
    return performance.now() - t
  }), 50)
  const defaultMs = measure()
  const cacheKib = db.pragma('cache_size', { simple: true }) as number
  db.pragma('cache_size = -65536')
  measure() // fills the cache
  const bigMs = measure()
  db.pragma(`cache_size = ${cacheKib}`)
  console.log(`sqlite-vec KNN alone (k = ${FUSION_DEPTH}), p50: ${defaultMs.toFixed(1)} ms with the default page cache (cache_size ${cacheKib}), ${bigMs.toFixed(1)} ms with a 64 MiB one`)
}

type Series = 'lexical' | 'hybrid' | 'baseline lexical' | 'baseline hybrid'

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      chunks: { type: 'string', default: '100000' },
      queries: { type: 'string', default: '200' },
      dims: { type: 'string', default: '64' },
      'top-k': { type: 'string', default: '10' },
      seed: { type: 'string', default: '3' },
      keep: { type: 'string' }
    }
  })
  const target = Number(values.chunks)
  const dims = Number(values.dims)
  const topK = Number(values['top-k'])
  const seed = Number(values.seed)
  const vocab = new Vocabulary()
  const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'plexus-bench-query-'))
  let store: CabinetStore | null = null
  let raw: Db | null = null
  try {
    if (values.keep != null && CabinetStore.exists(dir, NAME)) {
      store = await CabinetStore.open(dir, NAME, PASSPHRASE)
      console.log(`reusing the cabinet in ${dir}`)
    } else {
      mkdirSync(dir, { recursive: true })
      store = await CabinetStore.create(dir, NAME, PASSPHRASE, { kdf: CHEAP_KDF, synchronous: 'NORMAL' })
      console.log(`building an encrypted cabinet of ${target} chunks in ${dir}`)
      build(store, target, dims, seed, vocab)
    }
    const stats = store.stats()
    console.log(`cabinet: ${stats.documents} documents, ${stats.chunks} chunks, ${stats.vectors} vectors of ${stats.embeddingModel?.dims ?? '-'} dims, ${(stats.fileBytes / 1e6).toFixed(0)} MB`)
    if (stats.chunks < target * 0.99 || stats.vectors !== stats.chunks) throw new Error('the cabinet is incomplete; remove it and run again')
    // Reopen, so the measurements start from a freshly unlocked cabinet, and time its first search:
    // it loads the chunk lengths BM25 needs (retrieval/chunk-lengths.ts) with one scan of the table.
    store.close()
    store = await CabinetStore.open(dir, NAME, PASSPHRASE)
    const coldStart = performance.now()
    store.search({ query: 'first search after unlocking', mode: 'lexical' })
    const coldMs = performance.now() - coldStart
    raw = await openRaw(dir)
    const baseline = makeBaseline(raw, topK)

    const rng = new Rng(seed + 1)
    const queries = makeQueries(vocab, Number(values.queries), seed + 2)
    const vectors = queries.map(() => randomUnitVector(rng, stats.embeddingModel?.dims ?? dims))
    const s = store
    const run: Record<Series, (i: number) => number> = {
      lexical: i => s.search({ query: queries[i]!, topK, mode: 'lexical' }).hits.length,
      hybrid: i => s.search({ query: queries[i]!, topK, mode: 'hybrid', queryVector: vectors[i]! }).hits.length,
      'baseline lexical': i => baseline(queries[i]!, null),
      'baseline hybrid': i => baseline(queries[i]!, vectors[i]!)
    }
    const series = Object.keys(run) as Series[]

    // Warm-up: the first 20 queries in every mode (JIT, statements, page cache), not measured.
    for (let i = 0; i < Math.min(20, queries.length); i++) for (const name of series) run[name](i)

    // Query by query, every series in a rotating order, so load from other processes hits all alike.
    const ms: Record<Series, number[]> = { lexical: [], hybrid: [], 'baseline lexical': [], 'baseline hybrid': [] }
    const hits: Record<Series, number> = { lexical: 0, hybrid: 0, 'baseline lexical': 0, 'baseline hybrid': 0 }
    const started = performance.now()
    for (let i = 0; i < queries.length; i++) {
      for (let j = 0; j < series.length; j++) {
        const name = series[(i + j) % series.length]!
        const t = performance.now()
        hits[name] += run[name](i)
        ms[name].push(performance.now() - t)
      }
    }
    console.log(`${queries.length} queries × ${series.length} series in ${((performance.now() - started) / 1000).toFixed(1)} s; e.g. ${queries.slice(0, 4).map(q => `"${q}"`).join(', ')}`)
    console.log('')
    const p50 = (name: Series): number => percentile(ms[name], 50)
    console.log(formatTable(['series', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'mean hits', 'p50 vs baseline'], series.map(name => [
      name,
      fmt(p50(name), 2),
      fmt(percentile(ms[name], 90), 2),
      fmt(percentile(ms[name], 99), 2),
      fmt(Math.max(...ms[name]), 1),
      fmt(hits[name] / queries.length, 1),
      name.startsWith('baseline') ? '' : fmt(p50(name) / p50(`baseline ${name}` as Series), 2)
    ])))
    console.log(`first lexical search after unlocking (loads the chunk lengths): ${coldMs.toFixed(0)} ms`)
    knnAndPageCache(raw, vectors)
    console.log('')
    for (const mode of ['lexical', 'hybrid'] as const) {
      const ok = p50(mode) < GOAL_P50_MS[mode]
      console.log(`GOAL ${mode} p50 ${p50(mode).toFixed(2)} ms < ${GOAL_P50_MS[mode]} ms: ${ok ? 'MET' : 'NOT MET'} (p99 ${percentile(ms[mode], 99).toFixed(2)} ms)`)
    }
  } finally {
    raw?.close()
    store?.close()
    if (values.keep == null && existsSync(dir)) rmSync(dir, { recursive: true, force: true })
  }
}

await main()
