/**
 * Network scale benchmark: N nodes on one machine (127.0.0.1, no mDNS), a few of them bootstrap
 * nodes that every other node lists. Measures how long it takes until every node's peer table
 * holds all N − 1 others (advert convergence over gossipsub), connections per node, memory per
 * node, the CPU an idle node keeps using, and whether a node can reach a peer it is not connected
 * to (what a community request to that peer needs).
 *
 * Modes (`--mode`, comma-separated to run several):
 * - `network` (default): only the p2p part of a node — `PlexusNetwork.start` with a real
 *   `InferenceEngine` over an empty registry — many per process, spread over `--shards` forked
 *   processes (default: one per core). Memory per node is the shards' growth (RSS, heap after GC)
 *   divided by N.
 * - `full`: whole `PlexusNode`s (HTTP API, cabinets, router; no models), sharded the same way.
 * - `procs`: one `plexus start --no-embedded-model` child process per node — real nodes; memory
 *   is the median process RSS. Needs ~175 MiB and ~1.4 s of CPU per node to start.
 *
 * Configurations (`--configs`, default `as-is`): `as-is` is the node as src/ builds it; others add
 * bench patches from bench/lib/p2p-variants.ts (joined with `+`), each standing for a change that
 * was suggested for src/p2p and has since been adopted there: `loopback-p2p` (no gossipsub
 * IP-colocation penalty and no inbound connection rate limit for 127.0.0.1), `advert-on-join`
 * (re-advertise when a new peer's first advert arrives) and `ping-connected` (latency pings only to
 * connected peers). On current src they are redundant; on an older checkout they reproduce the
 * before/after comparison of bench/NETWORK.md.
 *
 * Nodes after the bootstrap nodes are started at `--start-rate` per second: libp2p refuses more
 * than 5 inbound connections per second from one IP address. Convergence is timed from the last
 * start. A node whose bootstrap dials all failed is redialled by the bench every 3 s (libp2p's
 * bootstrap module tries once) and counted.
 *
 * Run: `npm run bench -- network-scale [--sizes 10,30,50] [--mode network|full|procs]
 * [--configs as-is[,VARIANT+VARIANT…]] [--shards N] [--bootstrap-nodes 3]
 * [--start-rate 4] [--interval 15] [--timeout 30] [--json]`.
 *
 * @packageDocumentation
 */
import { availableParallelism, cpus, totalmem } from 'node:os'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { cpuMeter } from './lib/cpu-meter.js'
import { noiseMark, waitForQuiet } from './lib/quiet.js'
import { parseVariants } from './lib/p2p-variants.js'
import type { Variant } from './lib/p2p-variants.js'
import { processCluster, shardCluster } from './lib/scale-cluster.js'
import type { Cluster } from './lib/scale-cluster.js'
import type { ScaleMode } from './lib/scale-nodes.js'
import { fmt, formatTable, median } from './lib/stats.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const MiB = 1024 * 1024

function log (line = ''): void {
  process.stdout.write(`${line}\n`)
}

/** Attempts to reach unconnected peers: how many, how many worked, their times (ms). */
interface Reach { tried: number, ok: number, ms: number[] }

interface SizeResult {
  mode: ScaleMode
  /** `as-is`, or the bench variants applied (`loopback-p2p+advert-on-join`). */
  config: string
  nodes: number
  bootstrapNodes: number
  /** Seconds from the first start to the last node up. */
  startS: number
  /** Seconds after the last start until these fractions of all (node, peer) pairs were known. */
  pairs90S: number | null
  pairs99S: number | null
  convergedS: number | null
  /** Known pairs ÷ N·(N−1) at the end (1 = converged). */
  finalFraction: number
  /** Nodes left without a connection after their bootstrap dials, redialled by the bench. */
  redialled: number
  /** Nodes without any connection at the end of the convergence wait. */
  isolated: number
  connectionsPerNode: number
  /** Event-loop utilisation of the busiest shard while converging (in-process modes). */
  elu: number | null
  rssPerNodeMiB: number
  heapPerNodeMiB: number | null
  /** CPU of one idle node after convergence, ms per second (thousandths of a core). */
  idleCpuMsPerS: number
  /** Leaves pinging leaves they have no connection to: through peer routing (DHT), and given the address. */
  reachDht: Reach | null
  reachWithAddress: Reach | null
  /** Cores used by other processes while converging. */
  foreign: number | null
  error?: string
}

interface RunOptions {
  mode: ScaleMode
  config: string
  n: number
  k: number
  interval: number
  timeoutS: number
  startRate: number
  shards: number
}

async function runSize (o: RunOptions): Promise<SizeResult> {
  const variants: Variant[] = o.config === 'as-is' ? [] : parseVariants(o.config.replace(/\+/g, ','))
  const { mode, n, k } = o
  const networkId = `bench-${mode}-${n}-${process.pid}`
  const result: SizeResult = {
    mode, config: o.config, nodes: n, bootstrapNodes: k, startS: 0, pairs90S: null, pairs99S: null, convergedS: null,
    finalFraction: 0, redialled: 0, isolated: 0, connectionsPerNode: 0, elu: null, rssPerNodeMiB: 0, heapPerNodeMiB: null,
    idleCpuMsPerS: 0, reachDht: null, reachWithAddress: null, foreign: null
  }
  const cluster: Cluster = mode === 'procs' ? processCluster() : await shardCluster(ROOT, o.shards)
  const meter = cpuMeter(() => cluster.cpuSeconds())
  const addrs: Array<{ multiaddr: string, peerId: string }> = []
  try {
    const options = (bootstrap: string[]): Parameters<Cluster['start']>[1] =>
      ({ mode, root: ROOT, bootstrap, advertIntervalSeconds: o.interval, networkId, variants })
    const t0 = performance.now()
    // Bootstrap nodes first, each joining the ones before it; then everyone else lists all of them.
    for (let i = 0; i < Math.min(k, n); i++) addrs[i] = await cluster.start(i, options(addrs.map((a) => a.multiaddr)))
    const boot = addrs.map((a) => a.multiaddr)
    // Paced (libp2p refuses more than 5 inbound connections per second from one IP address).
    const tRest = performance.now()
    await Promise.all(Array.from({ length: n - addrs.length }, async (_, j) => {
      const wait = tRest + j * 1000 / o.startRate - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      const i = k + j
      addrs[i] = await cluster.start(i, options(boot))
    }))
    const tStarted = performance.now()
    result.startS = (tStarted - t0) / 1000
    const want = n * (n - 1)
    const deadline = tStarted + o.timeoutS * 1000
    let lastRedial = tStarted
    let elu: number | null = null
    const redialled = new Set<number>()
    await cluster.status(true)
    while (true) {
      const s = await cluster.status()
      elu = s.elu
      const now = performance.now()
      const known = s.peers.reduce((a, p) => a + Math.max(0, Math.min(p, n - 1)), 0)
      result.finalFraction = known / want
      if (result.finalFraction >= 0.9) result.pairs90S ??= (now - tStarted) / 1000
      if (result.finalFraction >= 0.99) result.pairs99S ??= (now - tStarted) / 1000
      result.isolated = s.connections.filter((c) => c === 0).length
      result.connectionsPerNode = median(s.connections.filter((c) => c >= 0))
      if (known === want) { result.convergedS = (now - tStarted) / 1000; break }
      if (now > deadline) break
      if (now - lastRedial > 3_000 && result.isolated > 0) {
        lastRedial = now
        s.connections.forEach((c, i) => { if (c === 0) redialled.add(i) })
        await cluster.redialIsolated(boot)
      }
      await new Promise((resolve) => setTimeout(resolve, mode === 'procs' ? 250 : 100))
    }
    result.foreign = meter.stop().foreign
    result.redialled = mode === 'procs' ? 0 : redialled.size
    result.elu = mode === 'procs' ? null : elu
    // Idle cost: CPU over 3 s once converged (or given up).
    const c0 = cluster.cpuSeconds()
    const w0 = performance.now()
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    result.idleCpuMsPerS = (cluster.cpuSeconds() - c0) / ((performance.now() - w0) / 1000) / n * 1000
    const mem = await cluster.memoryPerNode()
    result.rssPerNodeMiB = mem.rssMiB
    result.heapPerNodeMiB = mem.heapMiB
    const reach = cluster.reach
    if (reach != null) {
      // Leaf pairs with no connection between them (leaves only know the bootstrap nodes).
      const leaves = Array.from({ length: n - k }, (_, j) => k + j)
      const pairs = (offset: number): Array<[number, number]> => leaves.slice(offset, offset + 5)
        .map((a, j): [number, number] => [a, leaves[(offset + j + Math.ceil(leaves.length / 2)) % leaves.length]!])
        .filter(([a, b]) => a !== b)
      const attempt = async (list: Array<[number, number]>, withAddress: boolean): Promise<Reach> => {
        const ms = await Promise.all(list.map(async ([a, b]) => await reach(a, b, withAddress, 3_000)))
        const okMs = ms.filter((x): x is number => x != null)
        return { tried: list.length, ok: okMs.length, ms: okMs }
      }
      result.reachDht = await attempt(pairs(0), false)
      result.reachWithAddress = await attempt(pairs(5), true)
    }
  } catch (err) {
    result.error = (err as Error).message
    result.foreign ??= meter.stop().foreign
  } finally {
    await cluster.stop()
  }
  return result
}

function reachCell (r: Reach | null): string {
  if (r == null || r.tried === 0) return '-'
  return `${r.ok}/${r.tried}${r.ok > 0 ? ` in ${fmt(median(r.ms), 0)} ms` : ''}`
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '10,30,50' },
      mode: { type: 'string', default: 'network' },
      configs: { type: 'string', default: 'as-is' },
      shards: { type: 'string', default: String(availableParallelism()) },
      'bootstrap-nodes': { type: 'string', default: '3' },
      'start-rate': { type: 'string', default: '4' },
      interval: { type: 'string', default: '15' },
      timeout: { type: 'string', default: '30' },
      json: { type: 'boolean', default: false }
    }
  })
  const sizes = values.sizes.split(',').map(Number).filter((x) => Number.isInteger(x) && x >= 2)
  const modes = values.mode.split(',').map((m) => m.trim()) as ScaleMode[]
  for (const m of modes) if (!['network', 'full', 'procs'].includes(m)) throw new Error(`--mode ${m}: network, full or procs`)
  const configs = values.configs.split(',').map((c) => c.trim()).filter((c) => c !== '')
  for (const c of configs) if (c !== 'as-is') parseVariants(c.replace(/\+/g, ','))
  const k = Number(values['bootstrap-nodes'])
  const interval = Number(values.interval)
  const timeoutS = Number(values.timeout)
  const startRate = Number(values['start-rate'])
  const shards = Math.max(1, Number(values.shards))
  log(`# network-scale benchmark — ${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} cores, ${fmt(totalmem() / MiB / 1024, 0)} GiB, Node ${process.version}`)
  log(`  sizes ${sizes.join(', ')}; ${k} bootstrap nodes, the others started at ${startRate}/s; advertIntervalSeconds ${interval}; 127.0.0.1, no mDNS`)
  log(`  in-process modes on ${shards} shard process${shards === 1 ? '' : 'es'}; convergence given up ${timeoutS} s after the last start`)
  log('  \'*\' = other processes used > 0.25 cores while the nodes converged; reach = leaves ping leaves they have no connection to (3 s timeout)')
  const results: SizeResult[] = []
  const t0 = performance.now()
  for (const mode of modes) {
    for (const config of configs) {
      for (const n of sizes) {
        await waitForQuiet(5_000)
        const r = await runSize({ mode, config, n, k, interval, timeoutS, startRate, shards })
        results.push(r)
        log(`  ${mode} ${config} N=${n}: started in ${fmt(r.startS, 1)} s, ${r.convergedS != null ? `converged ${fmt(r.convergedS, 1)} s` : `NOT converged within ${timeoutS} s (${fmt(r.finalFraction * 100, 1)} % of pairs)`} after the last start${noiseMark(r.foreign)}${r.error != null ? ` — error: ${r.error}` : ''}`)
      }
    }
  }
  log()
  log(formatTable(
    ['mode', 'config', 'nodes', 'start s', '90 % pairs s', '99 % s', 'all s', 'redialled', 'isolated', 'conns/node', 'shard ELU', 'RSS MiB/node', 'heap MiB/node', 'idle CPU ms/s/node', 'reach: DHT', 'given address'],
    results.map((r) => [
      r.mode, r.config, String(r.nodes), fmt(r.startS, 1), fmt(r.pairs90S, 1), fmt(r.pairs99S, 1),
      `${r.convergedS != null ? fmt(r.convergedS, 1) : `> ${timeoutS} (${fmt(r.finalFraction * 100, 0)} %)`}${noiseMark(r.foreign)}`,
      String(r.redialled), String(r.isolated), fmt(r.connectionsPerNode), fmt(r.elu, 2), fmt(r.rssPerNodeMiB, 1), fmt(r.heapPerNodeMiB, 2),
      fmt(r.idleCpuMsPerS, 1), reachCell(r.reachDht), reachCell(r.reachWithAddress)
    ])
  ))
  const groups = new Map<string, SizeResult[]>()
  for (const r of results) groups.set(`${r.mode} ${r.config}`, [...(groups.get(`${r.mode} ${r.config}`) ?? []), r])
  for (const [name, rs] of groups) {
    const first = rs[0]
    if (first == null || rs.length < 2) continue
    log(`${name}, relative to N=${first.nodes}: ${rs.slice(1).map((r) =>
      `N=${r.nodes} converges in ${r.convergedS != null && first.convergedS != null ? `${fmt(r.convergedS / first.convergedS, 2)}×` : '-'}, memory/node ${fmt(r.rssPerNodeMiB / first.rssPerNodeMiB, 2)}×, idle CPU/node ${fmt(r.idleCpuMsPerS / first.idleCpuMsPerS, 2)}×`).join('; ')}`)
  }
  log(`total ${fmt((performance.now() - t0) / 1000, 0)} s`)
  const resultsDir = join(ROOT, '.cache', 'bench-results')
  await mkdir(resultsDir, { recursive: true })
  const file = join(resultsDir, `network-scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  const report = { cores: availableParallelism(), node: process.version, bootstrapNodes: k, advertIntervalSeconds: interval, startRate, timeoutS, shards, results }
  await writeFile(file, JSON.stringify(report, null, 2))
  log()
  log(`results: ${file}`)
  if (values.json) log(JSON.stringify(report))
}

await main()
