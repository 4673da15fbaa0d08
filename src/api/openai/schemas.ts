import { z } from 'zod'
import { CitationSchema } from '../plexus/cabinet-schemas.js'
import { MAX_STOP_SEQUENCES, MAX_STOP_LENGTH, MAX_EMBEDDING_INPUTS } from '../../inference/constants.js'
import { JsonSchemaObject } from '../../inference/output-format.js'

/**
 * Request and response schemas of the OpenAI-compatible API. Requests accept and ignore fields we
 * do not use (clients send many); fields we cannot honour are refused with a clear message rather
 * than silently ignored. Response schemas list every field sent.
 */

const TextPart = z.object({ type: z.literal('text'), text: z.string() })
const MessageContent = z.union([z.string(), z.array(TextPart), z.null()])

export const ChatMessageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: MessageContent.optional(),
  name: z.string().max(256).optional()
})

const Stop = z.union([z.string().max(MAX_STOP_LENGTH), z.array(z.string().max(MAX_STOP_LENGTH)).max(MAX_STOP_SEQUENCES)]).nullable().optional()

/** The plexus extension object of requests: privacy level, cabinets. */
const PlexusExtension = z.object({
  privacy: z.enum(['private', 'community', 'cloud']).optional(),
  /** Answer from these cabinets: passages are retrieved and cited; the request is pinned private. */
  cabinets: z.array(z.string().min(1).max(64)).min(1).max(16).optional(),
  top_k: z.number().int().min(1).max(100).optional()
}).optional()

const Sampling = {
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  /** Not in OpenAI's API; accepted as llama.cpp's server does. */
  top_k: z.number().int().min(0).max(1000).nullable().optional(),
  min_p: z.number().min(0).max(1).nullable().optional(),
  seed: z.number().int().min(-(2 ** 53)).max(2 ** 53).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  n: z.number().int().min(1).max(16).nullable().optional().describe('Choices to generate (prompts × n at most 16 per request).'),
  stop: Stop,
  user: z.string().max(256).optional(),
  plexus: PlexusExtension
}

/** Prompts one `/v1/completions` request may carry (each runs as its own generation). */
export const MAX_PROMPTS = 16

const ResponseFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({
      name: z.string().min(1).max(64),
      description: z.string().max(4096).optional(),
      schema: JsonSchemaObject.optional(),
      strict: z.boolean().nullable().optional()
    })
  })
]).nullable().optional().describe('Structured output: any JSON object, or JSON matching a schema (runs on this node only).')

export const ChatCompletionRequestSchema = z.object({
  model: z.string().min(1).max(256),
  messages: z.array(ChatMessageSchema).min(1).max(4096),
  max_tokens: z.number().int().min(1).nullable().optional(),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  logprobs: z.literal(false).nullable().optional().describe('Log probabilities are not supported.'),
  response_format: ResponseFormat,
  tools: z.array(z.unknown()).max(0, 'Tool calling is not supported by this node').optional(),
  ...Sampling
})
export type ChatCompletionRequest = z.output<typeof ChatCompletionRequestSchema>

export const CompletionRequestSchema = z.object({
  model: z.string().min(1).max(256),
  prompt: z.union([z.string(), z.array(z.string()).min(1).max(MAX_PROMPTS, `At most ${MAX_PROMPTS} prompts per request`)]),
  max_tokens: z.number().int().min(1).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  echo: z.boolean().nullable().optional(),
  suffix: z.null().optional().describe('Insertion (suffix) is not supported.'),
  logprobs: z.null().optional().describe('Log probabilities are not supported.'),
  best_of: z.number().int().min(1).max(1).nullable().optional(),
  /** Not in OpenAI's legacy API; accepted as llama.cpp's server does. */
  response_format: ResponseFormat,
  ...Sampling
})
export type CompletionRequest = z.output<typeof CompletionRequestSchema>

export const EmbeddingRequestSchema = z.object({
  model: z.string().min(1).max(256),
  input: z.union([
    z.string(),
    z.array(z.string()).min(1).max(MAX_EMBEDDING_INPUTS),
    z.array(z.number().int().min(0)).min(1),
    z.array(z.array(z.number().int().min(0)).min(1)).min(1).max(MAX_EMBEDDING_INPUTS)
  ]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().min(1).optional(),
  user: z.string().max(256).optional()
})
export type EmbeddingRequest = z.output<typeof EmbeddingRequestSchema>

/** The plexus extension object of responses: where the generation ran. */
const Route = z.object({ kind: z.enum(['local', 'peer', 'cloud']), peers: z.array(z.string()) })
export const PlexusResponseExtension = z.object({
  route: Route,
  /** With several prompts: each choice's route, by index (`route` is the first's). */
  routes: z.array(Route).optional()
})

export const Usage = z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() })

export const ChatCompletionSchema = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number(),
  model: z.string(),
  system_fingerprint: z.string(),
  choices: z.array(z.object({
    index: z.number(),
    message: z.object({ role: z.literal('assistant'), content: z.string(), refusal: z.null() }),
    logprobs: z.null(),
    finish_reason: z.enum(['stop', 'length'])
  })),
  usage: Usage,
  /** Present when the request named cabinets: the numbered sources `[n]` of the answer. */
  citations: z.array(CitationSchema).optional(),
  plexus: PlexusResponseExtension.optional()
})

export const CompletionSchema = z.object({
  id: z.string(),
  object: z.literal('text_completion'),
  created: z.number(),
  model: z.string(),
  system_fingerprint: z.string(),
  choices: z.array(z.object({ index: z.number(), text: z.string(), logprobs: z.null(), finish_reason: z.enum(['stop', 'length']) })),
  usage: Usage,
  plexus: PlexusResponseExtension.optional()
})

export const EmbeddingListSchema = z.object({
  object: z.literal('list'),
  data: z.array(z.object({ object: z.literal('embedding'), index: z.number(), embedding: z.union([z.array(z.number()), z.string()]) })),
  model: z.string(),
  usage: z.object({ prompt_tokens: z.number(), total_tokens: z.number() })
})

export const ModelSchema = z.object({
  id: z.string(),
  object: z.literal('model'),
  created: z.number(),
  owned_by: z.string(),
  /** Where the model runs for this node: `local`, `network` (on the listed peers) or `cloud`. */
  plexus: z.object({ location: z.enum(['local', 'network', 'cloud']), peers: z.array(z.string()), sha256: z.string().nullable() }).optional()
})
export const ModelListSchema = z.object({ object: z.literal('list'), data: z.array(ModelSchema) })

export const ErrorSchema = z.object({
  error: z.object({ message: z.string(), type: z.string(), param: z.string().nullable(), code: z.string() })
})
