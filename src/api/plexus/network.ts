import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { PlexusError } from '../../errors.js'
import type { PlexusNetwork } from '../../p2p/network.js'
import type { Router } from '../../router/router.js'
import { ErrorSchema } from '../openai/schemas.js'

export interface NetworkRoutesOptions {
  network: PlexusNetwork | null
  router: Router
}

const CommunitySchema = z.object({ serve: z.boolean(), maxConcurrentJobs: z.number(), maxTokens: z.number(), requestsPerMinutePerPeer: z.number(), active: z.number() })

export const NetworkStatusSchema = z.object({
  enabled: z.boolean(),
  peerId: z.string(),
  networkId: z.string(),
  multiaddrs: z.array(z.string()),
  connections: z.number(),
  peers: z.number(),
  mdns: z.boolean(),
  privateSwarm: z.boolean(),
  community: CommunitySchema,
  adverts: z.object({ topic: z.string(), published: z.number(), accepted: z.number(), rejected: z.record(z.string(), z.number()) }),
  inference: z.object({
    served: z.number(), refused: z.record(z.string(), z.number()), active: z.number(), bytesIn: z.number(), bytesOut: z.number(),
    requested: z.number(), requestBytesOut: z.number(), requestBytesIn: z.number()
  }),
  outbound: z.array(z.object({ id: z.string(), peerId: z.string(), model: z.string(), startedAt: z.string(), tokens: z.number() })),
  router: z.object({ defaultPrivacy: z.enum(['private', 'community', 'cloud']), cloud: z.object({ configured: z.boolean(), models: z.array(z.string()) }) })
})

const AdvertModel = z.object({ name: z.string(), sha256: z.string(), contextLength: z.number().nullable(), quantization: z.string().nullable(), parameters: z.number().nullable(), tokensPerSecond: z.number().nullable() })
export const PeerSchema = z.object({
  peerId: z.string(),
  connected: z.boolean(),
  addresses: z.array(z.string()),
  latencyMs: z.number().nullable(),
  reputation: z.number(),
  served: z.number(),
  failed: z.number(),
  checksMatched: z.number(),
  mismatches: z.number(),
  excluded: z.boolean(),
  excludedReason: z.string().nullable(),
  advertAgeSeconds: z.number(),
  version: z.string(),
  models: z.array(AdvertModel),
  load: z.object({ active: z.number(), waiting: z.number(), parallel: z.number() }),
  community: z.object({ accepts: z.boolean(), maxConcurrentJobs: z.number(), maxTokens: z.number(), requestsPerMinute: z.number() })
})

/** `/api/plexus/network` and `/api/plexus/peers`. */
export const networkRoutes: FastifyPluginAsyncZod<NetworkRoutesOptions> = async (app, { network, router }) => {
  const need = (): PlexusNetwork => {
    if (network == null) throw new PlexusError('PLX_ERR_NETWORK_OFF')
    return network
  }
  app.get('/api/plexus/network', {
    schema: { tags: ['plexus'], summary: 'Peer-to-peer network status: addresses, adverts, inference protocol counters', response: { 200: NetworkStatusSchema, 401: ErrorSchema, 503: ErrorSchema } }
  }, async () => ({
    ...need().status(),
    router: { defaultPrivacy: router.defaultPrivacy, cloud: { configured: router.cloud.configured, models: router.cloud.models } }
  }))

  app.get('/api/plexus/peers', {
    schema: { tags: ['plexus'], summary: 'Peers that advertised capabilities, with latency and reputation', response: { 200: z.object({ peers: z.array(PeerSchema) }), 401: ErrorSchema, 503: ErrorSchema } }
  }, async () => ({ peers: need().peers() }))
}
