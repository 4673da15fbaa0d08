/**
 * Many Plexus nodes on one machine, three ways, behind one interface: the p2p part of a node only
 * (`PlexusNetwork.start` with a real `InferenceEngine` over an empty registry) or a whole
 * `PlexusNode` (API included, no models), both in the calling process (a shard, see
 * scale-shard.ts); or `plexus start` child processes.
 * Everything listens on 127.0.0.1 with random ports and no mDNS.
 *
 * @packageDocumentation
 */
import { generateKeyPairSync, sign } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InferenceEngine } from '../../src/inference/engine.js'
import { ModelRegistry } from '../../src/inference/registry.js'
import { silentLogger } from '../../src/logger.js'
import { PACKAGE_VERSION } from '../../src/paths.js'
import { PlexusNetwork } from '../../src/p2p/network.js'
import { startPlexusProcess } from './plexus-process.js'
import type { PlexusProcess } from './plexus-process.js'
import { applyVariants } from './p2p-variants.js'
import type { Variant } from './p2p-variants.js'
import { loopbackNetworkConfig } from './rtt.js'

export type ScaleMode = 'network' | 'full' | 'procs'

/** One running node, whatever it is. */
export interface ScaleNode {
  multiaddr: string
  peerId: string
  /** In-process modes: the node's network (for reachability checks); null for child processes. */
  network: PlexusNetwork | null
  /** Peers in its peer table (live adverts), or -1 when it could not be asked. */
  peers: () => Promise<number>
  /** Open libp2p connections. */
  connections: () => Promise<number>
  /** Child processes only: pid (for RSS and CPU). */
  pid: number | null
  stop: () => Promise<void>
}

export interface ScaleNodeOptions {
  mode: ScaleMode
  root: string
  bootstrap: string[]
  advertIntervalSeconds: number
  networkId: string
  /** Bench patches applied to each node's network (bench/lib/p2p-variants.ts). */
  variants: Variant[]
}

async function startNetworkOnly (o: ScaleNodeOptions): Promise<ScaleNode> {
  const dir = mkdtempSync(join(tmpdir(), 'plexus-scale-'))
  const { privateKey } = generateKeyPairSync('ed25519')
  const seed = new Uint8Array(Buffer.from(String(privateKey.export({ format: 'jwk' }).d), 'base64url'))
  const engine = new InferenceEngine(
    { registry: new ModelRegistry({ registryFile: join(dir, 'models.json'), storeDir: join(dir, 'models') }), logger: silentLogger() },
    { threads: 1, parallel: 1, maxQueue: 4, contextSize: 512, memoryBudgetMiB: 256 }
  )
  const network = await PlexusNetwork.start(
    { signer: { sign: (data) => new Uint8Array(sign(null, data, privateKey)) }, seed, engine, logger: silentLogger(), version: PACKAGE_VERSION, parallel: 1 },
    { ...loopbackNetworkConfig(), networkId: o.networkId, bootstrap: o.bootstrap, advertIntervalSeconds: o.advertIntervalSeconds }
  )
  applyVariants(network, o.variants)
  return {
    multiaddr: network.multiaddrs()[0] ?? '',
    peerId: network.peerId,
    network,
    peers: async () => network.table.size,
    connections: async () => network.libp2p.getConnections().length,
    pid: null,
    stop: async () => {
      await network.stop()
      await engine.stop({ graceMs: 0 })
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

async function startFull (o: ScaleNodeOptions): Promise<ScaleNode> {
  // Loaded only for this mode: the whole node pulls in every service.
  const { PlexusNode } = await import('../../src/node/node.js')
  const dataDir = mkdtempSync(join(tmpdir(), 'plexus-scale-'))
  const node = await PlexusNode.create({
    dataDir,
    logger: silentLogger(),
    writeRuntimeFile: false,
    embeddedModel: false,
    config: {
      api: { host: '127.0.0.1', port: 0 },
      network: { host: '127.0.0.1', port: 0, mdns: false, networkId: o.networkId, bootstrap: o.bootstrap, advertIntervalSeconds: o.advertIntervalSeconds }
    }
  })
  await node.start()
  const network = node.network
  if (network == null) throw new Error('network did not start')
  applyVariants(network, o.variants)
  return {
    multiaddr: network.multiaddrs()[0] ?? '',
    peerId: network.peerId,
    network,
    peers: async () => network.table.size,
    connections: async () => network.libp2p.getConnections().length,
    pid: null,
    stop: async () => {
      await node.stop({ graceMs: 0 })
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

async function startProcess (o: ScaleNodeOptions): Promise<ScaleNode> {
  const p: PlexusProcess = await startPlexusProcess({
    root: o.root,
    args: ['--no-embedded-model', '--network', o.networkId, ...o.bootstrap.flatMap((b) => ['--bootstrap', b])],
    config: { network: { advertIntervalSeconds: o.advertIntervalSeconds } },
    startTimeoutMs: 180_000,
    ...(o.variants.length > 0
      ? { script: join(o.root, 'dist', 'bench', 'lib', 'variant-node.js'), env: { UV_THREADPOOL_SIZE: '1', PLEXUS_BENCH_VARIANT: o.variants.join(',') } }
      : {})
  })
  const status = async (): Promise<{ peers: number, connections: number } | null> => {
    try {
      const res = await fetch(`${p.url}/api/plexus/network`, { signal: AbortSignal.timeout(10_000) })
      return res.ok ? await res.json() as { peers: number, connections: number } : null
    } catch {
      return null
    }
  }
  return {
    multiaddr: p.multiaddrs[0] ?? '',
    peerId: p.peerId ?? '',
    network: null,
    peers: async () => (await status())?.peers ?? -1,
    connections: async () => (await status())?.connections ?? -1,
    pid: p.pid,
    stop: p.stop
  }
}

/**
 * Starts one node of the given kind.
 *
 * @param o - kind, bootstrap addresses and advert interval
 */
export async function startScaleNode (o: ScaleNodeOptions): Promise<ScaleNode> {
  return o.mode === 'network' ? await startNetworkOnly(o) : o.mode === 'full' ? await startFull(o) : await startProcess(o)
}

/**
 * Pings a peer the node has no connection to — what a community request to it needs first.
 * `withAddress`: the node dials the peer's multiaddr first (as if adverts carried addresses);
 * otherwise libp2p must find the peer's addresses itself (peer routing: the DHT).
 *
 * @param from - an in-process node
 * @param to - the peer
 * @param withAddress - hand over the address first
 * @param timeoutMs - give up after this long
 * @returns milliseconds (dial + ping), or null when it failed
 */
export async function reachOnce (from: ScaleNode, to: { peerId: string, multiaddr: string }, withAddress: boolean, timeoutMs: number): Promise<number | null> {
  const network = from.network
  if (network == null) return null
  const t0 = performance.now()
  try {
    const signal = AbortSignal.timeout(timeoutMs)
    if (withAddress) await network.libp2p.dial(multiaddr(to.multiaddr), { signal })
    await network.libp2p.services.ping.ping(peerIdFromString(to.peerId), { signal })
    return performance.now() - t0
  } catch {
    return null
  }
}
