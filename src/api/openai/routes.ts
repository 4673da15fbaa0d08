import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { PlexusError, isPlexusError } from '../../errors.js'
import type { InferenceEngine, ChatMessage, GenerateRequest, GenerateResult } from '../../inference/engine.js'
import type { OutputFormat } from '../../inference/output-format.js'
import type { Metrics } from '../metrics.js'
import type { CabinetService } from '../../cabinets/service.js'
import { fitSources, sourcesMessage, toCitations, type Citation } from '../../cabinets/answer.js'
import { pinPrivate, type PrivacyTag } from '../../router/privacy.js'
import type { Router, NetworkModel, RoutedResult } from '../../router/router.js'
import { callerId } from '../plexus/cabinets.js'
import { disconnectSignal, generateWithMetrics, jsonWithHole, requestPrivacy, resolveModelName, streamSse } from '../generation.js'
import {
  ChatCompletionRequestSchema, CompletionRequestSchema, EmbeddingRequestSchema, ChatCompletionSchema, CompletionSchema,
  EmbeddingListSchema, ModelSchema, ModelListSchema, ErrorSchema, type ChatCompletionRequest, type CompletionRequest
} from './schemas.js'

export interface OpenAIRoutesOptions {
  engine: InferenceEngine
  router: Router
  cabinets: CabinetService
  metrics: Metrics
}

const FINGERPRINT = 'plexus'
const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema, 503: ErrorSchema }

function newId (prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('base64url')}`
}

/** OpenAI's usage object from a generation's exact token counts. */
function usageOf (r: GenerateResult): { prompt_tokens: number, completion_tokens: number, total_tokens: number } {
  return { prompt_tokens: r.usage.promptTokens, completion_tokens: r.usage.completionTokens, total_tokens: r.usage.promptTokens + r.usage.completionTokens }
}

/** The usage of several generations of one request, added up. */
function totalUsage (rs: readonly GenerateResult[]): ReturnType<typeof usageOf> {
  const u = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }
  for (const r of rs) {
    const one = usageOf(r)
    u.prompt_tokens += one.prompt_tokens
    u.completion_tokens += one.completion_tokens
    u.total_tokens += one.total_tokens
  }
  return u
}

/** `plexus.route` (the first choice's) and, with several choices, `plexus.routes` by index. */
function routesOf (rs: readonly RoutedResult[]): { route: RoutedResult['route'], routes?: Array<RoutedResult['route']> } {
  return { route: rs[0]!.route, ...(rs.length > 1 ? { routes: rs.map(r => r.route) } : {}) }
}

/**
 * `n` choices of one request: the request `n` times, the i-th with `seed + i` when a seed is given
 * (so the choices differ, and the same request gives the same choices again).
 */
function choicesOf (req: GenerateRequest, n: number): GenerateRequest[] {
  return Array.from({ length: n }, (_, i) => (i === 0 || req.seed == null ? req : { ...req, seed: req.seed + i }))
}

/** Runs generations at once (each on a free slot or a peer); the first failure stops the others. */
async function generateAll (router: Router, metrics: Metrics, reqs: readonly GenerateRequest[], privacy: PrivacyTag, signal: AbortSignal, onText?: (i: number, text: string) => void): Promise<RoutedResult[]> {
  const stop = new AbortController()
  const either = AbortSignal.any([signal, stop.signal])
  try {
    return await Promise.all(reqs.map(async (req, i) => await generateWithMetrics(router, metrics, req, { privacy, signal: either, ...(onText != null ? { onText: (text: string) => onText(i, text) } : {}) })))
  } catch (err) {
    stop.abort()
    throw err
  }
}

/** Generations per request at most (prompts × n), each a slot or a peer's. */
const MAX_GENERATIONS = 16

function checkGenerations (count: number): void {
  if (count > MAX_GENERATIONS) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`At most ${MAX_GENERATIONS} generations per request (prompts × n), not ${count}`], { param: 'n' })
}

function messageText (content: ChatCompletionRequest['messages'][number]['content']): string {
  if (content == null) return ''
  if (typeof content === 'string') return content
  return content.map(p => p.text).join('')
}

/** OpenAI's `response_format` as the engine's output format (a schema-less json_schema is any JSON object). */
function outputFormat (f: ChatCompletionRequest['response_format']): OutputFormat | null {
  if (f == null || f.type === 'text') return null
  // json_object asks for a JSON object (llama.cpp's JSON grammar: any object); a schema-less json_schema is taken the same way.
  if (f.type === 'json_object' || f.json_schema.schema == null) return { type: 'json' }
  return { type: 'json-schema', schema: f.json_schema.schema }
}

function sampling (body: ChatCompletionRequest | CompletionRequest): Omit<GenerateRequest, 'model'> {
  const stop = body.stop == null ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop
  return {
    temperature: body.temperature ?? 1,
    topP: body.top_p ?? 1,
    topK: body.top_k ?? 0,
    minP: body.min_p ?? 0,
    seed: body.seed ?? undefined,
    presencePenalty: body.presence_penalty ?? 0,
    frequencyPenalty: body.frequency_penalty ?? 0,
    stop
  }
}

/** OpenAI-compatible routes, registered under `/v1`. */
export const openaiRoutes: FastifyPluginAsyncZod<OpenAIRoutesOptions> = async (app, { engine, router, cabinets, metrics }) => {
  const modelEntry = (m: NetworkModel): z.output<typeof ModelSchema> => {
    const local = m.location === 'local' ? engine.registry.get(m.id) : null
    return {
      id: m.id,
      object: 'model',
      created: local != null ? Math.floor(Date.parse(local.addedAt) / 1000) : 0,
      owned_by: m.location === 'local' ? 'plexus' : m.location === 'network' ? 'plexus-network' : 'cloud',
      plexus: { location: m.location, peers: m.peers, sha256: m.sha256 }
    }
  }

  app.get('/models', { schema: { tags: ['openai'], summary: 'List models: local, on peers of the network, and at the cloud upstream', response: { 200: ModelListSchema, 401: ErrorSchema } } }, async () => ({
    object: 'list' as const,
    data: router.models().map(modelEntry)
  }))

  app.get('/models/:model', {
    schema: { tags: ['openai'], summary: 'Retrieve a model', params: z.object({ model: z.string().max(256) }), response: { 200: ModelSchema, 404: ErrorSchema } }
  }, async (request) => {
    const found = router.models().find(m => m.id === request.params.model)
    if (found == null) throw new PlexusError('PLX_ERR_MODEL_NOT_FOUND', [request.params.model], { param: 'model' })
    return modelEntry(found)
  })

  app.post('/chat/completions', {
    schema: { tags: ['openai'], summary: 'Create a chat completion (SSE when stream is true)', body: ChatCompletionRequestSchema, response: { 200: ChatCompletionSchema, ...errors } }
  }, async (request, reply) => {
    const body = request.body
    const messages: ChatMessage[] = body.messages.map(m => ({ role: m.role, content: messageText(m.content) }))
    const format = outputFormat(body.response_format)
    const req: GenerateRequest = {
      model: router.resolveModel(body.model),
      messages,
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
      ...sampling(body),
      ...(format != null ? { format } : {})
    }
    const id = newId('chatcmpl')
    const created = Math.floor(Date.now() / 1000)
    const signal = disconnectSignal(reply)
    let privacy = requestPrivacy(router, request.headers, body.plexus?.privacy)
    let citations: Citation[] | undefined
    if (body.plexus?.cabinets != null) {
      // Cabinet passages make the whole request private to this node. Only an explicit wider
      // level is an error: a configured default of community just does not apply to them.
      const explicit = body.plexus.privacy ?? request.headers['x-plexus-privacy']
      privacy = pinPrivate(explicit != null ? privacy.level : 'private', body.plexus.cabinets.map(c => `cabinet:${c}`).join(', '))
      const question = [...messages].reverse().find(m => m.role === 'user')
      if (question == null) throw new PlexusError('PLX_ERR_BAD_REQUEST', ['A request with plexus.cabinets needs a user message to search for'], { param: 'messages' })
      const found = await cabinets.search(body.plexus.cabinets, question.content, { topK: body.plexus.top_k ?? 5, caller: callerId(request), signal })
      const sources = await fitSources(engine, req.model, cabinets.sourcesFor(found.hits), messages)
      req.messages = [...(sources.length > 0 ? [sourcesMessage(sources)] : []), ...messages]
      citations = toCitations(sources)
    }

    const reqs = choicesOf(req, body.n ?? 1)
    checkGenerations(reqs.length)
    const all = async (onText?: (i: number, text: string) => void): Promise<RoutedResult[]> => await generateAll(router, metrics, reqs, privacy, signal, onText)

    if (body.stream !== true) {
      const rs = await all()
      return {
        ...(citations != null ? { citations } : {}),
        id,
        object: 'chat.completion' as const,
        created,
        model: rs[0]!.model,
        system_fingerprint: FINGERPRINT,
        choices: rs.map((r, index) => ({ index, message: { role: 'assistant' as const, content: r.text, refusal: null }, logprobs: null, finish_reason: r.finishReason })),
        usage: totalUsage(rs),
        plexus: routesOf(rs)
      }
    }

    // Validate everything that can fail before the 200 and the first byte go out.
    await router.validate(req, privacy)
    const chunk = (index: number, delta: object, finish: string | null): object => ({
      id, object: 'chat.completion.chunk', created, model: req.model, system_fingerprint: FINGERPRINT,
      choices: [{ index, delta, logprobs: null, finish_reason: finish }]
    })
    const includeUsage = body.stream_options?.include_usage === true
    const contentChunks = reqs.map((_, i) => jsonWithHole(text => chunk(i, { content: text }, null)))
    await streamSse(reply, async (write, writeJson) => {
      reqs.forEach((_, i) => { write(chunk(i, { role: 'assistant', content: '' }, null)) })
      const rs = await all((i, text) => { writeJson(contentChunks[i]!(text)) })
      rs.forEach((r, i) => { write({ ...chunk(i, {}, r.finishReason), ...(citations != null ? { citations } : {}), plexus: { route: r.route } }) })
      if (includeUsage) {
        write({
          id, object: 'chat.completion.chunk', created, model: rs[0]!.model, system_fingerprint: FINGERPRINT, choices: [],
          usage: totalUsage(rs)
        })
      }
    })
    return reply
  })

  app.post('/completions', {
    schema: { tags: ['openai'], summary: 'Create a text completion (SSE when stream is true)', body: CompletionRequestSchema, response: { 200: CompletionSchema, ...errors } }
  }, async (request, reply) => {
    const body = request.body
    const prompts = typeof body.prompt === 'string' ? [body.prompt] : body.prompt
    const format = outputFormat(body.response_format)
    const model = router.resolveModel(body.model)
    // Choice i is prompt ⌊i / n⌋'s (i mod n)-th completion, as at OpenAI.
    const n = body.n ?? 1
    const reqs: GenerateRequest[] = prompts.flatMap(prompt => choicesOf({
      model,
      prompt,
      // OpenAI's legacy completions default to 16 tokens.
      maxTokens: body.max_tokens ?? 16,
      ...sampling(body),
      ...(format != null ? { format } : {})
    }, n))
    checkGenerations(reqs.length)
    const id = newId('cmpl')
    const created = Math.floor(Date.now() / 1000)
    const signal = disconnectSignal(reply)
    const echo = (i: number): string => body.echo === true ? prompts[Math.floor(i / n)]! : ''
    const privacy = requestPrivacy(router, request.headers, body.plexus?.privacy)
    const all = async (onText?: (i: number, text: string) => void): Promise<RoutedResult[]> => await generateAll(router, metrics, reqs, privacy, signal, onText)

    if (body.stream !== true) {
      const rs = await all()
      return {
        id,
        object: 'text_completion' as const,
        created,
        model: rs[0]!.model,
        system_fingerprint: FINGERPRINT,
        choices: rs.map((r, i) => ({ index: i, text: echo(i) + r.text, logprobs: null, finish_reason: r.finishReason })),
        usage: totalUsage(rs),
        plexus: routesOf(rs)
      }
    }

    // The n choices of a prompt differ only in seed: one check per prompt.
    for (let i = 0; i < reqs.length; i += n) await router.validate(reqs[i]!, privacy)
    const chunk = (index: number, text: string, finish: string | null): object => ({
      id, object: 'text_completion', created, model, system_fingerprint: FINGERPRINT,
      choices: [{ index, text, logprobs: null, finish_reason: finish }]
    })
    const includeUsage = body.stream_options?.include_usage === true
    const textChunks = reqs.map((_, i) => jsonWithHole(text => chunk(i, text, null)))
    await streamSse(reply, async (write, writeJson) => {
      reqs.forEach((_, i) => { if (echo(i) !== '') write(chunk(i, echo(i), null)) })
      const rs = await all((i, text) => { writeJson(textChunks[i]!(text)) })
      rs.forEach((r, i) => { write({ ...chunk(i, '', r.finishReason), plexus: { route: r.route } }) })
      if (includeUsage) {
        write({
          id, object: 'text_completion', created, model: rs[0]!.model, system_fingerprint: FINGERPRINT, choices: [],
          usage: totalUsage(rs)
        })
      }
    })
    return reply
  })

  app.post('/embeddings', {
    schema: { tags: ['openai'], summary: 'Create embeddings (float or base64)', body: EmbeddingRequestSchema, response: { 200: EmbeddingListSchema, ...errors } }
  }, async (request, reply) => {
    const body = request.body
    const model = resolveModelName(engine, body.model)
    const inputs: Array<string | number[]> = typeof body.input === 'string'
      ? [body.input]
      : typeof body.input[0] === 'number' ? [body.input as number[]] : body.input as Array<string | number[]>
    const r = await engine.embed(model, inputs, { signal: disconnectSignal(reply) })
    const width = r.embeddings[0]?.length ?? 0
    if (body.dimensions != null && body.dimensions !== width) {
      throw new PlexusError('PLX_ERR_BAD_REQUEST', [`Model '${model}' produces ${width}-dimensional embeddings; 'dimensions' must be ${width} or omitted`], { param: 'dimensions' })
    }
    return {
      object: 'list' as const,
      data: r.embeddings.map((e, index) => ({
        object: 'embedding' as const,
        index,
        embedding: body.encoding_format === 'base64' ? Buffer.from(new Float32Array(e).buffer).toString('base64') : e
      })),
      model: r.model,
      usage: { prompt_tokens: r.promptTokens, total_tokens: r.promptTokens }
    }
  })
}
