import { randomBytes } from 'node:crypto'
import { chmodSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import type { z } from 'zod'
import { PlexusError } from '../../errors.js'
import type { NetworkStatusSchema, PeerSchema } from '../../api/plexus/network.js'
import { nodeFor, callNode, NodeApiError, type NodeTarget } from '../client.js'
import { output, table, formatBytes, type GlobalOptions } from '../output.js'

export type NetworkStatus = z.output<typeof NetworkStatusSchema>
export type Peer = z.output<typeof PeerSchema>

/** GET on a network route; a node running without its p2p host is the one-sentence PLX_ERR_NETWORK_OFF. */
async function networkGet<T> (target: NodeTarget, path: string): Promise<T> {
  try {
    return await callNode<T>(target, 'GET', path)
  } catch (err) {
    if (err instanceof NodeApiError && err.code === 'network_off') throw new PlexusError('PLX_ERR_NETWORK_OFF')
    throw err
  }
}

export async function fetchPeers (target: NodeTarget): Promise<Peer[]> {
  return (await networkGet<{ peers: Peer[] }>(target, '/api/plexus/peers')).peers
}

export async function fetchNetworkStatus (target: NodeTarget): Promise<NetworkStatus> {
  return await networkGet<NetworkStatus>(target, '/api/plexus/network')
}

/** `12D3…fYbSeqJY`: peer ids share their first characters, the end tells them apart. */
export function shortPeerId (id: string): string {
  return id.length > 16 ? `${id.slice(0, 4)}…${id.slice(-8)}` : id
}

/** The peer table as a compact table; `names` labels known peers (the devnet's A, B, …). */
export function peersTable (peers: Peer[], names: Map<string, string> = new Map()): string {
  if (peers.length === 0) return 'No peers have advertised yet.'
  return table(['PEER', 'CONNECTED', 'LATENCY', 'REPUTATION', 'SERVED', 'FAILED', 'LOAD', 'SERVES', 'MODELS', 'ADVERT'], peers.map(p => [
    names.has(p.peerId) ? `${names.get(p.peerId) as string} ${shortPeerId(p.peerId)}` : shortPeerId(p.peerId),
    p.connected ? 'yes' : 'no',
    p.latencyMs == null ? '-' : `${p.latencyMs} ms`,
    p.reputation > 0 ? `+${p.reputation}` : p.reputation,
    p.served,
    p.failed,
    `${p.load.active + p.load.waiting}/${p.load.parallel}`,
    p.community.accepts ? 'yes' : 'no',
    p.models.length === 0 ? '(none)' : p.models.map(m => m.name).join(', '),
    `${p.advertAgeSeconds}s ago`
  ]))
}

function sum (record: Record<string, number>): number {
  return Object.values(record).reduce((a, b) => a + b, 0)
}

function reasons (record: Record<string, number>): string {
  const entries = Object.entries(record)
  return entries.length === 0 ? '' : ` (${entries.map(([k, v]) => `${k} ${v}`).join(', ')})`
}

/** `plexus network status` as a key list. */
export function describeNetworkStatus (s: NetworkStatus): string {
  const c = s.community
  const i = s.inference
  return [
    `peer id      ${s.peerId}`,
    `network      ${s.networkId} (${s.privateSwarm ? 'private swarm: pre-shared key' : 'open swarm'}, mDNS ${s.mdns ? 'on' : 'off'})`,
    ...s.multiaddrs.map((a, n) => `${n === 0 ? 'listening   ' : '            '} ${a}`),
    `peers        ${s.peers} advertised, ${s.connections} connection${s.connections === 1 ? '' : 's'}`,
    `community    ${c.serve ? `serving peers: ${c.maxConcurrentJobs} job(s) at once, ${c.maxTokens} tokens each, ${c.requestsPerMinutePerPeer}/min per peer; ${c.active} running` : 'not serving peers'}`,
    `adverts      ${s.adverts.published} sent, ${s.adverts.accepted} accepted, ${sum(s.adverts.rejected)} rejected${reasons(s.adverts.rejected)}`,
    `served       ${i.served} request(s) for peers, ${sum(i.refused)} refused${reasons(i.refused)}; ${formatBytes(i.bytesIn)} in, ${formatBytes(i.bytesOut)} out`,
    `asked peers  ${i.requested} request(s); ${formatBytes(i.requestBytesOut)} out, ${formatBytes(i.requestBytesIn)} in${s.outbound.length > 0 ? `; running now: ${s.outbound.map(j => `${j.model} on ${shortPeerId(j.peerId)} (${j.tokens} tokens)`).join(', ')}` : ''}`,
    `router       default privacy ${s.router.defaultPrivacy}; cloud upstream ${s.router.cloud.configured ? `configured${s.router.cloud.models.length > 0 ? ` (${s.router.cloud.models.join(', ')})` : ''}` : 'not configured'}`
  ].join('\n')
}

/** A new libp2p swarm key (`/key/swarm/psk/1.0.0/`, `/base16/`, 32 random bytes in hex). */
export function newSwarmKey (): string {
  return `/key/swarm/psk/1.0.0/\n/base16/\n${randomBytes(32).toString('hex')}\n`
}

interface UrlOption { url?: string }
const URL_HELP = 'node to ask (default: the one running on the data directory; or PLEXUS_URL)'


export function registerPeers (program: Command): void {
  program
    .command('peers')
    .description('peers of the running node: latency, reputation, load and the models they offer')
    .option('--url <url>', URL_HELP)
    .action(async (opts: UrlOption, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const peers = await fetchPeers(nodeFor(opts, g))
      output(g.json, peers, () => peersTable(peers))
    })
}

export function registerNetwork (program: Command): void {
  const network = program.command('network').description('the peer-to-peer network: status, private swarm keys')

  network
    .command('status')
    .description('the running node on the network: peer id, addresses, adverts, community jobs')
    .option('--url <url>', URL_HELP)
    .action(async (opts: UrlOption, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const s = await fetchNetworkStatus(nodeFor(opts, g))
      output(g.json, s, () => describeNetworkStatus(s))
    })

  network
    .command('psk')
    .description('create a pre-shared key for a private swarm (start each node with --psk-file FILE)')
    .option('--out <file>', 'write it to FILE (mode 0600; an existing file is never overwritten) instead of printing it')
    .action((opts: { out?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const key = newSwarmKey()
      if (opts.out == null) {
        output(g.json, { key }, () => key)
        return
      }
      const path = resolve(opts.out)
      try {
        writeFileSync(path, key, { mode: 0o600, flag: 'wx' })
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code === 'EEXIST') throw new PlexusError('PLX_ERR_FILE_EXISTS', [path, 'a swarm key is never overwritten (the nodes holding the old one would be locked out); choose another path'])
        throw new PlexusError('PLX_ERR_BAD_REQUEST', [`cannot write ${path}: ${(err as Error).message}`])
      }
      chmodSync(path, 0o600)
      output(g.json, { path }, () => `Wrote a new swarm key to ${path} (mode 0600).\nGive it to every node of the private network: plexus start --psk-file ${path}`)
    })
}
