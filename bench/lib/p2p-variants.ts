/**
 * Changes to a running node's network tried by the benchmarks without editing src/: each patches
 * one `PlexusNetwork` at run time and stands for a change suggested for src/p2p (bench/NETWORK.md).
 * src/ has since adopted all three (commit 73a8e5d and the loopback settings in src/p2p/host.ts),
 * so on current src they are redundant; they remain to reproduce the before/after comparison on
 * an older checkout. (A fourth, `warm-streams`, became `PlexusNetwork`'s idle stream in 943a7fc.)
 *
 * @packageDocumentation
 */
import type { PeerId } from '@libp2p/interface'
import { advertTopic } from '../../src/p2p/adverts.js'
import type { PlexusNetwork } from '../../src/p2p/network.js'

export const VARIANTS = ['loopback-p2p', 'advert-on-join', 'ping-connected'] as const
export type Variant = (typeof VARIANTS)[number]

/** The libp2p internals the loopback patch reaches (not part of libp2p's typed interface). */
interface Internals {
  components: { connectionManager: { allow?: Array<{ contains: (ip: string) => boolean }> } }
}

/** The gossipsub internals the loopback patch reaches (the class, not the exported interface). */
interface GossipSubInternals {
  score?: { params: { IPColocationFactorWhitelist: Set<string> } }
}

const LOOPBACK = new Set(['127.0.0.1', '::1'])

/**
 * `loopback-p2p`: what a devnet (many nodes on one host) needs from libp2p, i.e. what src/p2p/host.ts
 * would pass for loopback addresses: gossipsub's peer score no longer penalises many peers on one
 * IP address (`scoreParams.IPColocationFactorWhitelist`: by default more than 10 peers on one IP
 * cost −5·surplus² each, so from ~14 same-IP peers on they are graylisted and adverts stop), and
 * the connection manager lets loopback connections past its 5-per-second-per-IP inbound limit
 * (`connectionManager.allow`).
 *
 * @param network - the node's network
 */
export function allowLoopback (network: PlexusNetwork): void {
  const params = (network.libp2p.services.pubsub as unknown as GossipSubInternals).score?.params
  if (params == null) throw new Error('gossipsub has no peer score to adjust (gossipsub changed?)')
  params.IPColocationFactorWhitelist = new Set([...params.IPColocationFactorWhitelist, ...LOOPBACK])
  const cm = (network.libp2p as unknown as Internals).components.connectionManager
  if (Array.isArray(cm.allow)) cm.allow.push({ contains: (ip: string) => LOOPBACK.has(ip) })
  else throw new Error('libp2p connection manager has no allow list to extend (libp2p changed?)')
}

/**
 * `advert-on-join`: a node re-sends its advert (at most once a second) when it receives the first
 * advert of a peer it did not know, so a newcomer learns about everyone within about a second
 * instead of waiting up to `advertIntervalSeconds` for each peer's periodic advert. (Today only
 * the peers directly connected to the newcomer see its subscription and answer early.)
 *
 * @param network - the node's network
 */
export function advertOnJoin (network: PlexusNetwork): void {
  const pubsub = network.libp2p.services.pubsub
  const topic = advertTopic(network.networkId)
  const seen = new Set<string>()
  let last = 0
  let pending: NodeJS.Timeout | null = null
  pubsub.addEventListener('message', (evt) => {
    const msg = evt.detail
    if (msg.topic !== topic || msg.type !== 'signed') return
    const from = msg.from.toString()
    if (seen.has(from)) return
    seen.add(from)
    if (pending != null) return
    const wait = Math.max(0, last + 1000 - Date.now())
    pending = setTimeout(() => {
      pending = null
      last = Date.now()
      network.advertiseNow()
    }, wait)
    pending.unref()
  })
}

/**
 * `ping-connected`: the node's 10-second latency pings go only to peers it has a connection to.
 * Today it pings every peer in its table; for one it is not connected to, libp2p first looks for
 * an address (a DHT query — which finds none for private addresses, see bench/NETWORK.md) and
 * gives up, every 10 s for every such peer.
 *
 * @param network - the node's network
 */
export function pingConnectedOnly (network: PlexusNetwork): void {
  const ping = network.libp2p.services.ping
  const original = ping.ping.bind(ping)
  ping.ping = (async (peer, options) => {
    const isPeerId = typeof peer === 'object' && peer != null && 'toMultihash' in peer
    if (isPeerId && network.libp2p.getConnections(peer as PeerId).length === 0) throw new Error('not connected (ping-connected variant)')
    return await original(peer, options)
  }) as typeof ping.ping
}

/**
 * Applies variants to a network.
 *
 * @param network - the node's network
 * @param variants - which
 */
export function applyVariants (network: PlexusNetwork, variants: readonly Variant[]): void {
  if (variants.includes('loopback-p2p')) allowLoopback(network)
  if (variants.includes('advert-on-join')) advertOnJoin(network)
  if (variants.includes('ping-connected')) pingConnectedOnly(network)
}

/**
 * Parses a comma-separated variant list (e.g. from `PLEXUS_BENCH_VARIANT`).
 *
 * @param text - `loopback-p2p,advert-on-join`; empty for none
 */
export function parseVariants (text: string): Variant[] {
  const out: Variant[] = []
  for (const v of text.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    if (!(VARIANTS as readonly string[]).includes(v)) throw new Error(`unknown variant '${v}' (one of ${VARIANTS.join(', ')})`)
    out.push(v as Variant)
  }
  return out
}
