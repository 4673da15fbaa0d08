/**
 * The nodes of one network-scale run, wherever they live: spread over forked shard processes
 * (in-process modes, see scale-shard.ts) or one `plexus start` child process each.
 *
 * @packageDocumentation
 */
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { processCpuSeconds } from './llama-bench.js'
import { processRssBytes } from './plexus-process.js'
import { startScaleNode } from './scale-nodes.js'
import type { ScaleNode, ScaleNodeOptions } from './scale-nodes.js'
import type { ShardMemory, ShardReplies, ShardRequest } from './scale-shard.js'

export interface Cluster {
  /** Starts node number `i` (global index) and returns its address. */
  start: (i: number, options: ScaleNodeOptions) => Promise<{ multiaddr: string, peerId: string }>
  /**
   * Per node (global index order): peers in its table and open connections; -1 = unknown. `elu`:
   * the busiest shard's event-loop utilisation since `status` was last called with `resetElu`.
   */
  status: (resetElu?: boolean) => Promise<{ peers: number[], connections: number[], elu: number | null }>
  /** Dials a bootstrap node again for nodes without any connection; returns how many. */
  redialIsolated: (bootstrap: string[]) => Promise<number>
  /** Memory per node: in-process modes the growth of the shards, procs the median process RSS. */
  memoryPerNode: () => Promise<{ rssMiB: number, heapMiB: number | null }>
  /** CPU seconds used so far by the processes holding the nodes. */
  cpuSeconds: () => number
  /** From node `from` to node `to` (global indexes): dial + ping time, null when it failed; null result for procs. */
  reach: ((from: number, to: number, withAddress: boolean, timeoutMs: number) => Promise<number | null>) | null
  stop: () => Promise<void>
}

const MiB = 1024 * 1024

interface Shard {
  child: ChildProcess
  baseline: ShardMemory
  /** Global indexes of the nodes it holds, in its local order. */
  nodes: number[]
  request: <C extends ShardRequest['cmd']>(cmd: C, body: Omit<Extract<ShardRequest, { cmd: C }>, 'id' | 'cmd'>) => Promise<ShardReplies[C]>
}

async function forkShard (root: string): Promise<Shard> {
  const child = fork(join(root, 'dist', 'bench', 'lib', 'scale-shard.js'), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  let next = 1
  const baseline = await new Promise<ShardMemory>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`shard exited with code ${String(code)}`)))
    child.on('message', (msg: { ready?: boolean, baseline?: ShardMemory, id?: number, result?: unknown, error?: string }) => {
      if (msg.ready === true && msg.baseline != null) { resolve(msg.baseline); return }
      if (msg.id == null) return
      const p = pending.get(msg.id)
      pending.delete(msg.id)
      if (msg.error != null) p?.reject(new Error(msg.error))
      else p?.resolve(msg.result)
    })
  })
  child.on('exit', () => { for (const p of pending.values()) p.reject(new Error('shard exited')) })
  return {
    child,
    baseline,
    nodes: [],
    request: async (cmd, body) => await new Promise((resolve, reject) => {
      const id = next++
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      child.send({ ...body, cmd, id })
    })
  }
}

/**
 * In-process nodes (`network` or `full` mode) spread round-robin over `shards` forked processes.
 *
 * @param root - repository root
 * @param shards - how many processes (one per core is the natural choice)
 */
export async function shardCluster (root: string, shards: number): Promise<Cluster> {
  const list = await Promise.all(Array.from({ length: Math.max(1, shards) }, async () => await forkShard(root)))
  const where = new Map<number, { shard: Shard, local: number }>()
  const addr = new Map<number, { peerId: string, multiaddr: string }>()
  const total = (): number => where.size
  const loop = list.map(() => ({ active: 0, idle: 0 }))
  return {
    start: async (i, options) => {
      const shard = list[i % list.length]!
      const r = await shard.request('start', { options })
      shard.nodes[r.index] = i
      where.set(i, { shard, local: r.index })
      addr.set(i, r)
      return r
    },
    status: async (resetElu = false) => {
      const peers = new Array<number>(total()).fill(-1)
      const connections = new Array<number>(total()).fill(-1)
      let elu = 0
      for (const [j, shard] of list.entries()) {
        const s = await shard.request('status', {})
        s.peers.forEach((p, local) => { const g = shard.nodes[local]; if (g != null) peers[g] = p })
        s.connections.forEach((c, local) => { const g = shard.nodes[local]; if (g != null) connections[g] = c })
        const l = loop[j]!
        if (resetElu) { l.active = 0; l.idle = 0 } else { l.active += s.activeMs; l.idle += s.idleMs }
        if (l.active + l.idle > 0) elu = Math.max(elu, l.active / (l.active + l.idle))
      }
      return { peers, connections, elu }
    },
    redialIsolated: async (bootstrap) => {
      let n = 0
      for (const shard of list) n += (await shard.request('redial-isolated', { bootstrap })).redialled.length
      return n
    },
    memoryPerNode: async () => {
      let rss = 0
      let heap = 0
      for (const shard of list) {
        const m = await shard.request('memory', {})
        rss += m.rss - shard.baseline.rss
        heap += m.heapUsed - shard.baseline.heapUsed
      }
      return { rssMiB: rss / Math.max(1, total()) / MiB, heapMiB: heap / Math.max(1, total()) / MiB }
    },
    cpuSeconds: () => list.reduce((a, s) => a + processCpuSeconds(s.child.pid), 0),
    reach: async (from, to, withAddress, timeoutMs) => {
      const f = where.get(from)
      const t = addr.get(to)
      if (f == null || t == null) return null
      return (await f.shard.request('reach', { from: f.local, to: t, withAddress, timeoutMs })).ms
    },
    stop: async () => {
      await Promise.all(list.map(async (shard) => {
        await shard.request('stop', {}).catch(() => {})
        const exited = new Promise<void>((resolve) => shard.child.once('exit', () => resolve()))
        shard.child.disconnect()
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))])
        if (shard.child.exitCode == null) shard.child.kill('SIGKILL')
      }))
    }
  }
}

/** One `plexus start` child process per node (`procs` mode). */
export function processCluster (): Cluster {
  const nodes: ScaleNode[] = []
  return {
    start: async (i, options) => {
      const node = await startScaleNode(options)
      nodes[i] = node
      return { multiaddr: node.multiaddr, peerId: node.peerId }
    },
    status: async () => {
      const list = nodes.filter((n): n is ScaleNode => n != null)
      return {
        peers: await Promise.all(list.map(async (n) => await n.peers())),
        connections: await Promise.all(list.map(async (n) => await n.connections())),
        elu: null
      }
    },
    // The HTTP API cannot make a node dial; isolated processes are only counted.
    redialIsolated: async () => 0,
    memoryPerNode: async () => {
      const rss = nodes.map((n) => n.pid != null ? processRssBytes(n.pid) : null).filter((r): r is number => r != null).sort((a, b) => a - b)
      return { rssMiB: (rss[Math.floor(rss.length / 2)] ?? Number.NaN) / MiB, heapMiB: null }
    },
    cpuSeconds: () => nodes.reduce((a, n) => a + processCpuSeconds(n.pid ?? undefined), 0),
    reach: null,
    stop: async () => { await Promise.all(nodes.map(async (n) => { await n.stop().catch(() => {}) })) }
  }
}
