// libp2p calls Promise.withResolvers, which Node 20 lacks.
import '../polyfills.js'
import { readFileSync } from 'node:fs'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { kadDHT, type KadDHT } from '@libp2p/kad-dht'
import { bootstrap } from '@libp2p/bootstrap'
import { mdns } from '@libp2p/mdns'
import { preSharedKey } from '@libp2p/pnet'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { PlexusError } from '../errors.js'
import type { NetworkConfig } from './config.js'

export type PlexusLibp2p = Libp2p<{ identify: Identify, ping: Ping, pubsub: GossipSub, dht: KadDHT }>

const LOOPBACK_IPS = ['127.0.0.1', '::1']
const LOOPBACK_NETS = ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128']

const SWARM_KEY = /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-fA-F]{64}\s*$/

/** Reads a libp2p swarm key file (`/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex digits). */
export function readSwarmKey (path: string): Uint8Array {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new PlexusError('PLX_ERR_NETWORK_START', [`cannot read the pre-shared key file ${path}: ${(err as Error).message}`])
  }
  if (!SWARM_KEY.test(text)) throw new PlexusError('PLX_ERR_NETWORK_START', [`${path} is not a swarm key file (expected /key/swarm/psk/1.0.0/, /base16/ and 64 hex digits); create one with \`plexus network psk\``])
  return new TextEncoder().encode(text)
}

/** Bootstrap addresses must be full multiaddrs ending in /p2p/<peer id>. */
export function checkBootstrap (addrs: string[]): string[] {
  for (const a of addrs) {
    try {
      const ma = multiaddr(a)
      if (ma.getComponents().every(c => c.name !== 'p2p')) throw new Error('it has no /p2p/<peer id> part')
    } catch (err) {
      throw new PlexusError('PLX_ERR_NETWORK_START', [`bootstrap address '${a}' is not usable: ${(err as Error).message}`])
    }
  }
  return addrs
}

/**
 * The libp2p host of a node: TCP, Noise, Yamux, identify, ping, Kad-DHT (with a protocol of its
 * own per network), gossipsub, bootstrap and mDNS discovery, an optional pre-shared key, a
 * connection limit and allow/deny lists. The node's Ed25519 identity is the libp2p key. `deny` is
 * read on every connection, so peers added to it later (a member removed by governance) are refused.
 */
export async function createHost (seed: Uint8Array, config: NetworkConfig, agentVersion: string, deny: ReadonlySet<string> = new Set(config.denyPeers)): Promise<PlexusLibp2p> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', seed)
  const allow = new Set(config.allowPeers)
  const refused = (id: PeerId): boolean => {
    const s = id.toString()
    return deny.has(s) || (allow.size > 0 && !allow.has(s))
  }
  const bootstrapList = checkBootstrap(config.bootstrap)
  const host = config.host.includes(':') ? `/ip6/${config.host}` : `/ip4/${config.host}`
  try {
    return await createLibp2p({
      privateKey,
      nodeInfo: { name: 'plexus', version: agentVersion, userAgent: `plexus/${agentVersion}` },
      addresses: { listen: [`${host}/tcp/${config.port}`] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      ...(config.pskFile != null ? { connectionProtector: preSharedKey({ psk: readSwarmKey(config.pskFile) }) } : {}),
      peerDiscovery: [
        ...(bootstrapList.length > 0 ? [bootstrap({ list: bootstrapList })] : []),
        ...(config.mdns ? [mdns({ serviceTag: `plexus-${config.networkId}.local` })] : [])
      ],
      // Many nodes on one host (a devnet, or several on a workstation) share 127.0.0.1: let them
      // past the per-IP inbound rate limit, and keep gossipsub from scoring them down for IP
      // colocation (beyond 10 peers on one IP it graylists them and adverts stop flowing).
      connectionManager: { maxConnections: config.maxConnections, allow: LOOPBACK_NETS },
      connectionGater: {
        denyDialPeer: refused,
        denyInboundEncryptedConnection: refused,
        denyOutboundEncryptedConnection: refused
      },
      services: {
        identify: identify(),
        ping: ping(),
        pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false, scoreParams: { IPColocationFactorWhitelist: new Set(LOOPBACK_IPS) } }),
        dht: kadDHT({ protocol: `/plexus/${config.networkId}/kad/1.0.0`, clientMode: false })
      }
    }) as PlexusLibp2p
  } catch (err) {
    if (err instanceof PlexusError) throw err
    throw new PlexusError('PLX_ERR_NETWORK_START', [(err as Error).message], { cause: err })
  }
}
