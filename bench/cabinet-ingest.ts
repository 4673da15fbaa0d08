/**
 * Cabinet ingest throughput: MB/s of source files ingested (walk, hash, parse, chunk, tokenize,
 * store) into an encrypted cabinet, against the same code on an unencrypted SQLite file
 * (`CabinetStore.createUnencryptedForBenchmark`) in the same run. Goal: encrypted ≥ 0.8 × plain.
 *
 * The corpus (`lib/cabinet-corpus.ts`: markdown and text, English-like) is generated into a temporary
 * folder once. Each repetition ingests all of it into a fresh cabinet of each kind, alternating
 * which goes first, and medians are compared. Part 1 times the whole path with {@link ingestFiles},
 * which does what `CabinetService.ingest` does (same functions, order and transactions) on a store it
 * is handed, so both stores run the same code; one extra run of `CabinetService.ingest` itself on an
 * encrypted cabinet checks that it represents the service. Part 2 isolates the storage step
 * (`upsertDocument` of pre-parsed, pre-chunked documents) where encryption is actually paid, and
 * shows what fsync per commit and per-document transactions cost there.
 *
 * Besides wall time, each run reports the CPU seconds of the process (all threads): on a shared
 * machine, wall time carries other people's load, CPU time much less. Key derivation (scrypt) runs
 * when a cabinet is created and is not timed; cheap parameters keep creating cabinets fast. Nothing
 * fails on absolute times; goals are printed as MET / NOT MET.
 *
 * Run: `npm run bench -- cabinet-ingest [--mb 20] [--reps 3] [--seed 1] [--store-docs 600]
 * [--synchronous FULL|NORMAL] [--no-service] [--no-breakdown] [--keep]`.
 *
 * @packageDocumentation
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, sep } from 'node:path'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { CabinetStore, type CabinetStoreOptions, type DocumentInput } from '../src/cabinets/store.js'
import { CabinetService } from '../src/cabinets/service.js'
import { chunkSections, hashFile, isSupportedFile, parseFile, walkFiles } from '../src/cabinets/ingest/index.js'
import { silentLogger } from '../src/logger.js'
import type { ScryptParams } from '../src/cabinets/constants.js'
import { writeCorpus } from './lib/cabinet-corpus.js'
import { fmt, formatTable, median } from './lib/stats.js'

const GOAL_RATIO = 0.8
/** scrypt at its cheapest accepted setting: key derivation is not what is measured. */
const CHEAP_KDF: ScryptParams = { N: 1024, r: 1, p: 1 }
const PASSPHRASE = 'benchmark passphrase'

type StoreKind = 'encrypted' | 'plain'

interface IngestTotals {
  docs: number
  chunks: number
}

/** Wall and CPU seconds of `fn`. */
async function timed<T> (fn: () => Promise<T> | T): Promise<{ value: T, wallS: number, cpuS: number }> {
  const cpu = process.cpuUsage()
  const start = performance.now()
  const value = await fn()
  const wallS = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  return { value, wallS, cpuS: (used.user + used.system) / 1e6 }
}

async function openStore (kind: StoreKind, dir: string, options: CabinetStoreOptions): Promise<CabinetStore> {
  return kind === 'plain'
    ? CabinetStore.createUnencryptedForBenchmark(dir, 'bench', options)
    : await CabinetStore.create(dir, 'bench', PASSPHRASE, { kdf: CHEAP_KDF, ...options })
}

/**
 * What `CabinetService.ingest` does, on a given store: walk the roots; for each supported file look
 * up the stored document, hash, parse (in the parser worker), chunk and upsert it (one transaction
 * per document); then look for vanished documents and append the audit entry. Keep in step with
 * `ingest` and `#ingestFile` in src/cabinets/service.ts.
 */
async function ingestFiles (store: CabinetStore, roots: string[]): Promise<IngestTotals> {
  const files = []
  for await (const f of walkFiles(roots)) files.push(f)
  const totals: IngestTotals = { docs: 0, chunks: 0 }
  for (const file of files) {
    if (!isSupportedFile(file.path)) continue
    const existing = store.getDocumentByPath(file.path)
    const mtime = Math.floor(file.mtimeMs)
    if (existing != null && existing.size === file.size && existing.mtime === mtime) continue
    const sha256 = await hashFile(file.path)
    const parsed = await parseFile(file.path)
    const chunks = sha256 === existing?.sha256 ? [] : chunkSections(parsed.sections, {})
    const result = store.upsertDocument({ path: file.path, title: parsed.title, mime: parsed.mime, mtime, size: file.size, sha256, chunks })
    totals.docs++
    totals.chunks += result.reusedContent ? 0 : result.chunkCount
  }
  for (const doc of store.listDocuments({ limit: Number.MAX_SAFE_INTEGER })) {
    const underRoot = roots.some(r => doc.path.startsWith(r.endsWith(sep) ? r : r + sep))
    if (underRoot && !existsSync(doc.path)) store.removeDocument(doc.path)
  }
  store.appendAudit({ action: 'ingest', caller: null, query: null, resultCount: totals.docs, detail: { paths: roots } })
  return totals
}

type Driver = StoreKind | 'service'

interface Run {
  driver: Driver
  wallS: number
  cpuS: number
  totals: IngestTotals
  fileBytes: number
}

async function ingestRun (driver: Driver, dir: string, corpus: string, options: CabinetStoreOptions): Promise<Run> {
  try {
    if (driver === 'service') {
      const service = new CabinetService({ engine: null, logger: silentLogger() }, { dir, autoLockMs: 0, kdf: CHEAP_KDF })
      await service.create('bench', PASSPHRASE)
      const t = await timed(async () => await service.ingest('bench', [corpus]))
      const fileBytes = service.stats('bench').fileBytes
      await service.stop()
      return { driver, wallS: t.wallS, cpuS: t.cpuS, totals: { docs: t.value.added, chunks: t.value.chunks }, fileBytes }
    }
    const store = await openStore(driver, dir, options)
    try {
      const t = await timed(async () => await ingestFiles(store, [corpus]))
      return { driver, wallS: t.wallS, cpuS: t.cpuS, totals: t.value, fileBytes: store.stats().fileBytes }
    } finally {
      store.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Part 1: the whole ingest path, encrypted vs plain, interleaved. Returns the encrypted/plain ratio of median MB/s. */
async function wholePath (workDir: string, corpus: string, corpusBytes: number, reps: number, withService: boolean, options: CabinetStoreOptions): Promise<number> {
  const mb = corpusBytes / 1e6
  // Warm-up: the parser worker, the JIT and the page cache of the corpus files.
  const warm = await timed(async () => {
    for (const kind of ['encrypted', 'plain'] as const) await ingestRun(kind, join(workDir, `warm-${kind}`), join(corpus, 'd000'), options)
  })
  console.log(`warm-up (first folder, both kinds): ${warm.wallS.toFixed(1)} s`)

  const runs: Run[] = []
  const record = (run: Run, label: string): void => {
    runs.push(run)
    console.log(`  ${label.padEnd(22)} ${run.wallS.toFixed(2).padStart(6)} s wall  ${(mb / run.wallS).toFixed(2).padStart(5)} MB/s  ` +
      `${run.cpuS.toFixed(1).padStart(5)} s CPU  (${run.totals.docs} docs, ${run.totals.chunks} chunks, cabinet ${(run.fileBytes / 1e6).toFixed(1)} MB)`)
  }
  for (let rep = 0; rep < reps; rep++) {
    const order: StoreKind[] = rep % 2 === 0 ? ['encrypted', 'plain'] : ['plain', 'encrypted']
    for (const kind of order) record(await ingestRun(kind, join(workDir, `${kind}-${rep}`), corpus, options), `rep ${rep + 1} ${kind}`)
  }
  if (withService) record(await ingestRun('service', join(workDir, 'service'), corpus, options), 'CabinetService.ingest')

  const of = (d: Driver): Run[] => runs.filter(r => r.driver === d)
  const mbps = (d: Driver): number => median(of(d).map(r => mb / r.wallS))
  const cpuMbps = (d: Driver): number => median(of(d).map(r => mb / r.cpuS))
  const drivers: Driver[] = withService ? ['encrypted', 'plain', 'service'] : ['encrypted', 'plain']
  console.log('')
  console.log(formatTable(['whole path', 'median MB/s', 'runs MB/s', 'vs plain', 'MB per CPU-s', 'vs plain'], drivers.map(d => [
    d === 'service' ? 'service (encrypted, 1 run)' : d,
    fmt(mbps(d), 2),
    of(d).map(r => (mb / r.wallS).toFixed(2)).join(' / '),
    fmt(mbps(d) / mbps('plain'), 3),
    fmt(cpuMbps(d), 2),
    fmt(cpuMbps(d) / cpuMbps('plain'), 3)
  ])))
  return mbps('encrypted') / mbps('plain')
}

/** Documents parsed and chunked ahead, for timing the storage step alone. */
async function prepareDocuments (corpus: string, limit: number): Promise<{ docs: DocumentInput[], bytes: number }> {
  const docs: DocumentInput[] = []
  let bytes = 0
  for await (const file of walkFiles([corpus])) {
    if (docs.length >= limit) break
    if (!isSupportedFile(file.path)) continue
    const parsed = await parseFile(file.path)
    const sha256 = await hashFile(file.path)
    docs.push({ path: file.path, title: parsed.title, mime: parsed.mime, mtime: Math.floor(file.mtimeMs), size: file.size, sha256, chunks: chunkSections(parsed.sections, {}) })
    bytes += file.size
  }
  return { docs, bytes }
}

interface StoreConfig {
  label: string
  synchronous: 'FULL' | 'NORMAL'
  /** Documents per transaction (1: each upsert commits on its own, as the service does). */
  perTransaction: number
}

const STORE_CONFIGS: StoreConfig[] = [
  { label: 'FULL, 1 doc/commit (service)', synchronous: 'FULL', perTransaction: 1 },
  { label: 'NORMAL, 1 doc/commit', synchronous: 'NORMAL', perTransaction: 1 },
  { label: 'FULL, 64 docs/commit', synchronous: 'FULL', perTransaction: 64 }
]

/** Part 2: upsertDocument alone, encrypted vs plain, for each configuration. */
async function storageOnly (workDir: string, corpus: string, docLimit: number, reps: number): Promise<void> {
  const { docs, bytes } = await prepareDocuments(corpus, docLimit)
  const chunks = docs.reduce((n, d) => n + d.chunks.length, 0)
  const mb = bytes / 1e6
  console.log('')
  console.log(`storage only: upsertDocument of ${docs.length} pre-parsed documents (${mb.toFixed(1)} MB of source, ${chunks} chunks)`)
  const times = new Map<string, Array<{ wallS: number, cpuS: number }>>()
  let n = 0
  for (let rep = 0; rep < reps + 1; rep++) {
    for (const config of STORE_CONFIGS) {
      const kinds: StoreKind[] = (rep + n++) % 2 === 0 ? ['encrypted', 'plain'] : ['plain', 'encrypted']
      for (const kind of kinds) {
        const dir = join(workDir, `store-${kind}`)
        const store = await openStore(kind, dir, { synchronous: config.synchronous })
        const t = await timed(() => {
          for (let i = 0; i < docs.length; i += config.perTransaction) {
            const slice = docs.slice(i, i + config.perTransaction)
            if (slice.length === 1) store.upsertDocument(slice[0]!)
            else store.batch(() => { for (const d of slice) store.upsertDocument(d) })
          }
        })
        store.close()
        rmSync(dir, { recursive: true, force: true })
        // Repetition 0 is a warm-up.
        if (rep > 0) times.set(`${config.label}|${kind}`, [...(times.get(`${config.label}|${kind}`) ?? []), { wallS: t.wallS, cpuS: t.cpuS }])
      }
    }
  }
  const med = (key: string, f: (t: { wallS: number, cpuS: number }) => number): number => median((times.get(key) ?? []).map(f))
  const base = `${STORE_CONFIGS[0]!.label}|plain`
  console.log(formatTable(['storage step', 'store', 'median MB/s', 'CPU s', 'enc/plain MB/s', 'enc/plain CPU', 'vs service plain'],
    STORE_CONFIGS.flatMap(c => (['encrypted', 'plain'] as const).map(kind => {
      const key = `${c.label}|${kind}`
      const enc = `${c.label}|encrypted`
      const plain = `${c.label}|plain`
      return [
        c.label, kind,
        fmt(mb / med(key, t => t.wallS), 2),
        fmt(med(key, t => t.cpuS), 2),
        kind === 'encrypted' ? fmt(med(plain, t => t.wallS) / med(enc, t => t.wallS), 3) : '',
        kind === 'encrypted' ? fmt(med(plain, t => t.cpuS) / med(enc, t => t.cpuS), 3) : '',
        fmt(med(base, t => t.wallS) / med(key, t => t.wallS), 2)
      ]
    }))))
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      mb: { type: 'string', default: '20' },
      reps: { type: 'string', default: '3' },
      seed: { type: 'string', default: '1' },
      'store-docs': { type: 'string', default: '600' },
      synchronous: { type: 'string' },
      'no-service': { type: 'boolean', default: false },
      'no-breakdown': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false }
    }
  })
  const reps = Math.max(1, Number(values.reps))
  if (values.synchronous != null && values.synchronous !== 'FULL' && values.synchronous !== 'NORMAL') throw new Error('--synchronous is FULL or NORMAL')
  const options: CabinetStoreOptions = values.synchronous == null ? {} : { synchronous: values.synchronous }
  const workDir = mkdtempSync(join(tmpdir(), 'plexus-bench-ingest-'))
  const corpus = join(workDir, 'corpus')
  try {
    const gen = await timed(() => writeCorpus(corpus, { totalBytes: Math.round(Number(values.mb) * 1e6), seed: Number(values.seed) }))
    const { files, bytes } = gen.value
    console.log(`corpus: ${files} files (markdown and text), ${(bytes / 1e6).toFixed(1)} MB, generated in ${gen.wallS.toFixed(1)} s under ${workDir}`)
    console.log(`whole path: synchronous=${options.synchronous ?? 'FULL (the default)'}, ${reps} repetitions per kind, alternating order`)
    const ratio = await wholePath(workDir, corpus, bytes, reps, values['no-service'] !== true, options)
    if (values['no-breakdown'] !== true) await storageOnly(workDir, corpus, Number(values['store-docs']), reps)
    console.log('')
    console.log(`GOAL encrypted/plain ingest MB/s = ${ratio.toFixed(3)} (goal ≥ ${GOAL_RATIO}): ${ratio >= GOAL_RATIO ? 'MET' : 'NOT MET'}`)
  } finally {
    if (values.keep !== true) rmSync(workDir, { recursive: true, force: true })
  }
}

await main()
