/**
 * A shard of the network-scale benchmark: a child process (forked with an IPC channel) that hosts
 * some of the in-process nodes, so the nodes of one run use every core and each run starts from a
 * fresh process (clean memory baseline). It answers the parent's requests one at a time; see
 * {@link ShardRequest}.
 *
 * @packageDocumentation
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { performance } from 'node:perf_hooks'
import { multiaddr } from '@multiformats/multiaddr'
import { reachOnce, startScaleNode } from './scale-nodes.js'
import type { ScaleNode, ScaleNodeOptions } from './scale-nodes.js'

/** What the parent asks (each request carries an id echoed in the reply). */
export type ShardRequest =
  | { id: number, cmd: 'start', options: ScaleNodeOptions }
  | { id: number, cmd: 'status' }
  | { id: number, cmd: 'redial-isolated', bootstrap: string[] }
  | { id: number, cmd: 'memory' }
  | { id: number, cmd: 'reach', from: number, to: { peerId: string, multiaddr: string }, withAddress: boolean, timeoutMs: number }
  | { id: number, cmd: 'stop' }

/** Memory of the shard process after garbage collection, bytes. */
export interface ShardMemory { rss: number, heapUsed: number }

/** Replies, by command. */
export interface ShardReplies {
  start: { index: number, multiaddr: string, peerId: string }
  /** Per node of this shard, in start order; event-loop active and idle ms since the last status. */
  status: { peers: number[], connections: number[], activeMs: number, idleMs: number }
  'redial-isolated': { redialled: number[] }
  memory: ShardMemory
  reach: { ms: number | null }
  stop: Record<string, never>
}

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

async function settledMemory (): Promise<ShardMemory> {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed }
}

const nodes: ScaleNode[] = []
let elu = performance.eventLoopUtilization()

async function answer (req: ShardRequest): Promise<unknown> {
  switch (req.cmd) {
    case 'start': {
      const node = await startScaleNode(req.options)
      nodes.push(node)
      return { index: nodes.length - 1, multiaddr: node.multiaddr, peerId: node.peerId }
    }
    case 'status': {
      const now = performance.eventLoopUtilization()
      const since = performance.eventLoopUtilization(now, elu)
      elu = now
      return {
        peers: await Promise.all(nodes.map(async (n) => await n.peers())),
        connections: await Promise.all(nodes.map(async (n) => await n.connections())),
        activeMs: since.active,
        idleMs: since.idle
      }
    }
    case 'redial-isolated': {
      const redialled: number[] = []
      nodes.forEach((n, i) => {
        if (n.network == null || n.network.libp2p.getConnections().length > 0) return
        redialled.push(i)
        const addr = req.bootstrap[i % req.bootstrap.length]
        if (addr != null) void n.network.libp2p.dial(multiaddr(addr)).catch(() => {})
      })
      return { redialled }
    }
    case 'memory':
      return await settledMemory()
    case 'reach': {
      const from = nodes[req.from]
      return { ms: from != null ? await reachOnce(from, req.to, req.withAddress, req.timeoutMs) : null }
    }
    case 'stop':
      await Promise.all(nodes.map(async (n) => { await n.stop().catch(() => {}) }))
      nodes.length = 0
      return {}
  }
}

if (process.send == null) {
  process.stderr.write('scale-shard: run me with child_process.fork (an IPC channel is needed)\n')
  process.exit(2)
}
const baseline = await settledMemory()
process.on('message', (req: ShardRequest) => {
  answer(req).then(
    (result) => process.send?.({ id: req.id, result }),
    (err: unknown) => process.send?.({ id: req.id, error: (err as Error).message ?? String(err) })
  )
})
process.on('disconnect', () => { process.exit(0) })
process.send({ ready: true, baseline })
