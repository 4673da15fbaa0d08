import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { PlexusError, isPlexusError } from '../../errors.js'
import type { InferenceEngine, ChatMessage, GenerateRequest, GenerateResult } from '../../inference/engine.js'
import type { Metrics } from '../metrics.js'
import type { CabinetService } from '../../cabinets/service.js'
import { fitSources, sourcesMessage, toCitations, type Citation } from '../../cabinets/answer.js'
import { pinPrivate, requestedLevel } from '../../router/privacy.js'
import { callerId } from '../plexus/cabinets.js'
import { openaiErrorBody, toPlexusError } from '../errors.js'
import { resolveModelName, disconnectSignal, generateWithMetrics, openStream } from '../generation.js'
import {
  ChatCompletionRequestSchema, CompletionRequestSchema, EmbeddingRequestSchema, ChatCompletionSchema, CompletionSchema,
  EmbeddingListSchema, ModelSchema, ModelListSchema, ErrorSchema, type ChatCompletionRequest, type CompletionRequest
} from './schemas.js'

export interface OpenAIRoutesOptions {
  engine: InferenceEngine
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

function messageText (content: ChatCompletionRequest['messages'][number]['content']): string {
  if (content == null) return ''
  if (typeof content === 'string') return content
  return content.map(p => p.text).join('')
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
export const openaiRoutes: FastifyPluginAsyncZod<OpenAIRoutesOptions> = async (app, { engine, cabinets, metrics }) => {
  const modelEntry = (m: { name: string, addedAt: string }): z.output<typeof ModelSchema> =>
    ({ id: m.name, object: 'model', created: Math.floor(Date.parse(m.addedAt) / 1000), owned_by: 'plexus' })

  app.get('/models', { schema: { tags: ['openai'], summary: 'List models', response: { 200: ModelListSchema, 401: ErrorSchema } } }, async () => ({
    object: 'list' as const,
    data: engine.registry.list().map(modelEntry)
  }))

  app.get('/models/:model', {
    schema: { tags: ['openai'], summary: 'Retrieve a model', params: z.object({ model: z.string().max(256) }), response: { 200: ModelSchema, 404: ErrorSchema } }
  }, async (request) => modelEntry(engine.registry.get(request.params.model)))

  app.post('/chat/completions', {
    schema: { tags: ['openai'], summary: 'Create a chat completion (SSE when stream is true)', body: ChatCompletionRequestSchema, response: { 200: ChatCompletionSchema, ...errors } }
  }, async (request, reply) => {
    const body = request.body
    const messages: ChatMessage[] = body.messages.map(m => ({ role: m.role, content: messageText(m.content) }))
    const req: GenerateRequest = {
      model: resolveModelName(engine, body.model),
      messages,
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
      ...sampling(body)
    }
    const id = newId('chatcmpl')
    const created = Math.floor(Date.now() / 1000)
    const signal = disconnectSignal(reply)
    const level = requestedLevel(request.headers['x-plexus-privacy'] as string | undefined, body.plexus?.privacy)
    let citations: Citation[] | undefined
    if (body.plexus?.cabinets != null) {
      // Cabinet passages make the whole request private to this node.
      pinPrivate(level, body.plexus.cabinets.map(c => `cabinet:${c}`).join(', '))
      const question = [...messages].reverse().find(m => m.role === 'user')
      if (question == null) throw new PlexusError('PLX_ERR_BAD_REQUEST', ['A request with plexus.cabinets needs a user message to search for'], { param: 'messages' })
      const found = await cabinets.search(body.plexus.cabinets, question.content, { topK: body.plexus.top_k ?? 5, caller: callerId(request), signal })
      const sources = await fitSources(engine, req.model, cabinets.sourcesFor(found.hits), messages)
      req.messages = [...(sources.length > 0 ? [sourcesMessage(sources)] : []), ...messages]
      citations = toCitations(sources)
    }

    if (body.stream !== true) {
      const r = await generateWithMetrics(engine, metrics, req, { signal })
      return {
        ...(citations != null ? { citations } : {}),
        id,
        object: 'chat.completion' as const,
        created,
        model: r.model,
        system_fingerprint: FINGERPRINT,
        choices: [{ index: 0, message: { role: 'assistant' as const, content: r.text, refusal: null }, logprobs: null, finish_reason: r.finishReason }],
        usage: usageOf(r)
      }
    }

    // Validate everything that can fail before the 200 and the first byte go out.
    await engine.validate(req)
    const chunk = (delta: object, finish: string | null): object => ({
      id, object: 'chat.completion.chunk', created, model: req.model, system_fingerprint: FINGERPRINT,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }]
    })
    const includeUsage = body.stream_options?.include_usage === true
    await streamSse(reply, async write => {
      write(chunk({ role: 'assistant', content: '' }, null))
      const r = await generateWithMetrics(engine, metrics, req, { signal, onText: text => write(chunk({ content: text }, null)) })
      write({ ...chunk({}, r.finishReason), ...(citations != null ? { citations } : {}) })
      if (includeUsage) {
        write({
          id, object: 'chat.completion.chunk', created, model: r.model, system_fingerprint: FINGERPRINT, choices: [],
          usage: usageOf(r)
        })
      }
    })
    return reply
  })

  app.post('/completions', {
    schema: { tags: ['openai'], summary: 'Create a text completion (SSE when stream is true)', body: CompletionRequestSchema, response: { 200: CompletionSchema, ...errors } }
  }, async (request, reply) => {
    const body = request.body
    const prompt = typeof body.prompt === 'string' ? body.prompt : body.prompt[0] ?? ''
    const req: GenerateRequest = {
      model: resolveModelName(engine, body.model),
      prompt,
      // OpenAI's legacy completions default to 16 tokens.
      maxTokens: body.max_tokens ?? 16,
      ...sampling(body)
    }
    const id = newId('cmpl')
    const created = Math.floor(Date.now() / 1000)
    const signal = disconnectSignal(reply)
    const echo = body.echo === true ? prompt : ''

    if (body.stream !== true) {
      const r = await generateWithMetrics(engine, metrics, req, { signal })
      return {
        id,
        object: 'text_completion' as const,
        created,
        model: r.model,
        system_fingerprint: FINGERPRINT,
        choices: [{ index: 0, text: echo + r.text, logprobs: null, finish_reason: r.finishReason }],
        usage: usageOf(r)
      }
    }

    await engine.validate(req)
    const chunk = (text: string, finish: string | null): object => ({
      id, object: 'text_completion', created, model: req.model, system_fingerprint: FINGERPRINT,
      choices: [{ index: 0, text, logprobs: null, finish_reason: finish }]
    })
    const includeUsage = body.stream_options?.include_usage === true
    await streamSse(reply, async write => {
      if (echo !== '') write(chunk(echo, null))
      const r = await generateWithMetrics(engine, metrics, req, { signal, onText: text => write(chunk(text, null)) })
      write(chunk('', r.finishReason))
      if (includeUsage) {
        write({
          id, object: 'text_completion', created, model: r.model, system_fingerprint: FINGERPRINT, choices: [],
          usage: usageOf(r)
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

/**
 * Writes a Server-Sent Events response: each object as a `data:` event, then `data: [DONE]`. An
 * error after the stream started is sent as an `error` object event (the status is already 200).
 */
async function streamSse (reply: import('fastify').FastifyReply, body: (write: (event: object) => void) => Promise<void>): Promise<void> {
  const stream = openStream(reply, 'text/event-stream; charset=utf-8')
  const write = (event: object): void => stream.write(`data: ${JSON.stringify(event)}\n\n`)
  try {
    await body(write)
    stream.write('data: [DONE]\n\n')
  } catch (err) {
    if (!isPlexusError(err, 'PLX_ERR_ABORTED')) write(openaiErrorBody(toPlexusError(err, 0)))
  } finally {
    stream.end()
  }
}
