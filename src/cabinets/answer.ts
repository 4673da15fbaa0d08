import { PlexusError, isPlexusError } from '../errors.js'
import type { InferenceEngine, ChatMessage } from '../inference/engine.js'
import type { PrivacyTag } from '../router/privacy.js'

/** `generated`: the model wrote the answer; `extractive`: the best passages, quoted. */
export type AnswerMode = 'generated' | 'extractive'

/** A passage the answer rests on; `index` is the `[n]` used in the answer. */
export interface Citation {
  index: number
  cabinet: string
  documentPath: string
  title: string | null
  chunkId: number
  score: number
  snippet: string
}

/** A retrieved passage: what a citation names, plus the full chunk text. */
export interface Source extends Omit<Citation, 'index'> {
  /** Full chunk text, given to the model or quoted. */
  text: string
}

/**
 * Models below this size cannot follow "answer from these sources" instructions (the embedded
 * 260K-parameter story model certainly cannot), so `auto` answers extractively for them.
 */
export const MIN_GENERATIVE_PARAMETERS = 100_000_000
/** Tokens kept free for the answer when fitting sources into the context. */
export const ANSWER_RESERVE_TOKENS = 256

const SYSTEM_PROMPT = 'Answer the question using only the numbered sources below. Cite the sources you use as [n]. If the sources do not contain the answer, say that you do not know.'

export interface AnswerInput {
  engine: InferenceEngine | null
  question: string
  sources: Source[]
  model?: string
  mode: 'auto' | AnswerMode
  /** Carried through to the generation: cabinet-derived work is pinned to this node. */
  privacy: PrivacyTag
  signal?: AbortSignal
}

export interface AnswerOutput {
  answer: string
  mode: AnswerMode
  model: string | null
  citations: Citation[]
  usage: { promptTokens: number, completionTokens: number } | null
}

/** Citations numbered as the sources are numbered in {@link sourcesMessage}. */
export function toCitations (sources: Source[]): Citation[] {
  return sources.map(citation)
}

function citation (s: Source, i: number): Citation {
  return { index: i + 1, cabinet: s.cabinet, documentPath: s.documentPath, title: s.title, chunkId: s.chunkId, score: s.score, snippet: s.snippet }
}

/** The system message carrying numbered sources; exported for the chat-completions extension. */
export function sourcesMessage (sources: Source[]): ChatMessage {
  const list = sources.map((s, i) => `[${i + 1}] ${s.title ?? s.documentPath} (${s.documentPath})\n${s.text}`).join('\n\n')
  return { role: 'system', content: `${SYSTEM_PROMPT}\n\nSources:\n${list}` }
}

/**
 * Fits as many sources as the model's context allows (best first) next to `messages`, keeping
 * {@link ANSWER_RESERVE_TOKENS} free. Returns the sources that fit.
 */
export async function fitSources (engine: InferenceEngine, model: string, sources: Source[], messages: ChatMessage[]): Promise<Source[]> {
  let n = sources.length
  while (n >= 0) {
    const kept = sources.slice(0, n)
    try {
      await engine.validate({ model, messages: [...(kept.length > 0 ? [sourcesMessage(kept)] : []), ...messages], maxTokens: ANSWER_RESERVE_TOKENS })
      return kept
    } catch (err) {
      if (!isPlexusError(err, 'PLX_ERR_CONTEXT_LENGTH')) throw err
      n--
    }
  }
  throw new PlexusError('PLX_ERR_CONTEXT_LENGTH', [0, 0, 0, ANSWER_RESERVE_TOKENS], { param: 'question' })
}

/** Answers from retrieved sources: generated with citations, or extractive for models that cannot. */
export async function answerFromSources (input: AnswerInput): Promise<AnswerOutput> {
  const { engine, sources } = input
  if (sources.length === 0) {
    return { answer: 'No passage in the cabinet matches the question.', mode: 'extractive', model: null, citations: [], usage: null }
  }
  const modelName = engine != null ? (input.model ?? engine.defaultModelName()) : null
  let mode: AnswerMode = input.mode === 'auto' ? 'generated' : input.mode
  if (input.mode === 'auto' && (engine == null || modelName == null || engine.registry.get(modelName).metadata.parameters < MIN_GENERATIVE_PARAMETERS)) {
    mode = 'extractive'
  }
  if (mode === 'extractive' || engine == null || modelName == null) {
    const answer = 'Extractive answer (the passages that best match the question, quoted; no model wrote this):\n\n' +
      sources.map((s, i) => `[${i + 1}] ${s.text}`).join('\n\n')
    return { answer, mode: 'extractive', model: null, citations: sources.map(citation), usage: null }
  }
  const question: ChatMessage = { role: 'user', content: input.question }
  const kept = await fitSources(engine, modelName, sources, [question])
  const r = await engine.generate({ model: modelName, messages: [sourcesMessage(kept), question], maxTokens: ANSWER_RESERVE_TOKENS, temperature: 0.2 }, { signal: input.signal })
  return { answer: r.text, mode: 'generated', model: r.model, citations: kept.map(citation), usage: r.usage }
}
