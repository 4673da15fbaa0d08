import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { PlexusError } from '../../errors.js'
import type { InferenceEngine, LoadedModelInfo } from '../../inference/engine.js'
import { progressGate, pullAndRegister, removeModel } from '../../inference/install.js'
import { pullKey } from '../../inference/pull.js'
import { MODEL_NAME_RE, type ModelRecord } from '../../inference/registry.js'
import type { PlexusNetwork } from '../../p2p/network.js'
import { disconnectSignal, streamSse } from '../generation.js'
import { ErrorSchema } from '../openai/schemas.js'
import { LoadedSchema } from './routes.js'

export interface ModelRoutesOptions {
  engine: InferenceEngine
  network: PlexusNetwork | null
}

const LoadedStateSchema = LoadedSchema.omit({ name: true, sha256: true, threads: true })

/** A registered model with the metadata read from its GGUF header, and its state on this node. */
export const InstalledModelSchema = z.object({
  name: z.string(),
  sha256: z.string(),
  path: z.string(),
  sizeBytes: z.number(),
  addedAt: z.string(),
  /** The file lives in the data directory (downloaded or copied) and is deleted with the model. */
  owned: z.boolean(),
  default: z.boolean(),
  metadata: z.object({
    architecture: z.string(),
    parameters: z.number(),
    contextLength: z.number().nullable(),
    embeddingLength: z.number().nullable(),
    quantization: z.string(),
    chatTemplate: z.boolean(),
    ggufVersion: z.number()
  }),
  /** Null while the model is not in memory. */
  loaded: LoadedStateSchema.nullable()
})

/** A model that peers advertise, with the peers offering it. */
export const NetworkModelSchema = z.object({
  name: z.string(),
  sha256: z.string(),
  contextLength: z.number().nullable(),
  quantization: z.string().nullable(),
  parameters: z.number().nullable(),
  peers: z.array(z.object({ peerId: z.string(), tokensPerSecond: z.number().nullable(), accepts: z.boolean() })),
  /** The same bytes are registered on this node. */
  installed: z.boolean()
})

export const ModelsOverviewSchema = z.object({
  installed: z.array(InstalledModelSchema),
  network: z.array(NetworkModelSchema),
  /** False when the peer-to-peer network is off (no network models can be known). */
  networkEnabled: z.boolean()
})

/** Events of `POST /api/plexus/models/pull`, one per SSE `data:` line, before `[DONE]`. */
export const PullEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('progress'), receivedBytes: z.number(), totalBytes: z.number().nullable(), resumedFrom: z.number() }),
  z.object({ type: z.literal('done'), model: InstalledModelSchema, resumedFrom: z.number(), alreadyRegistered: z.boolean() })
])

const ModelName = z.string().min(1).max(128).regex(MODEL_NAME_RE, "letters, digits, '.', '_', ':' or '-'")
const Sha256 = z.string().regex(/^[0-9a-fA-F]{64}$/, '64 hexadecimal characters')
const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema }

/**
 * Model management under `/api/plexus/models`: what is installed (with GGUF metadata and load
 * state) and what peers offer; add a file on this machine, pull one over HTTP(S) with progress as
 * server-sent events, remove one that is not in use.
 */
export const modelRoutes: FastifyPluginAsyncZod<ModelRoutesOptions> = async (app, { engine, network }) => {
  const tags = ['plexus']
  const registry = engine.registry
  const pulling = new Set<string>()

  /** Describes models against one look at the engine (what is loaded, the default). */
  const describer = (): (m: ModelRecord) => z.output<typeof InstalledModelSchema> => {
    const loadedByName = new Map(engine.loadedModels().map(l => [l.name, l]))
    let defaultName: string | null = null
    try { defaultName = engine.defaultModelName() } catch {}
    return m => describeModel(m, loadedByName.get(m.name), defaultName)
  }
  const describeModel = (m: ModelRecord, loaded: LoadedModelInfo | undefined, defaultName: string | null): z.output<typeof InstalledModelSchema> => {
    const { chatTemplate, ...metadata } = m.metadata
    return {
      name: m.name,
      sha256: m.sha256,
      path: m.path,
      sizeBytes: m.sizeBytes,
      addedAt: m.addedAt,
      owned: m.owned,
      default: m.name === defaultName,
      metadata: { ...metadata, chatTemplate: chatTemplate != null },
      loaded: loaded == null
        ? null
        : { memoryBytes: loaded.memoryBytes, contextSize: loaded.contextSize, parallel: loaded.parallel, gpuLayers: loaded.gpuLayers, active: loaded.active, waiting: loaded.waiting, loadedAt: loaded.loadedAt, lastUsedAt: loaded.lastUsedAt, expiresAt: loaded.expiresAt }
    }
  }

  const networkModels = (installed: Set<string>): Array<z.output<typeof NetworkModelSchema>> => {
    const out = new Map<string, z.output<typeof NetworkModelSchema>>()
    for (const e of network?.table.list() ?? []) {
      if (e.excluded != null) continue
      for (const m of e.advert.models) {
        const key = `${m.name}\u0000${m.sha256}`
        const entry = out.get(key) ?? { name: m.name, sha256: m.sha256, contextLength: m.contextLength, quantization: m.quantization, parameters: m.parameters, peers: [], installed: installed.has(m.sha256) }
        entry.peers.push({ peerId: e.peerId, tokensPerSecond: m.tokensPerSecond, accepts: e.advert.community.accepts })
        out.set(key, entry)
      }
    }
    return [...out.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  app.get('/api/plexus/models', {
    schema: { tags, summary: 'Installed models (GGUF metadata, load state) and the models peers advertise', response: { 200: ModelsOverviewSchema, 401: ErrorSchema } }
  }, async () => {
    const installed = registry.list()
    return { installed: installed.map(describer()), network: networkModels(new Set(installed.map(m => m.sha256))), networkEnabled: network != null }
  })

  app.post('/api/plexus/models', {
    schema: {
      tags,
      summary: 'Register a GGUF file on this machine (reads its header, hashes it)',
      body: z.object({ path: z.string().min(1).max(4096), name: ModelName.optional(), copy: z.boolean().optional() }),
      response: { 201: InstalledModelSchema, ...errors }
    }
  }, async (request, reply) => {
    const b = request.body
    const record = await registry.add(b.path, { name: b.name, store: b.copy === true ? 'copy' : 'reference', signal: disconnectSignal(reply) })
    // Peers learn of the change with the next advert, sent now rather than at the next interval.
    network?.advertiseNow()
    return await reply.status(201).send(describer()(record))
  })

  app.post('/api/plexus/models/pull', {
    schema: {
      tags,
      summary: 'Download a GGUF model over HTTP(S) and register it; progress as server-sent events (PullEvent), then [DONE]',
      body: z.object({ url: z.string().min(1).max(4096).regex(/^https?:\/\//i, 'an http:// or https:// URL'), sha256: Sha256.optional(), name: ModelName.optional() }),
      response: { 200: PullEventSchema, ...errors }
    }
  }, async (request, reply) => {
    const b = request.body
    // What can be refused up front is refused with a status, before the stream starts.
    if (b.name != null && registry.has(b.name)) throw new PlexusError('PLX_ERR_MODEL_EXISTS', [b.name], { param: 'name' })
    const key = pullKey(b.url)
    if (pulling.has(key)) throw new PlexusError('PLX_ERR_PULL_IN_PROGRESS', [b.url.replace(/[?#].*$/, '')], { param: 'url' })
    pulling.add(key)
    const signal = disconnectSignal(reply)
    const gate = progressGate()
    try {
      await streamSse(reply, async write => {
        const r = await pullAndRegister(registry, b.url, {
          name: b.name,
          sha256: b.sha256?.toLowerCase(),
          signal,
          onProgress: p => { if (gate(p.receivedBytes, p.totalBytes)) write({ type: 'progress', ...p }) }
        })
        if (!r.alreadyRegistered) network?.advertiseNow()
        write({ type: 'done', model: describer()(r.record), resumedFrom: r.resumedFrom, alreadyRegistered: r.alreadyRegistered })
      })
    } finally {
      pulling.delete(key)
    }
    return reply
  })

  app.delete('/api/plexus/models/:name', {
    schema: {
      tags,
      summary: 'Remove a model (unloads it; deletes its file only if Plexus downloaded or copied it); 409 while it is in use',
      params: z.object({ name: z.string().min(1).max(256) }),
      response: { 200: z.object({ removed: z.string(), deletedFile: z.boolean() }), ...errors }
    }
  }, async (request) => {
    const removed = await removeModel(engine, request.params.name)
    network?.advertiseNow()
    return removed
  })
}
