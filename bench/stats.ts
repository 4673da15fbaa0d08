/**
 * Federated statistics benchmark (issue 6): query latency on an N-node devnet for a mean and for a
 * logistic regression, against the same statistic computed locally on the pooled data in the same
 * run.
 *
 * N nodes on 127.0.0.1 (random ports, no mDNS, one network id, all bootstrapping to node 0):
 * whole `PlexusNode`s (HTTP API, no model) **in this process** by default, or with `--procs` one
 * `plexus start --no-embedded-model` child process each (the launcher's one libuv thread each).
 * The diabetes data (442 rows) is split round robin into N sites, each registered on its node
 * through `POST /api/plexus/data`; node 0 also holds the pooled rows as a second dataset. Node 0
 * is the analyst. Default site policy: every function auto-approved, any analyst of the network.
 * Repeating a query is allowed by the differencing rule (the same subset each time).
 *
 * Each repetition runs every path once, in a rotated order:
 * - `local`: the statistic on the pooled rows in this process — DuckDB `avg()` over a table
 *   loaded from the pooled CSV (as a site loads its file), or `fitGlm` with `siteStatistics` over
 *   the pooled rows in memory (the same IRLS the analyst runs);
 * - `one node`: node 0 answering over the pooled dataset alone (`peers: ['self']`) through
 *   `POST /api/plexus/stats/query` — the HTTP path and the site's computation without fan-out;
 * - in-process only, diagnostic: one compute step of every site (`StatsSite.answer`) called one
 *   after the other, no network, no pooling — the sites' own work in one round;
 * - in-process only: `StatsService.query` on node 0 (all N sites, no HTTP);
 * - `federated HTTP`: `POST /api/plexus/stats/query` on node 0 (all N sites);
 * - `secure HTTP`: the same with `secure: true` (Bonawitz secure sums, a probe step first).
 * Mean: 3 columns (bmi, bp, s5). Regression: binomial, sex = 2 on bmi, s4, s5. Reported: p50 and
 * p90 per path, ratios to the local computation and to the one-node path, the largest relative
 * difference of the results from the local ones, and whether the mean meets the < 200 ms goal.
 *
 * In-process caveat: the N nodes share one event loop and one libuv pool (and this machine's 2
 * cores), so the sites' JavaScript work during a fan-out is serialized; with `--procs` it
 * overlaps only as far as the cores allow. Load (os.loadavg at start and end, other processes'
 * CPU per repetition) is printed.
 *
 * Run: `npm run bench -- stats [--nodes 10] [--reps 30] [--warmup 3] [--procs] [--json]`.
 *
 * @packageDocumentation
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DuckDBInstance } from '@duckdb/node-api'
import { multiaddr } from '@multiformats/multiaddr'
import { DIABETES_COLUMNS, loadDiabetes } from '../src/analytics/diabetes.js'
import { fitGlm, siteStatistics } from '../src/analytics/glm.js'
import type { QueryAnswer } from '../src/analytics/service.js'
import { silentLogger } from '../src/logger.js'
import { PlexusNode } from '../src/node/node.js'
import { cpuMeter } from './lib/cpu-meter.js'
import { log } from './lib/federated.js'
import { percentile } from './lib/percentile.js'
import { startPlexusProcess } from './lib/plexus-process.js'
import type { PlexusProcess } from './lib/plexus-process.js'
import { NOISY_CORES } from './lib/quiet.js'
import { fmt, formatTable, median } from './lib/stats.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const NETWORK = 'stats-bench'
const HEADER = [...DIABETES_COLUMNS, 'progression']
const MEAN_COLUMNS = ['bmi', 'bp', 's5']
const LOGIT_PREDICTORS = ['bmi', 's4', 's5']
const MEAN_QUERY = { fn: 'mean', columns: MEAN_COLUMNS }
const LOGIT_QUERY = { fn: 'glm', family: 'binomial', success: 2, columns: ['sex', ...LOGIT_PREDICTORS] }
const GOAL_MEAN_MS = 200

type Row = Record<string, number>
type Stat = 'mean' | 'logit'

interface BenchNode {
  node: PlexusNode
  url: string
  dir: string
}

/**
 * One way of computing a statistic; `run` returns the numbers (means, or coefficients) for the
 * agreement check, or null for a diagnostic part of the computation.
 */
interface Path {
  stat: Stat
  name: string
  run: () => Promise<number[] | null>
}

/** The running nodes, whichever way they were started. */
interface Cluster {
  urls: string[]
  /** In-process mode: the nodes themselves (for StatsService.query and the sites' own timings). */
  nodes: PlexusNode[] | null
  startMs: number
  peersMs: number
  stop: () => Promise<void>
}

interface PathResult {
  stat: Stat
  path: string
  n: number
  p50: number
  p90: number
  /** p50 ÷ the local p50 of the same statistic. */
  vsLocal: number
  /** p50 ÷ the one-node p50 of the same statistic. */
  vsOneNode: number
  /** Largest relative difference of its numbers from the local computation (null: diagnostic row). */
  maxRelDiff: number | null
}

function writeCsv (path: string, rows: Row[]): void {
  writeFileSync(path, [HEADER.join(','), ...rows.map((r) => HEADER.map((h) => r[h]).join(','))].join('\n') + '\n')
}

async function startNode (bootstrap: string[]): Promise<BenchNode> {
  const dir = mkdtempSync(join(tmpdir(), 'plexus-statsbench-'))
  const node = await PlexusNode.create({
    dataDir: dir,
    logger: silentLogger(),
    writeRuntimeFile: false,
    embeddedModel: false,
    config: {
      api: { host: '127.0.0.1', port: 0 },
      network: { host: '127.0.0.1', port: 0, mdns: false, networkId: NETWORK, bootstrap }
    }
  })
  return { node, url: await node.start(), dir }
}

async function postJson (url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const text = await res.text()
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${text.slice(0, 500)}`)
  return JSON.parse(text)
}

/** Polls until `known()` reaches `want`, calling `nudge` every 3 s meanwhile; returns the wait in ms. */
async function waitForPeers (known: () => Promise<number>, want: number, nudge: () => void, timeoutMs = 90_000): Promise<number> {
  const t0 = performance.now()
  let lastNudge = t0
  let have = 0
  while ((have = await known()) < want) {
    const now = performance.now()
    if (now - t0 > timeoutMs) throw new Error(`the analyst knows ${have} of ${want} peers after ${timeoutMs} ms`)
    if (now - lastNudge > 3_000) {
      lastNudge = now
      nudge()
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return performance.now() - t0
}

/** Starts the next node at most every 250 ms: libp2p refuses more than 5 inbound connections per second from one address. */
async function paced<T> (start: () => Promise<T>): Promise<T> {
  const t0 = performance.now()
  const x = await start()
  const wait = 250 - (performance.now() - t0)
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  return x
}

/** N whole nodes in this process; isolated ones are redialled to node 0 while waiting. */
async function inProcessCluster (n: number): Promise<Cluster> {
  const nodes: BenchNode[] = []
  const stop = async (): Promise<void> => {
    for (const b of [...nodes].reverse()) {
      await b.node.stop({ graceMs: 0 }).catch(() => {})
      rmSync(b.dir, { recursive: true, force: true })
    }
  }
  try {
    const t0 = performance.now()
    nodes.push(await paced(async () => await startNode([])))
    const analyst = nodes[0]!.node.network!
    const bootstrap = analyst.multiaddrs()
    for (let i = 1; i < n; i++) nodes.push(await paced(async () => await startNode(bootstrap)))
    const startMs = performance.now() - t0
    const peersMs = await waitForPeers(async () => analyst.table.size, n - 1, () => {
      for (const b of nodes.slice(1)) {
        const net = b.node.network!
        if (net.libp2p.getConnections().length === 0) void net.libp2p.dial(multiaddr(bootstrap[0]!)).catch(() => {})
      }
    })
    return { urls: nodes.map((b) => b.url), nodes: nodes.map((b) => b.node), startMs, peersMs, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** N `plexus start --no-embedded-model` child processes (launcher: one libuv thread each). */
async function processCluster (n: number, root: string): Promise<Cluster> {
  const procs: PlexusProcess[] = []
  const stop = async (): Promise<void> => { await Promise.all(procs.map(async (p) => { await p.stop() })) }
  try {
    const config = { network: { networkId: NETWORK } }
    const t0 = performance.now()
    const first = await paced(async () => await startPlexusProcess({ root, args: ['--no-embedded-model'], config }))
    procs.push(first)
    const bootstrap = first.multiaddrs[0]
    if (bootstrap == null) throw new Error('node 0 printed no multiaddr')
    for (let i = 1; i < n; i++) procs.push(await paced(async () => await startPlexusProcess({ root, args: ['--no-embedded-model', '--bootstrap', bootstrap], config })))
    const startMs = performance.now() - t0
    const peersMs = await waitForPeers(async () => {
      const body = await (await fetch(`${first.url}/api/plexus/peers`)).json() as { peers?: unknown[] }
      return body.peers?.length ?? 0
    }, n - 1, () => {})
    return { urls: procs.map((p) => p.url), nodes: null, startMs, peersMs, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** The numbers of a pooled answer: means of the columns, or the coefficients. */
function numbersOf (answer: QueryAnswer | Record<string, unknown>): number[] {
  const a = answer as { complete?: boolean, pooled?: { groups?: Array<{ values: Array<{ value: number }> }>, terms?: Array<{ estimate: number }> } | null, sites?: unknown }
  if (a.complete !== true || a.pooled == null) throw new Error(`incomplete answer: ${JSON.stringify(a.sites).slice(0, 500)}`)
  if (a.pooled.terms != null) return a.pooled.terms.map((t) => t.estimate)
  return (a.pooled.groups?.[0]?.values ?? []).map((v) => v.value)
}

function maxRelDiff (a: number[], b: number[]): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY
  return Math.max(0, ...a.map((x, i) => Math.abs(x - b[i]!) / Math.max(1, Math.abs(b[i]!))))
}

function loadLine (): string {
  return loadavg().map((x) => x.toFixed(2)).join(' / ')
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '10' },
      reps: { type: 'string', default: '30' },
      warmup: { type: 'string', default: '3' },
      procs: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false }
    }
  })
  const n = Number(values.nodes)
  const reps = Number(values.reps)
  const warmup = Number(values.warmup)
  if (!Number.isInteger(n) || n < 3 || n > 64) throw new Error('--nodes must be an integer in 3..64 (secure aggregation needs 3 sites)')
  if (!Number.isInteger(reps) || reps < 1 || !Number.isInteger(warmup) || warmup < 0) throw new Error('--reps must be ≥ 1 and --warmup ≥ 0')
  const mode = values.procs ? 'procs' : 'in-process'
  const loadStart = loadavg()
  log(`# federated statistics benchmark — ${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} cores, Node ${process.version}`)
  log(`  load average (1/5/15 min) at start: ${loadLine()}`)
  log(values.procs
    ? `  ${n} nodes as \`plexus start --no-embedded-model\` child processes (UV_THREADPOOL_SIZE=1 each) on 127.0.0.1, no mDNS, bootstrap to node 0`
    : `  ${n} PlexusNodes in this process on 127.0.0.1 (one event loop, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}), no mDNS, bootstrap to node 0`)
  log(`  diabetes (442 rows) split round robin into ${n} sites; mean of ${MEAN_COLUMNS.join(', ')}; logistic regression sex = 2 ~ ${LOGIT_PREDICTORS.join(' + ')}`)
  log(`  ${reps} repetitions (every path once each, rotated order) after ${warmup} warm-up`)

  const root = mkdtempSync(join(tmpdir(), 'plexus-statsbench-data-'))
  let cluster: Cluster | null = null
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    const all: Row[] = loadDiabetes().rows
    const sites: Row[][] = Array.from({ length: n }, () => [])
    all.forEach((r, i) => sites[i % n]!.push(r))
    const pooledCsv = join(root, 'pooled.csv')
    writeCsv(pooledCsv, all)

    cluster = values.procs ? await processCluster(n, ROOT) : await inProcessCluster(n)
    log(`  ${n} nodes started in ${fmt(cluster.startMs)} ms; the analyst knew all ${n - 1} peers ${fmt(cluster.peersMs)} ms later`)
    for (const [i, url] of cluster.urls.entries()) {
      const file = join(root, `site-${i}.csv`)
      writeCsv(file, sites[i]!)
      await postJson(`${url}/api/plexus/data`, { name: 'diabetes', path: file })
    }
    const analystUrl = cluster.urls[0]!
    await postJson(`${analystUrl}/api/plexus/data`, { name: 'diabetes_pooled', path: pooledCsv })
    log(`  site sizes: ${sites.map((s) => s.length).join(', ')} rows`)
    log()

    // Baselines in this process.
    await conn.run(`CREATE TABLE pooled AS SELECT * FROM read_csv('${pooledCsv.replace(/'/g, "''")}', header = true)`)
    const meanSql = `SELECT ${MEAN_COLUMNS.map((c) => `avg(${c}) AS ${c}`).join(', ')} FROM pooled`
    const p = LOGIT_PREDICTORS.length + 1
    const lx = new Float64Array(all.length * p)
    const ly = new Float64Array(all.length)
    all.forEach((row, i) => {
      lx[i * p] = 1
      LOGIT_PREDICTORS.forEach((c, j) => { lx[i * p + j + 1] = row[c]! })
      ly[i] = row.sex === 2 ? 1 : 0
    })

    const http = (query: Record<string, unknown>, dataset: string, extra: Record<string, unknown> = {}) => async (): Promise<number[]> => {
      const answer = await postJson(`${analystUrl}/api/plexus/stats/query`, { dataset, ...query, ...extra }) as { secure?: boolean, sites?: Array<{ result?: unknown }> }
      // A secure answer must say so and carry no per-site results.
      if (extra.secure === true && (answer.secure !== true || (answer.sites ?? []).some((x) => x.result != null))) throw new Error('a secure query came back without secure aggregation')
      return numbersOf(answer as Record<string, unknown>)
    }
    const local: Record<Stat, Path> = {
      mean: {
        stat: 'mean',
        name: 'local DuckDB avg (pooled table)',
        run: async () => {
          const row = (await conn.runAndReadAll(meanSql)).getRowObjectsJS()[0] ?? {}
          return MEAN_COLUMNS.map((c) => Number(row[c]))
        }
      },
      logit: {
        stat: 'logit',
        name: 'local fitGlm (pooled rows)',
        run: async () => [...(await fitGlm('binomial', p, (beta) => [siteStatistics('binomial', lx, ly, p, beta)])).coefficients]
      }
    }
    const queries: Record<Stat, Record<string, unknown>> = { mean: MEAN_QUERY, logit: LOGIT_QUERY }
    const paths: Path[] = []
    for (const stat of ['mean', 'logit'] as const) {
      const q = queries[stat]
      paths.push(local[stat], { stat, name: 'one node, pooled data, HTTP', run: http(q, 'diabetes_pooled', { peers: ['self'] }) })
      const nodes = cluster.nodes
      if (nodes != null) {
        const stats = nodes[0]!.stats!
        const analystId = stats.selfId
        // One compute step of every site, called directly one after the other (no network, no
        // pooling): the sites' own work in one round (β = 0 for the regression's first round).
        const step = { op: 'compute', query: { dataset: 'diabetes', ...q }, levels: {}, ...(stat === 'logit' ? { beta: new Array<number>(p).fill(0) } : {}) }
        paths.push(
          { stat, name: `  (${n} sites' compute step, sequential, no network)`, run: async () => { for (const x of nodes) await x.stats!.site.answer(analystId, step); return null } },
          { stat, name: 'federated, StatsService.query', run: async () => numbersOf(await stats.query({ dataset: 'diabetes', ...q })) }
        )
      }
      paths.push(
        { stat, name: 'federated, HTTP', run: http(q, 'diabetes') },
        { stat, name: 'federated secure, HTTP', run: http(q, 'diabetes', { secure: true }) }
      )
    }

    for (let w = 0; w < warmup; w++) for (const path of paths) await path.run()
    const times = new Map<Path, number[]>(paths.map((x) => [x, []]))
    const last = new Map<Path, number[] | null>()
    const foreign: number[] = []
    for (let r = 0; r < reps; r++) {
      const meter = cpuMeter()
      for (let k = 0; k < paths.length; k++) {
        const path = paths[(k + r) % paths.length]!
        const s = performance.now()
        const numbers = await path.run()
        times.get(path)!.push(performance.now() - s)
        last.set(path, numbers)
      }
      // In-process, this process's CPU includes the nodes'; with child processes it does not,
      // so there "other processes" includes the nodes.
      const f = meter.stop().foreign
      if (f != null) foreign.push(f)
    }
    const logit = await postJson(`${analystUrl}/api/plexus/stats/query`, { dataset: 'diabetes', ...LOGIT_QUERY }) as { pooled?: { iterations?: number } }

    const results: PathResult[] = []
    for (const stat of ['mean', 'logit'] as const) {
      const mine = paths.filter((x) => x.stat === stat)
      const [base, one] = [mine[0]!, mine[1]!]
      const p50 = (x: Path): number => percentile(times.get(x)!, 50)
      for (const x of mine) {
        const got = last.get(x)
        results.push({
          stat,
          path: x.name.trim(),
          n: times.get(x)!.length,
          p50: p50(x),
          p90: percentile(times.get(x)!, 90),
          vsLocal: p50(x) / p50(base),
          vsOneNode: p50(x) / p50(one),
          maxRelDiff: got == null ? null : maxRelDiff(got, last.get(base) ?? [])
        })
      }
      log(`## ${stat === 'mean' ? `mean of ${MEAN_COLUMNS.length} columns` : `logistic regression (${logit.pooled?.iterations ?? '?'} IRLS rounds of site statistics)`}, ${n} sites, ${mode}`)
      log(formatTable(
        ['path', 'n', 'p50 ms', 'p90 ms', '÷ local', '÷ one node', 'max rel. diff vs local'],
        mine.map((x, i) => {
          const r = results[results.length - mine.length + i]!
          return [x.name, String(r.n), fmt(r.p50, 2), fmt(r.p90, 2), fmt(r.vsLocal, 1), fmt(r.vsOneNode, 2), r.maxRelDiff == null ? '' : r.maxRelDiff.toExponential(1)]
        })
      ))
      log()
    }
    const meanHttp = results.find((x) => x.stat === 'mean' && x.path === 'federated, HTTP')!
    log(`goal: mean over ${n} sites on loopback, p50 < ${GOAL_MEAN_MS} ms: ${fmt(meanHttp.p50, 1)} ms — ${meanHttp.p50 < GOAL_MEAN_MS ? 'met' : 'NOT met'}`)
    const noisy = foreign.filter((f) => f > NOISY_CORES).length
    log(`CPU of ${values.procs ? 'processes other than this one (the nodes included)' : 'other processes'} per repetition: median ${fmt(median(foreign), 2)} cores, ${noisy} of ${foreign.length} repetitions above ${NOISY_CORES}`)
    log(`load average (1/5/15 min) at end: ${loadLine()}`)
    if (values.json) {
      log(JSON.stringify({ mode, nodes: n, reps, warmup, loadStart, loadEnd: loadavg(), startMs: cluster.startMs, peersMs: cluster.peersMs, foreignMedian: median(foreign), noisyReps: noisy, goalMeanMs: GOAL_MEAN_MS, results }))
    }
  } finally {
    conn.closeSync()
    db.closeSync()
    await cluster?.stop()
    rmSync(root, { recursive: true, force: true })
  }
}

await main()
