import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { InferenceEngine } from '../../inference/engine.js'
import type { ApiKeyStore } from '../../auth/keys.js'
import type { Metrics } from '../metrics.js'
import { ErrorSchema } from '../openai/schemas.js'

/** What the node tells about itself; filled in by the composition root. */
export interface NodeStatusSource {
  version: string
  status: () => NodeStatus
}

export const NodeStatusSchema = z.object({
  version: z.string(),
  nodeId: z.string(),
  publicKey: z.string(),
  dataDir: z.string(),
  url: z.string().nullable(),
  pid: z.number(),
  startedAt: z.string(),
  uptimeSeconds: z.number(),
  threads: z.number(),
  /** The llama.cpp binary in use; null until the first model load. */
  engine: z.object({ binary: z.enum(['prebuilt', 'local build']), gpu: z.union([z.string(), z.literal(false)]), llamaCpp: z.string(), uvThreadpoolSize: z.number() }).nullable(),
  /** The native generation loop: allowed, built, running plain generations, and why not. */
  nativeLoop: z.object({ enabled: z.boolean(), built: z.boolean(), active: z.boolean(), reason: z.string().nullable(), binary: z.enum(['prebuilt', 'local build']).nullable() }),
  parallel: z.number(),
  contextSize: z.number(),
  memoryBudgetMiB: z.number(),
  defaultModel: z.string().nullable(),
  models: z.array(z.object({ name: z.string(), sha256: z.string(), sizeBytes: z.number(), architecture: z.string(), parameters: z.number(), quantization: z.string(), contextLength: z.number().nullable() })),
  loaded: z.array(z.object({ name: z.string(), memoryBytes: z.number(), contextSize: z.number(), parallel: z.number(), threads: z.number(), gpuLayers: z.number(), active: z.number(), waiting: z.number(), lastUsedAt: z.string(), expiresAt: z.string().nullable() })),
  queue: z.object({ active: z.number(), waiting: z.number() }),
  auth: z.object({ activeKeys: z.number() }),
  /** The p2p host; null when `network.enabled` is false. */
  network: z.object({ peerId: z.string(), networkId: z.string(), multiaddrs: z.array(z.string()), peers: z.number(), connections: z.number() }).nullable()
})
export type NodeStatus = z.output<typeof NodeStatusSchema>

/** A model in memory: its size, context, threads and queue. */
export const LoadedSchema = z.object({ name: z.string(), sha256: z.string(), memoryBytes: z.number(), contextSize: z.number(), parallel: z.number(), threads: z.number(), gpuLayers: z.number(), active: z.number(), waiting: z.number(), loadedAt: z.string(), lastUsedAt: z.string(), expiresAt: z.string().nullable() })

export interface PlexusRoutesOptions {
  engine: InferenceEngine
  metrics: Metrics
  node: NodeStatusSource
  keys: ApiKeyStore
}

/** Health, metrics and the native `/api/plexus` API. */
export const plexusRoutes: FastifyPluginAsyncZod<PlexusRoutesOptions> = async (app, { engine, metrics, node }) => {
  app.get('/health', {
    schema: { tags: ['plexus'], summary: 'Liveness (no auth)', response: { 200: z.object({ status: z.literal('ok'), version: z.string() }) } }
  }, async () => ({ status: 'ok' as const, version: node.version }))

  app.get('/metrics', { schema: { tags: ['plexus'], summary: 'Prometheus metrics' } }, async (_request, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render()))

  app.get('/api/plexus/status', { schema: { tags: ['plexus'], summary: 'Node status', response: { 200: NodeStatusSchema, 401: ErrorSchema } } }, async () => node.status())

  app.post('/api/plexus/models/:model/load', {
    schema: { tags: ['plexus'], summary: 'Load a model now', params: z.object({ model: z.string().max(256) }), response: { 200: LoadedSchema, 404: ErrorSchema, 503: ErrorSchema } }
  }, async (request) => engine.load(engine.registry.get(request.params.model).name))

  app.post('/api/plexus/models/:model/unload', {
    schema: { tags: ['plexus'], summary: 'Unload a model if idle', params: z.object({ model: z.string().max(256) }), response: { 200: z.object({ unloaded: z.boolean() }), 404: ErrorSchema } }
  }, async (request) => ({ unloaded: await engine.unload(engine.registry.get(request.params.model).name) }))
}
