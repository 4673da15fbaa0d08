/**
 * The cloud layer: an OpenAI-compatible upstream (base URL and key in `router.cloud`), used only
 * for requests marked `cloud` that nothing local or in the community can serve.
 *
 * @packageDocumentation
 */
import { PlexusError, isPlexusError } from '../errors.js'
import type { PlexusConfig } from '../node/config.js'
import type { GenerateRequest, FinishReason } from '../inference/engine.js'
import { sseData } from '../sse.js'

export type CloudConfig = PlexusConfig['router']['cloud']

export interface CloudResult {
  model: string
  text: string
  finishReason: FinishReason
  usage: { promptTokens: number, completionTokens: number }
}

export class CloudUpstream {
  readonly #config: CloudConfig

  constructor (config: CloudConfig) {
    this.#config = config
  }

  get configured (): boolean { return this.#config.baseUrl != null }

  /** Whether the upstream is configured and (by its list, when one is given) offers `model`. */
  offers (model: string): boolean {
    if (!this.configured) return false
    return this.#config.models.length === 0 || this.#config.models.includes(model)
  }

  get models (): string[] { return this.configured ? this.#config.models : [] }

  /** Streams a generation from the upstream; `onText` gets each content delta. */
  async generate (req: GenerateRequest, options: { signal?: AbortSignal, onText?: (delta: string) => void }): Promise<CloudResult> {
    const base = (this.#config.baseUrl ?? '').replace(/\/+$/, '')
    const chat = req.messages != null
    const body: Record<string, unknown> = {
      model: req.model,
      stream: true,
      stream_options: { include_usage: true },
      ...(chat ? { messages: req.messages } : { prompt: req.prompt }),
      ...(req.maxTokens != null ? { max_tokens: req.maxTokens } : {}),
      ...(req.temperature != null ? { temperature: req.temperature } : {}),
      ...(req.topP != null ? { top_p: req.topP } : {}),
      ...(req.seed != null ? { seed: req.seed } : {}),
      ...(req.stop != null && req.stop.length > 0 ? { stop: req.stop } : {}),
      ...(req.presencePenalty ? { presence_penalty: req.presencePenalty } : {}),
      ...(req.frequencyPenalty ? { frequency_penalty: req.frequencyPenalty } : {})
    }
    const timeout = AbortSignal.timeout(this.#config.timeoutSeconds * 1000)
    const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
    let res: Response
    try {
      res = await fetch(`${base}${chat ? '/chat/completions' : '/completions'}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          ...(this.#config.apiKey != null ? { authorization: `Bearer ${this.#config.apiKey}` } : {})
        },
        body: JSON.stringify(body),
        signal
      })
    } catch (err) {
      throw this.#failure(err, options.signal)
    }
    if (!res.ok) {
      const detail = await res.text().then(t => upstreamMessage(t), () => '')
      throw new PlexusError('PLX_ERR_CLOUD_FAILED', [`HTTP ${res.status}${detail !== '' ? `: ${detail}` : ''}`])
    }
    let text = ''
    let finishReason: FinishReason = 'stop'
    let usage: CloudResult['usage'] | null = null
    let model = req.model
    try {
      for await (const data of sseData(res.body ?? new ReadableStream())) {
        const event = JSON.parse(data) as UpstreamEvent
        if (event.error != null) throw new PlexusError('PLX_ERR_CLOUD_FAILED', [String(event.error.message ?? 'error event')])
        if (typeof event.model === 'string') model = event.model
        const choice = event.choices?.[0]
        const delta = chat ? choice?.delta?.content : choice?.text
        if (typeof delta === 'string' && delta !== '') {
          text += delta
          options.onText?.(delta)
        }
        if (choice?.finish_reason === 'length') finishReason = 'length'
        if (event.usage != null) usage = { promptTokens: event.usage.prompt_tokens ?? 0, completionTokens: event.usage.completion_tokens ?? 0 }
      }
    } catch (err) {
      throw this.#failure(err, options.signal)
    }
    return { model, text, finishReason, usage: usage ?? { promptTokens: 0, completionTokens: 0 } }
  }

  #failure (err: unknown, callerSignal: AbortSignal | undefined): PlexusError {
    if (isPlexusError(err)) return err
    if (callerSignal?.aborted === true) return new PlexusError('PLX_ERR_ABORTED')
    const e = err as Error
    if (e.name === 'TimeoutError') return new PlexusError('PLX_ERR_CLOUD_FAILED', [`no answer within ${this.#config.timeoutSeconds} s`])
    return new PlexusError('PLX_ERR_CLOUD_FAILED', [e.message], { cause: err })
  }
}

interface UpstreamEvent {
  model?: unknown
  error?: { message?: unknown }
  choices?: Array<{ delta?: { content?: unknown }, text?: unknown, finish_reason?: unknown }>
  usage?: { prompt_tokens?: number, completion_tokens?: number }
}

function upstreamMessage (body: string): string {
  try {
    const j = JSON.parse(body) as { error?: { message?: string } | string }
    const m = typeof j.error === 'string' ? j.error : j.error?.message
    if (typeof m === 'string') return m.slice(0, 500)
  } catch {}
  return body.slice(0, 200)
}
