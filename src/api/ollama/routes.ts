import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { PlexusError, isPlexusError } from '../../errors.js'
import { progressGate, pullAndRegister, removeModel } from '../../inference/install.js'
import type { PullProgress } from '../../inference/pull.js'
import type { InferenceEngine, GenerateRequest, GenerateResult } from '../../inference/engine.js'
import { JsonSchemaObject, type OutputFormat } from '../../inference/output-format.js'
import type { ModelRecord } from '../../inference/registry.js'
import { MAX_STOP_LENGTH, MAX_STOP_SEQUENCES, MAX_EMBEDDING_INPUTS } from '../../inference/constants.js'
import type { Router } from '../../router/router.js'
import type { Metrics } from '../metrics.js'
import { toPlexusError } from '../errors.js'
import { resolveModelName, disconnectSignal, generateWithMetrics, openStream, requestPrivacy } from '../generation.js'

/**
 * Ollama-compatible routes under `/api`: tags, chat, generate (NDJSON streaming by default, as in
 * Ollama), embed, ps, show and version. Errors use Ollama's `{"error": "..."}` shape.
 */

export interface OllamaRoutesOptions {
  engine: InferenceEngine
  router: Router
  metrics: Metrics
  version: string
  /** Told when `/api/pull` or `/api/delete` changed the installed models (the node re-advertises). */
  onModelsChanged?: () => void
}

const Options = z.object({
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  top_k: z.number().int().min(0).max(1000).optional(),
  min_p: z.number().min(0).max(1).optional(),
  seed: z.number().int().optional(),
  num_predict: z.number().int().min(-2).optional(),
  stop: z.array(z.string().max(MAX_STOP_LENGTH)).max(MAX_STOP_SEQUENCES).optional(),
  repeat_penalty: z.number().min(0).max(10).optional(),
  presence_penalty: z.number().min(-2).max(2).optional(),
  frequency_penalty: z.number().min(-2).max(2).optional()
}).optional()

const DURATION_UNITS_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
/** Longest keep_alive honoured as a deadline; longer ones are as good as forever. */
const MAX_KEEP_ALIVE_MS = 365 * 24 * 3_600_000

/**
 * Ollama's `keep_alive` in ms, or -1 for "as long as possible": a number is seconds, a string a Go
 * duration ("5m", "1h30m", "-1", "0", "300ms") or whole seconds; negative means forever.
 */
export function parseKeepAlive (v: string | number): number | null {
  let ms: number
  if (typeof v === 'number') {
    ms = v * 1000
  } else if (/^-?\d+$/.test(v.trim())) {
    ms = Number(v.trim()) * 1000
  } else {
    const m = /^(-?)((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/.exec(v.trim())
    if (m == null) return null
    ms = 0
    for (const [, n, unit] of m[2]!.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(n) * DURATION_UNITS_MS[unit!]!
    if (m[1] === '-') ms = -ms
  }
  if (!Number.isFinite(ms)) return null
  return ms < 0 || ms > MAX_KEEP_ALIVE_MS ? -1 : Math.round(ms)
}

/** `expires_at` of a model with no deadline. */
const FOREVER = '9999-12-31T23:59:59.000Z'

const KeepAlive = z.union([z.string().max(64), z.number()]).optional()
  .refine(v => v == null || parseKeepAlive(v) != null, 'keep_alive is a duration such as "5m", "1h30m", "0" or -1, or a number of seconds')

/** `"json"` for any JSON object, or a JSON schema; `""` is no constraint (runs on this node only). */
const OllamaFormat = z.union([z.literal(''), z.literal('json'), JsonSchemaObject]).optional().describe('Structured output: "json" or a JSON schema (runs on this node only).')

function outputFormat (f: z.output<typeof OllamaFormat>): { format?: OutputFormat } {
  if (f == null || f === '') return {}
  return { format: f === 'json' ? { type: 'json' } : { type: 'json-schema', schema: f } }
}

const Message = z.object({ role: z.enum(['system', 'user', 'assistant', 'tool']), content: z.string() })

const ChatBody = z.object({
  model: z.string().min(1).max(256),
  messages: z.array(Message).max(4096).default([]),
  stream: z.boolean().default(true),
  options: Options,
  format: OllamaFormat,
  keep_alive: KeepAlive
})

const GenerateBody = z.object({
  model: z.string().min(1).max(256),
  prompt: z.string().default(''),
  system: z.string().optional(),
  raw: z.boolean().optional(),
  stream: z.boolean().default(true),
  options: Options,
  format: OllamaFormat,
  keep_alive: KeepAlive
})

const EmbedBody = z.object({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(z.string()).min(1).max(MAX_EMBEDDING_INPUTS)]),
  truncate: z.literal(false).optional().describe('Inputs are never truncated: too long is an error.'),
  keep_alive: KeepAlive
})

const LegacyEmbeddingsBody = z.object({
  model: z.string().min(1).max(256),
  prompt: z.string(),
  options: Options,
  keep_alive: KeepAlive
})

/** Ollama names the model to pull; Plexus pulls GGUF files by URL (no registry is reachable). */
const PullBody = z.object({
  model: z.string().min(1).max(4096).optional(),
  name: z.string().min(1).max(4096).optional(),
  insecure: z.boolean().optional(),
  stream: z.boolean().default(true)
}).refine(b => b.model != null || b.name != null, 'model is required')

const DeleteBody = z.object({ model: z.string().min(1).max(256).optional(), name: z.string().min(1).max(256).optional() })
  .refine(b => b.model != null || b.name != null, 'model is required')

const OllamaError = z.object({ error: z.string() })
const errors = { 400: OllamaError, 401: OllamaError, 404: OllamaError, 429: OllamaError, 503: OllamaError }

const Final = {
  model: z.string(),
  created_at: z.string(),
  done: z.boolean(),
  done_reason: z.string().optional(),
  total_duration: z.number().optional(),
  load_duration: z.number().optional(),
  prompt_eval_count: z.number().optional(),
  prompt_eval_duration: z.number().optional(),
  eval_count: z.number().optional(),
  eval_duration: z.number().optional()
}
const ChatResponse = z.object({ ...Final, message: z.object({ role: z.literal('assistant'), content: z.string() }) })
const GenerateResponse = z.object({ ...Final, response: z.string() })
const EmbedResponse = z.object({ model: z.string(), embeddings: z.array(z.array(z.number())), total_duration: z.number(), load_duration: z.number(), prompt_eval_count: z.number() })
const ShowResponse = z.object({ details: z.record(z.string(), z.unknown()), model_info: z.record(z.string(), z.unknown()), template: z.string(), modified_at: z.string() })

function sampling (options: z.output<typeof Options>): Omit<GenerateRequest, 'model'> {
  const o = options ?? {}
  return {
    // Ollama's defaults.
    temperature: o.temperature ?? 0.8,
    topP: o.top_p ?? 0.9,
    topK: o.top_k ?? 40,
    minP: o.min_p ?? 0,
    seed: o.seed,
    repeatPenalty: o.repeat_penalty ?? 1.1,
    presencePenalty: o.presence_penalty ?? 0,
    frequencyPenalty: o.frequency_penalty ?? 0,
    stop: o.stop,
    maxTokens: o.num_predict == null || o.num_predict < 0 ? undefined : Math.max(1, o.num_predict)
  }
}

const ns = (ms: number): number => Math.round(ms * 1e6)

function finalStats (r: GenerateResult, startedAt: number): Record<string, unknown> {
  return {
    done: true,
    done_reason: r.finishReason,
    total_duration: ns(performance.now() - startedAt),
    load_duration: 0,
    prompt_eval_count: r.usage.promptTokens,
    prompt_eval_duration: ns(r.timings.firstTokenMs),
    eval_count: r.usage.completionTokens,
    eval_duration: ns(r.timings.decodeMs)
  }
}

function details (m: ModelRecord): Record<string, unknown> {
  const p = m.metadata.parameters
  const size = p >= 1e9 ? `${(p / 1e9).toFixed(1)}B` : p >= 1e6 ? `${(p / 1e6).toFixed(1)}M` : `${(p / 1e3).toFixed(0)}K`
  return { format: 'gguf', family: m.metadata.architecture, families: [m.metadata.architecture], parameter_size: size, quantization_level: m.metadata.quantization }
}

export const ollamaRoutes: FastifyPluginAsyncZod<OllamaRoutesOptions> = async (app, { engine, router, metrics, version, onModelsChanged }) => {
  app.get('/version', { schema: { tags: ['ollama'], response: { 200: z.object({ version: z.string() }) } } }, async () => ({ version }))

  app.get('/tags', { schema: { tags: ['ollama'], summary: 'List local models' } }, async () => ({
    models: engine.registry.list().map(m => ({
      name: m.name, model: m.name, modified_at: m.addedAt, size: m.sizeBytes, digest: m.sha256, details: details(m)
    }))
  }))

  app.get('/ps', { schema: { tags: ['ollama'], summary: 'List loaded models' } }, async () => ({
    models: engine.loadedModels().map(m => ({
      name: m.name, model: m.name, size: m.memoryBytes, digest: m.sha256, size_vram: 0, context_length: m.contextSize,
      // No keep_alive set: loaded for as long as the memory budget allows (Ollama shows such a model as "Forever").
      expires_at: m.expiresAt ?? FOREVER,
      details: details(engine.registry.get(m.name))
    }))
  }))

  app.post('/show', {
    schema: { tags: ['ollama'], summary: 'Show model information', body: z.object({ model: z.string().min(1).max(256).optional(), name: z.string().max(256).optional() }), response: { 200: ShowResponse, 404: OllamaError } }
  }, async (request) => {
    const m = engine.registry.get(resolveModelName(engine, request.body.model ?? request.body.name))
    return {
      details: details(m),
      model_info: {
        'general.architecture': m.metadata.architecture,
        'general.parameter_count': m.metadata.parameters,
        [`${m.metadata.architecture}.context_length`]: m.metadata.contextLength,
        [`${m.metadata.architecture}.embedding_length`]: m.metadata.embeddingLength
      },
      template: m.metadata.chatTemplate ?? '',
      modified_at: m.addedAt
    }
  })

  app.post('/chat', { schema: { tags: ['ollama'], summary: 'Chat (NDJSON stream unless stream is false)', body: ChatBody, response: { 200: ChatResponse, ...errors } } }, async (request, reply) => {
    const body = request.body
    const req: GenerateRequest = { model: router.resolveModel(body.model), messages: body.messages, ...sampling(body.options), ...outputFormat(body.format) }
    if (body.messages.length === 0) {
      // Ollama loads the model and answers done on an empty chat (a local model, then); with
      // keep_alive 0 it unloads it instead.
      const done = await loadOrUnload(req.model, body.keep_alive)
      return { model: req.model, created_at: new Date().toISOString(), message: { role: 'assistant' as const, content: '' }, done: true, done_reason: done }
    }
    return await respond(request, reply, req, body.stream, body.keep_alive, text => ({ message: { role: 'assistant', content: text } }))
  })

  app.post('/generate', { schema: { tags: ['ollama'], summary: 'Generate (NDJSON stream unless stream is false)', body: GenerateBody, response: { 200: GenerateResponse, ...errors } } }, async (request, reply) => {
    const body = request.body
    const model = router.resolveModel(body.model)
    const base = { model, ...sampling(body.options), ...outputFormat(body.format) }
    if (body.prompt === '' && body.system == null) {
      const done = await loadOrUnload(model, body.keep_alive)
      return { model, created_at: new Date().toISOString(), response: '', done: true, done_reason: done }
    }
    // Like Ollama, the prompt goes through the chat template unless `raw` is set.
    const req: GenerateRequest = body.raw === true
      ? { ...base, prompt: body.prompt }
      : { ...base, messages: [...(body.system != null ? [{ role: 'system' as const, content: body.system }] : []), { role: 'user' as const, content: body.prompt }] }
    return await respond(request, reply, req, body.stream, body.keep_alive, text => ({ response: text }))
  })

  app.post('/embed', { schema: { tags: ['ollama'], summary: 'Embed text', body: EmbedBody, response: { 200: EmbedResponse, ...errors } } }, async (request, reply) => {
    const body = request.body
    const started = performance.now()
    const inputs = typeof body.input === 'string' ? [body.input] : body.input
    const r = await engine.embed(resolveModelName(engine, body.model), inputs, { signal: disconnectSignal(reply) })
    keepAlive(r.model, body.keep_alive)
    return { model: r.model, embeddings: r.embeddings, total_duration: ns(performance.now() - started), load_duration: 0, prompt_eval_count: r.promptTokens }
  })

  app.post('/embeddings', {
    schema: { tags: ['ollama'], summary: 'Embed one prompt (the older endpoint, before /api/embed)', body: LegacyEmbeddingsBody, response: { 200: z.object({ embedding: z.array(z.number()) }), ...errors } }
  }, async (request, reply) => {
    const body = request.body
    const r = await engine.embed(resolveModelName(engine, body.model), [body.prompt], { signal: disconnectSignal(reply) })
    keepAlive(r.model, body.keep_alive)
    return { embedding: r.embeddings[0]! }
  })

  app.post('/pull', {
    schema: { tags: ['ollama'], summary: 'Pull a GGUF model by URL (NDJSON progress unless stream is false)', body: PullBody, response: { 200: z.object({ status: z.string() }), 400: OllamaError, 401: OllamaError, 409: OllamaError } }
  }, async (request, reply) => {
    const body = request.body
    const target = (body.model ?? body.name)!
    if (!/^https?:\/\//i.test(target)) {
      throw new PlexusError('PLX_ERR_BAD_REQUEST', [`Plexus pulls GGUF files by URL ("model": "https://…/file.gguf"): the Ollama registry is not reachable from it, so '${target.slice(0, 200)}' cannot be pulled by name`], { param: 'model' })
    }
    const signal = disconnectSignal(reply)
    const pull = async (progress: (p: PullProgress) => void): Promise<void> => {
      const r = await pullAndRegister(engine.registry, target, { signal, onProgress: progress })
      if (!r.alreadyRegistered) onModelsChanged?.()
    }
    if (!body.stream) {
      await pull(() => {})
      return { status: 'success' }
    }
    const out = openStream(reply, 'application/x-ndjson')
    const write = (obj: object): void => out.write(JSON.stringify(obj) + '\n')
    const gate = progressGate()
    try {
      write({ status: 'pulling manifest' })
      await pull(p => { if (gate(p.receivedBytes, p.totalBytes)) write({ status: 'downloading', digest: target.replace(/[?#].*$/, ''), total: p.totalBytes ?? undefined, completed: p.receivedBytes }) })
      write({ status: 'verifying sha256 digest' })
      write({ status: 'success' })
    } catch (err) {
      if (!isPlexusError(err, 'PLX_ERR_ABORTED')) write({ error: toPlexusError(err, 0).message })
    } finally {
      out.end()
    }
    return reply
  })

  app.delete('/delete', {
    schema: { tags: ['ollama'], summary: 'Remove a model (unloads it; deletes its file only if Plexus downloaded or copied it)', body: DeleteBody, response: { 200: z.object({}), 404: OllamaError, 409: OllamaError } }
  }, async (request) => {
    await removeModel(engine, resolveModelName(engine, (request.body.model ?? request.body.name)!))
    onModelsChanged?.()
    return {}
  })

  /** Applies a request's keep_alive to a model loaded here (not given: what was set stays). */
  function keepAlive (model: string, keep: string | number | undefined): void {
    if (keep != null) engine.keepAlive(model, parseKeepAlive(keep))
  }

  /** An empty request: loads the model (done_reason "load"), or with keep_alive 0 unloads it ("unload"). */
  async function loadOrUnload (model: string, keep: string | number | undefined): Promise<'load' | 'unload'> {
    if (keep != null && parseKeepAlive(keep) === 0) {
      engine.registry.get(model) // an unknown model is a 404, as for a load
      // Unloaded now if idle, else as soon as its requests finish.
      if (!await engine.unload(model)) engine.keepAlive(model, 0)
      return 'unload'
    }
    await engine.load(model)
    keepAlive(model, keep)
    return 'load'
  }

  async function respond (
    request: import('fastify').FastifyRequest,
    reply: import('fastify').FastifyReply,
    req: GenerateRequest,
    stream: boolean,
    keep: string | number | undefined,
    piece: (text: string) => Record<string, unknown>
  ): Promise<any> { // the route's 200 schema checks the shape
    const startedAt = performance.now()
    const signal = disconnectSignal(reply)
    // Ollama's API has no field for it: the level comes from X-Plexus-Privacy or the default.
    const privacy = requestPrivacy(router, request.headers, undefined)
    const head = (): Record<string, unknown> => ({ model: req.model, created_at: new Date().toISOString() })
    if (!stream) {
      const r = await generateWithMetrics(router, metrics, req, { privacy, signal })
      keepAlive(r.model, keep)
      return { ...head(), ...piece(r.text), ...finalStats(r, startedAt) }
    }
    await router.validate(req, privacy)
    const out = openStream(reply, 'application/x-ndjson')
    const write = (obj: object): void => out.write(JSON.stringify(obj) + '\n')
    try {
      const r = await generateWithMetrics(router, metrics, req, { privacy, signal, onText: text => write({ ...head(), ...piece(text), done: false }) })
      keepAlive(r.model, keep)
      write({ ...head(), ...piece(''), ...finalStats(r, startedAt) })
    } catch (err) {
      if (!isPlexusError(err, 'PLX_ERR_ABORTED')) write({ error: toPlexusError(err, 0).message })
    } finally {
      out.end()
    }
    return reply
  }
}
