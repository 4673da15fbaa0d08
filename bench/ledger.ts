/**
 * Ledger: receipts appended per second with both signatures verified, against the machine's own
 * bound measured in the same run; inclusion proofs at a million leaves.
 *
 * - **Bound**: Ed25519 verifications per second on one core (node:crypto, cached public keys,
 *   the receipts' own signing bytes precomputed), ÷ 2 — a receipt carries two signatures. The log
 *   runs on one core too (better-sqlite3 is synchronous), so bound and log are compared core for
 *   core. Goal (issue 7): ≥ 0.9 of the bound, i.e. the log itself costs under 10 %.
 * - **Log**: `LedgerLog.appendMany` into a fresh SQLite file (WAL), in batches (default 100) and
 *   one receipt per transaction, from parsed JSON as a peer would send it: zod, both signatures,
 *   canonical bytes, leaf hash, the entry and its tree nodes in one transaction.
 * - **Proofs at 1M leaves**: an in-memory tree of 1,000,000 leaves, and the same tree in a ledger
 *   file (synthetic entries, since a million real receipts would take minutes of signing): time to
 *   build an inclusion proof (memory and SQLite), to verify one, and its size.
 *
 * Rates are per CPU second of this process (user + system: better-sqlite3 is synchronous and
 * in-process, so the log's SQLite work is counted; a WAL commit without fsync waits on no disk),
 * steadier than wall time on a shared machine. Proof timings are wall clock. Bound and log are
 * measured in alternating slices of one batch each (the bound on the batch's receipts, then the
 * log appending them), so a slow spell of the machine (a busy neighbour, a frequency change) falls
 * on both: the ratio of a repetition is its log rate over its bound rate, and the table shows the
 * median ratio over repetitions and each rate's best. The CPU share of other processes is shown
 * (`*` above 0.25 cores: the machine is shared).
 *
 * Run: `npm run bench -- ledger [--receipts 4000] [--batch 100] [--reps 5] [--leaves 1000000] [--json]`.
 *
 * @packageDocumentation
 */
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { verify, type KeyObject } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { mkdtempSync } from 'node:fs'
import { signingBytes } from '../src/crypto/signing.js'
import { LedgerLog } from '../src/ledger/log.js'
import { MerkleTree, leafHash, verifyInclusion } from '../src/ledger/merkle.js'
import { keyOfPeer } from '../src/ledger/peer-keys.js'
import { openLedgerDb, SqliteHashStore } from '../src/ledger/store.js'
import { RECEIPT_COUNTERSIGN_DOMAIN, RECEIPT_DOMAIN } from '../src/ledger/constants.js'
import type { SignedReceipt } from '../src/ledger/receipts.js'
import { makePeer, makeReceipt } from '../test/helpers/ledger.js'
import { cpuMeter, machineLoad } from './lib/cpu-meter.js'
import { noiseMark, waitForQuiet } from './lib/quiet.js'
import { fmt, formatTable, median } from './lib/stats.js'

const GOAL_RATIO = 0.9
const GOAL_VERIFY_MS = 1

const { values: args } = parseArgs({
  options: {
    receipts: { type: 'string', default: '4000' },
    batch: { type: 'string', default: '100' },
    reps: { type: 'string', default: '5' },
    leaves: { type: 'string', default: '1000000' },
    json: { type: 'boolean', default: false }
  }
})
const N = Number(args.receipts)
const BATCH = Number(args.batch)
const REPS = Number(args.reps)
const LEAVES = Number(args.leaves)

function log (line = ''): void {
  if (!args.json) process.stdout.write(`${line}\n`)
}

interface Timed { perSecond: number, foreign: number | null }
interface Paired { bound: Timed, log: Timed, ratio: number }
interface Job { key: KeyObject, data: Uint8Array, sig: Buffer }

/** Both signatures of each receipt, as the bound verifies them: node:crypto and nothing else. */
function boundJobs (receipts: SignedReceipt[]): Job[][] {
  return receipts.map(r => [
    { key: keyOfPeer(r.body.provider)!, data: signingBytes(RECEIPT_DOMAIN, r.body), sig: Buffer.from(r.providerSignature, 'base64url') },
    { key: keyOfPeer(r.body.requester)!, data: signingBytes(RECEIPT_COUNTERSIGN_DOMAIN, { body: r.body, providerSignature: r.providerSignature }), sig: Buffer.from(r.requesterSignature, 'base64url') }
  ])
}

/**
 * One repetition: for each slice of `slice` receipts, the bound verifies their signatures, then
 * the log appends them (`batch` per transaction). CPU time is summed per side.
 */
function pairedRun (dir: string, jobs: Job[][], receipts: unknown[], batch: number, slice: number, owner: ReturnType<typeof makePeer>, rep: number): Paired {
  const file = join(dir, `bench-${batch}-${rep}.db`)
  const ledger = LedgerLog.open({ file, signer: owner })
  let boundS = 0
  let logS = 0
  const meter = cpuMeter()
  for (let i = 0; i < receipts.length; i += slice) {
    const end = Math.min(receipts.length, i + slice)
    let c0 = process.cpuUsage()
    for (let k = i; k < end; k++) for (const j of jobs[k]!) if (!verify(null, j.data, j.key, j.sig)) throw new Error('a bench signature does not verify')
    boundS += cpuSeconds(c0)
    c0 = process.cpuUsage()
    for (let k = i; k < end; k += batch) ledger.appendMany(receipts.slice(k, Math.min(end, k + batch)))
    logS += cpuSeconds(c0)
  }
  const foreign = meter.stop().foreign
  if (ledger.size !== receipts.length) throw new Error('not every receipt was appended')
  ledger.close()
  rmSync(file, { force: true }); rmSync(`${file}-wal`, { force: true }); rmSync(`${file}-shm`, { force: true })
  const bound = receipts.length / boundS
  const log = receipts.length / logS
  return { bound: { perSecond: bound, foreign }, log: { perSecond: log, foreign }, ratio: log / bound }
}

/** CPU seconds of this process (user + system) since `c0`: steadier than wall time on a shared machine. */
function cpuSeconds (c0: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(c0)
  return (u.user + u.system) / 1e6
}

function best (runs: Timed[]): Timed {
  return runs.reduce((a, b) => (b.perSecond > a.perSecond ? b : a))
}

async function main (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'plexus-bench-ledger-'))
  try {
    const startLoad = await machineLoad(1000)
    log(`ledger bench: ${N} receipts, batches of ${BATCH}, ${REPS} repetitions; ${LEAVES.toLocaleString('en')} leaves for proofs`)
    log(`machine load before the run: ${fmt(startLoad, 2)} cores busy`)
    const owner = makePeer()
    const peers = Array.from({ length: 8 }, () => makePeer())
    const kinds = ['inference', 'fl-round', 'stats-query'] as const
    const signed = Array.from({ length: N }, (_, i) => makeReceipt(peers[i % 4]!, peers[4 + (i % 4)]!, kinds[i % 3]))
    // As a peer sends them: parsed JSON, not the objects that were signed.
    const wire = (): unknown[] => signed.map(r => JSON.parse(JSON.stringify(r)) as unknown)
    await waitForQuiet()

    const jobs = boundJobs(signed)
    const batchedRuns: Paired[] = []
    const singleRuns: Paired[] = []
    for (let rep = 0; rep < REPS; rep++) {
      batchedRuns.push(pairedRun(dir, jobs, wire(), BATCH, BATCH, owner, rep))
      singleRuns.push(pairedRun(dir, jobs, wire(), 1, BATCH, owner, rep))
    }
    const b = best([...batchedRuns, ...singleRuns].map(r => r.bound))
    const lb = best(batchedRuns.map(r => r.log))
    const l1 = best(singleRuns.map(r => r.log))
    const ratioB = median(batchedRuns.map(r => r.ratio))
    const ratio1 = median(singleRuns.map(r => r.ratio))
    log()
    log(formatTable(['', 'receipts per CPU s (best)', 'vs bound (median of paired)', 'foreign cores'], [
      ['bound: 2 Ed25519 verifications per receipt, 1 core', fmt(b.perSecond), '1.00', `${fmt(b.foreign, 2)}${noiseMark(b.foreign)}`],
      [`log: appendMany, ${BATCH} per transaction`, fmt(lb.perSecond), fmt(ratioB, 2), `${fmt(lb.foreign, 2)}${noiseMark(lb.foreign)}`],
      ['log: append, 1 per transaction', fmt(l1.perSecond), fmt(ratio1, 2), `${fmt(l1.foreign, 2)}${noiseMark(l1.foreign)}`]
    ]))
    log(`paired ratios (batched), per repetition: ${batchedRuns.map(r => fmt(r.ratio, 3)).join(' ')}`)
    log(`goal: ≥ ${GOAL_RATIO} of the bound (batched) — ${ratioB >= GOAL_RATIO ? 'met' : 'NOT met'}`)

    // Proofs at a million leaves.
    const tree = new MerkleTree()
    const h = new Uint8Array(32)
    const tb = performance.now()
    for (let i = 0; i < LEAVES; i++) { new DataView(h.buffer).setUint32(0, i); tree.appendLeafHash(leafHash(h)) }
    const buildS = (performance.now() - tb) / 1000
    const root = tree.root()
    const samples = 2000
    const indexes = Array.from({ length: samples }, (_, i) => Math.floor(((i * 2654435761) % 2 ** 32) / 2 ** 32 * LEAVES))
    const genUs: number[] = []
    const verUs: number[] = []
    let proofBytes = 0
    for (const idx of indexes) {
      new DataView(h.buffer).setUint32(0, idx)
      const lh = leafHash(h)
      const t0 = performance.now()
      const proof = tree.inclusionProof(idx)
      const t1 = performance.now()
      const ok = verifyInclusion(lh, idx, LEAVES, proof, root)
      const t2 = performance.now()
      if (!ok) throw new Error('proof failed')
      genUs.push((t1 - t0) * 1000)
      verUs.push((t2 - t1) * 1000)
      proofBytes = Math.max(proofBytes, proof.length * 32)
    }
    // The same tree as a ledger file (synthetic entries: only the hashes matter to proofs).
    const file = join(dir, 'million.db')
    const db = openLedgerDb(file)
    const ts = performance.now()
    const insert = db.prepare('INSERT INTO entries (idx, id, data, leaf_hash) VALUES (?, ?, ?, ?)')
    const stored = new MerkleTree(new SqliteHashStore(db))
    db.transaction(() => {
      for (let i = 0; i < LEAVES; i++) {
        const lh = tree.leafHashAt(i)
        insert.run(i, `synthetic-${i}`, '{}', lh)
        stored.appendLeafHash(lh)
      }
    })()
    const storeS = (performance.now() - ts) / 1000
    const sqlUs: number[] = []
    for (const idx of indexes.slice(0, 500)) {
      const t0 = performance.now()
      const proof = stored.inclusionProof(idx)
      sqlUs.push((performance.now() - t0) * 1000)
      if (proof.length !== tree.inclusionProof(idx).length) throw new Error('stored proof differs')
    }
    if (Buffer.compare(stored.root(), root) !== 0) throw new Error('stored root differs')
    db.close()
    const consistency = tree.consistencyProof(Math.floor(LEAVES * 0.7))
    log()
    log(`inclusion proofs at ${LEAVES.toLocaleString('en')} leaves (${samples} random leaves; tree built in memory in ${fmt(buildS, 1)} s, in SQLite in ${fmt(storeS, 1)} s):`)
    log(formatTable(['', 'median µs', 'p99 µs'], [
      ['verify (RFC 9162 §2.1.3.2)', fmt(median(verUs), 1), fmt(pct(verUs, 0.99), 1)],
      ['build, memory tree', fmt(median(genUs), 1), fmt(pct(genUs, 0.99), 1)],
      ['build, SQLite ledger file', fmt(median(sqlUs), 1), fmt(pct(sqlUs, 0.99), 1)]
    ]))
    log(`proof size: ${proofBytes} bytes (${proofBytes / 32} hashes; ${proofBytes * 2} as hex on the wire); a consistency proof from 70 % is ${consistency.length} hashes`)
    log(`goal: verification < ${GOAL_VERIFY_MS} ms — ${median(verUs) / 1000 < GOAL_VERIFY_MS ? 'met' : 'NOT met'} (${fmt(GOAL_VERIFY_MS * 1000 / median(verUs), 0)}x under)`)
    const endLoad = await machineLoad(1000)
    log(`machine load after the run: ${fmt(endLoad, 2)} cores busy`)
    if (args.json) {
      process.stdout.write(`${JSON.stringify({
        receipts: N, batch: BATCH, boundPerSecond: b.perSecond, batchedPerSecond: lb.perSecond, singlePerSecond: l1.perSecond,
        batchedRatio: ratioB, singleRatio: ratio1, batchedRatios: batchedRuns.map(r => r.ratio),
        leaves: LEAVES, verifyUsMedian: median(verUs), buildUsMedian: median(genUs), sqliteBuildUsMedian: median(sqlUs), proofBytes,
        loadBefore: startLoad, loadAfter: endLoad, foreign: { bound: b.foreign, batched: lb.foreign, single: l1.foreign }
      })}\n`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function pct (values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

await main()
