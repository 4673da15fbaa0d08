import { getLlama, resolveChatWrapper, LlamaGrammarEvaluationState, type LlamaGrammar, type Llama, type LlamaModel, type LlamaContext, type LlamaContextSequence, type LlamaEmbeddingContext, type Token, type ChatWrapper, type ChatHistoryItem, LlamaLogLevel } from 'node-llama-cpp'
import { PlexusError, isPlexusError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { ModelRegistry, ModelRecord } from './registry.js'
import { SlotPool } from './slot-pool.js'
import { StopSequenceFilter } from './text-stream.js'
import { PENALTY_WINDOW_TOKENS } from './constants.js'
import { availableParallelism } from 'node:os'
import { ThreadCalibrationCache, calibrateThreads, calibrateWith, calibrationCandidates, resolveThreads } from './threads.js'
import { describeBinary, type EngineBinary } from './engine-build.js'
import { JsonValueEnd, checkJsonSchema, formatKey, type OutputFormat } from './output-format.js'
import { NativeLoop, type NativeContext, type NativeLoopStatus, type NativeModel, type NativePiece } from './native-loop.js'

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool'

export interface ChatMessage {
  role: ChatRole
  content: string
}

export interface SamplingOptions {
  /** 0 is greedy. */
  temperature?: number
  topP?: number
  topK?: number
  minP?: number
  /** Same seed and parameters give the same output. */
  seed?: number
  presencePenalty?: number
  frequencyPenalty?: number
  /** Multiplicative repeat penalty (Ollama's `repeat_penalty`); 1 is off. */
  repeatPenalty?: number
}

export interface GenerateRequest extends SamplingOptions {
  model: string
  /** Chat messages, rendered with the model's chat template. Exactly one of `messages`/`prompt`. */
  messages?: ChatMessage[]
  /** Raw text completion. */
  prompt?: string
  /** Upper bound on generated tokens; by default, the rest of the context window. */
  maxTokens?: number
  /** Without `maxTokens`: generate at most this many, or the rest of the context if that is less. */
  maxTokensCap?: number
  stop?: string[]
  /**
   * Tokens this generation already produced elsewhere (a peer that failed mid-stream). They are
   * replayed in place of the sampled ones — the sampler still runs, so a seeded generation goes on
   * exactly as it would have — and only the tokens after them are reported. They count towards
   * `maxTokens` and the usage.
   */
  resumeTokens?: number[]
  /** Constrain the output to JSON, or to a JSON schema (output-format.ts). Runs on node-llama-cpp's loop. */
  format?: OutputFormat
}

export type FinishReason = 'stop' | 'length'

export interface GenerateResult {
  model: string
  text: string
  finishReason: FinishReason
  usage: { promptTokens: number, completionTokens: number }
  timings: {
    /** Time spent waiting for a free sequence. */
    queuedMs: number
    /** From getting a slot to the first generated token (prompt evaluation). */
    firstTokenMs: number
    /** From the first to the last generated token. */
    decodeMs: number
  }
}

export interface GenerateOptions {
  signal?: AbortSignal
  /** Called with each piece of text as soon as it is safe to show (stop sequences held back). */
  onText?: (delta: string) => void
  /**
   * Called with each new token run and its text before stop-sequence filtering: the ids and the
   * text always line up (tokens ending inside a UTF-8 character wait for the rest). Peers serving
   * a request stream these so that the requester can resume elsewhere from exactly this point.
   */
  onPiece?: (tokens: number[], text: string) => void
}

export interface EmbedResult {
  model: string
  embeddings: number[][]
  promptTokens: number
}

export interface LoadedModelInfo {
  name: string
  sha256: string
  sizeBytes: number
  /** Estimated memory held: weights plus context state. */
  memoryBytes: number
  contextSize: number
  parallel: number
  /** Threads per evaluation for this model: configured, or measured at load (threads.ts). */
  threads: number
  /** Layers offloaded to the GPU (0 on a CPU build). */
  gpuLayers: number
  active: number
  waiting: number
  loadedAt: string
  lastUsedAt: string
  /** When it will be unloaded (set by `keepAlive`), or null: loaded while the memory budget allows. */
  expiresAt: string | null
}

export interface InferenceInit {
  /** Threads per evaluation; 0 = machine default (threads.ts). */
  threads: number
  parallel: number
  maxQueue: number
  contextSize: number
  memoryBudgetMiB: number
  defaultModel?: string
  /**
   * Run plain generations on the native generation loop when it is built (native-loop.ts);
   * default true. Requests it cannot serve (resumed ones) use node-llama-cpp either way.
   */
  nativeLoop?: boolean
  /** Layers offloaded to a GPU when llama.cpp runs on one ("auto": as many as fit); ignored on CPU. */
  gpuLayers?: 'auto' | 'max' | number
}

export interface InferenceComponents {
  registry: ModelRegistry
  logger: Logger
  /** Where auto mode (`threads: 0`) remembers its measurements; absent = in memory only. */
  threadsCacheFile?: string
  /** Where the native loop's build lives (native-loop-build.ts); default `.cache/native-loop` of the package. */
  nativeLoopDir?: string
}

interface LoadedModel {
  record: ModelRecord
  model: LlamaModel
  context: LlamaContext
  pool: SlotPool<LlamaContextSequence>
  threads: number
  chatWrapper: ChatWrapper
  embedding: Promise<LlamaEmbeddingContext> | null
  embeddingQueue: Promise<unknown>
  memoryBytes: number
  loadedAt: Date
  lastUsed: Date
  /** The model opened by the native loop, with one context per sequence. */
  native: { model: NativeModel, contexts: Map<LlamaContextSequence, NativeContext> } | null
  /** A deadline set by `keepAlive`, with the timer that unloads the model then. */
  expiry?: { at: number, timer: NodeJS.Timeout } | null
}

/**
 * Runs GGUF models with llama.cpp (through node-llama-cpp): loads them lazily, keeps them within a
 * memory budget (least recently used first out), queues requests over a fixed number of parallel
 * sequences, and generates with exact token accounting.
 */
export class InferenceEngine {
  readonly #init: InferenceInit
  readonly #registry: ModelRegistry
  readonly #log: Logger
  /** Configured threads, or the static rule's count (threads.ts); models in auto mode measure their own. */
  readonly threads: number
  #llama: Promise<Llama> | null = null
  /** Grammars of structured-output formats, by format (output-format.ts), most recent last. */
  readonly #grammars = new Map<string, LlamaGrammar>()
  #binary: EngineBinary | null = null
  readonly #threadsCache: ThreadCalibrationCache
  readonly #loaded = new Map<string, LoadedModel>()
  readonly #loading = new Map<string, Promise<LoadedModel>>()
  readonly #decodeRates = new Map<string, number>()
  readonly #shutdown = new AbortController()
  #stopped = false
  readonly #nativeLoopDir: string | undefined
  #native: NativeLoop | null = null
  #nativeReason: string | null = null

  constructor (components: InferenceComponents, init: InferenceInit) {
    this.#registry = components.registry
    this.#log = components.logger
    this.#init = init
    this.threads = resolveThreads(init.threads)
    this.#threadsCache = new ThreadCalibrationCache(components.threadsCacheFile ?? null)
    this.#nativeLoopDir = components.nativeLoopDir
  }

  /** The model used when a request names none: configured default, else the first registered. */
  defaultModelName (): string {
    if (this.#init.defaultModel != null) return this.#init.defaultModel
    const first = this.#registry.list()[0]
    if (first == null) throw new PlexusError('PLX_ERR_MODEL_NOT_FOUND', ['(none registered)'], { param: 'model' })
    return first.name
  }

  get registry (): ModelRegistry { return this.#registry }

  async #getLlama (): Promise<Llama> {
    this.#llama ??= getLlama({
      gpu: 'auto',
      build: 'never',
      // 0: our per-context `threads` is used exactly, not as a hint capped by a global pool.
      maxThreads: 0,
      logLevel: LlamaLogLevel.warn,
      logger: (level, message) => {
        const text = message.trim()
        if (text === '') return
        if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) this.#log.error({ llama: true }, text)
        else this.#log.debug({ llama: true }, text)
      }
    }).then((llama) => {
      this.#binary = describeBinary(llama)
      this.#log.info(this.#binary, 'llama.cpp binary')
      if (this.#init.nativeLoop !== false) {
        // After node-llama-cpp: the addon links against the libraries it has loaded.
        const { loop, reason } = NativeLoop.load(this.#binary, this.#nativeLoopDir)
        this.#native = loop
        this.#nativeReason = reason
        if (loop != null) this.#log.info({ binary: loop.manifest.binary, libDir: loop.manifest.libDir }, 'native generation loop in use for plain generations')
        else this.#log.info({ reason }, 'native generation loop not in use')
      }
      return llama
    })
    return await this.#llama
  }

  /** Whether plain generations run on the native generation loop, and why not. */
  nativeLoop (): NativeLoopStatus {
    const enabled = this.#init.nativeLoop !== false
    const manifest = this.#native?.manifest ?? NativeLoop.manifest(this.#nativeLoopDir)
    const reason = !enabled
      ? 'off (inference.nativeLoop / PLEXUS_NATIVE_LOOP)'
      : this.#native != null ? null : (this.#nativeReason ?? (manifest == null ? 'not built (`plexus engine build --native-loop`)' : 'not loaded yet (no model has loaded)'))
    return { enabled, built: manifest != null, active: enabled && this.#native != null, reason, binary: manifest?.binary ?? null }
  }

  /** The llama.cpp binary in use (prebuilt or local build), or null before the first model load. */
  binary (): EngineBinary | null {
    return this.#binary
  }

  /**
   * Threads for a model: the configured count, else the count measured for this model file,
   * binary and machine (measured now on first load, then remembered).
   */
  async #threadsFor (record: ModelRecord, model: LlamaModel, native: NativeModel | null): Promise<number> {
    if (this.#init.threads > 0) return this.#init.threads
    const cores = availableParallelism()
    const candidates = calibrationCandidates(cores)
    if (candidates.length < 2 || this.#binary == null) return this.threads
    // Measured on the loop that will generate: the native loop's thread pool scales differently.
    const key = ThreadCalibrationCache.key({ sha256: record.sha256, binary: `${this.#binary.binary}${native != null ? '+native-loop' : ''}`, llamaCpp: this.#binary.llamaCpp, cores })
    const cached = this.#threadsCache.get(key)
    if (cached != null) return cached.threads
    try {
      const first = model.tokens.bos ?? model.tokenize('The')[0]
      const c = native != null && first != null
        ? await calibrateWith(async threads => await native.measureDecode(threads, { first, tokens: 16, maxRunMs: 1500 }), { candidates })
        : await calibrateThreads(model, { candidates })
      this.#log.info({ model: record.name, threads: c.threads, rates: c.rates, ms: c.ms }, 'measured decode speed per thread count')
      if (Object.keys(c.rates).length > 0) this.#threadsCache.set(key, { threads: c.threads, rates: c.rates, measuredAt: new Date().toISOString() })
      return c.threads
    } catch (err) {
      this.#log.warn({ model: record.name, err: (err as Error).message }, 'thread calibration failed; using the static rule')
      return this.threads
    }
  }

  /** Loads a model (or returns it if loaded), evicting idle models to fit the memory budget. */
  async load (name: string): Promise<LoadedModelInfo> {
    return this.#info(await this.#acquireModel(name))
  }

  async #acquireModel (name: string): Promise<LoadedModel> {
    if (this.#stopped) throw new PlexusError('PLX_ERR_SHUTTING_DOWN')
    const record = this.#registry.get(name)
    const loaded = this.#loaded.get(name)
    if (loaded != null && loaded.record.sha256 === record.sha256) {
      loaded.lastUsed = new Date()
      return loaded
    }
    let pending = this.#loading.get(name)
    if (pending == null) {
      pending = this.#loadModel(record).finally(() => this.#loading.delete(name))
      this.#loading.set(name, pending)
    }
    return await pending
  }

  async #loadModel (record: ModelRecord): Promise<LoadedModel> {
    const check = this.#registry.check(record.name)
    if (!check.ok) throw new PlexusError('PLX_ERR_MODEL_LOAD', [record.name, check.problem ?? 'file problem'])
    const old = this.#loaded.get(record.name)
    if (old != null) await this.#unload(old) // the file behind the name changed
    const llama = await this.#getLlama()
    const started = Date.now()
    let model: LlamaModel
    try {
      model = await llama.loadModel({ modelPath: record.path, gpuLayers: this.#init.gpuLayers ?? 'auto' })
    } catch (err) {
      throw new PlexusError('PLX_ERR_MODEL_LOAD', [record.name, (err as Error).message], { cause: err })
    }
    let native: LoadedModel['native'] = null
    try {
      const contextSize = Math.min(this.#init.contextSize, model.trainContextSize)
      const estimate = model.fileInsights.estimateContextResourceRequirements({
        contextSize, modelGpuLayers: model.gpuLayers, sequences: this.#init.parallel
      })
      // The native loop opens the same file memory-mapped, as node-llama-cpp does (shared pages),
      // but has contexts of its own: count their memory a second time.
      const memoryBytes = record.sizeBytes + estimate.cpuRam + estimate.gpuVram + (this.#native != null ? estimate.cpuRam : 0)
      await this.#makeRoom(record.name, memoryBytes)
      if (this.#native != null) {
        try {
          native = { model: await this.#native.loadModel(record.path), contexts: new Map() }
        } catch (err) {
          this.#log.warn({ model: record.name, err: (err as Error).message }, 'the native generation loop could not open the model; node-llama-cpp generates for it')
        }
      }
      const threads = await this.#threadsFor(record, model, native?.model ?? null)
      let active = (): number => 0
      const context = await model.createContext({
        contextSize,
        sequences: this.#init.parallel,
        threads,
        batching: { dispatchSchedule: dispatch => { if (active() <= 1) dispatch(); else setImmediate(dispatch) } }
      })
      const sequences = Array.from({ length: this.#init.parallel }, () => context.getSequence())
      const pool = new SlotPool(sequences, this.#init.maxQueue)
      // One native context per sequence, made now as node-llama-cpp makes its sequences: the first
      // requests should not pay for allocating a KV cache.
      if (native != null) for (const seq of sequences) native.contexts.set(seq, native.model.createContext({ contextSize: context.contextSize, threads }))
      // node-llama-cpp decodes at once only when every sequence of the context has a token queued,
      // else it waits for `dispatchSchedule` to gather a batch. With one generation running there
      // is nothing to gather: decode now (in the same microtask run), before the stream writers'
      // setImmediate flush (generation.ts openStream), so that the socket write overlaps the
      // decode. With several running, wait for the check phase so that their tokens share a batch.
      active = () => pool.active
      const chatWrapper = resolveChatWrapper(model)
      const loaded: LoadedModel = {
        record,
        model,
        context,
        pool,
        threads,
        chatWrapper,
        embedding: null,
        embeddingQueue: Promise.resolve(),
        memoryBytes,
        loadedAt: new Date(),
        lastUsed: new Date(),
        native
      }
      this.#loaded.set(record.name, loaded)
      this.#log.info({ model: record.name, ms: Date.now() - started, contextSize, parallel: this.#init.parallel, threads, nativeLoop: native != null, chatTemplate: chatWrapper.wrapperName }, 'model loaded')
      return loaded
    } catch (err) {
      native?.model.dispose()
      await model.dispose().catch(() => {})
      throw err
    }
  }

  /** Unloads least recently used idle models until `bytes` more fit in the budget. */
  async #makeRoom (forName: string, bytes: number): Promise<void> {
    const budget = this.#init.memoryBudgetMiB * 1024 * 1024
    const used = (): number => [...this.#loaded.values()].reduce((s, m) => s + m.memoryBytes, 0)
    if (bytes > budget) {
      throw new PlexusError('PLX_ERR_MODEL_MEMORY', [forName, `it needs about ${mib(bytes)} MiB, the whole budget is ${this.#init.memoryBudgetMiB} MiB (inference.memoryBudgetMiB)`])
    }
    const candidates = [...this.#loaded.values()].sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime())
    for (const m of candidates) {
      if (used() + bytes <= budget) break
      if (!m.pool.idle) continue
      this.#log.info({ model: m.record.name }, 'unloading least recently used model to fit the memory budget')
      await this.#unload(m)
    }
    if (used() + bytes > budget) {
      throw new PlexusError('PLX_ERR_MODEL_MEMORY', [forName, `${mib(used())} MiB of ${this.#init.memoryBudgetMiB} MiB are held by models that are busy; retry when they finish`])
    }
  }

  async #unload (m: LoadedModel): Promise<void> {
    clearExpiry(m)
    this.#loaded.delete(m.record.name)
    m.pool.close()
    if (m.embedding != null) await (await m.embedding.catch(() => null))?.dispose()
    m.native?.model.dispose()
    await m.context.dispose()
    await m.model.dispose()
  }

  /** Unloads a model if it is loaded and idle; returns whether it was unloaded. */
  async unload (name: string): Promise<boolean> {
    const m = this.#loaded.get(name)
    if (m == null || !m.pool.idle) return false
    await this.#unload(m)
    return true
  }

  /**
   * How long a loaded model stays loaded from now (Ollama's `keep_alive`): null or negative for as
   * long as the memory budget allows (the default), 0 to unload it as soon as it is idle. A model
   * busy at its deadline is unloaded when it is next idle. Returns false when it is not loaded.
   */
  keepAlive (name: string, ms: number | null): boolean {
    const m = this.#loaded.get(name)
    if (m == null) return false
    clearExpiry(m)
    if (ms == null || ms < 0) return true
    const at = Date.now() + ms
    const due = (): void => {
      if (this.#loaded.get(name) !== m || m.expiry?.at !== at) return
      const left = at - Date.now()
      if (left > 0 || !m.pool.idle) {
        m.expiry = { at, timer: setTimeout(due, left > 0 ? Math.min(left, MAX_TIMER_MS) : EXPIRY_RETRY_MS).unref() }
        return
      }
      this.#log.info({ model: name }, 'unloading model: its keep_alive has passed')
      void this.#unload(m).catch(err => { this.#log.warn({ model: name, err: (err as Error).message }, 'model not unloaded') })
    }
    m.expiry = { at, timer: setTimeout(due, Math.min(ms, MAX_TIMER_MS)).unref() }
    return true
  }

  loadedModels (): LoadedModelInfo[] {
    return [...this.#loaded.values()].map(m => this.#info(m))
  }

  #info (m: LoadedModel): LoadedModelInfo {
    return {
      name: m.record.name,
      sha256: m.record.sha256,
      sizeBytes: m.record.sizeBytes,
      memoryBytes: m.memoryBytes,
      contextSize: m.context.contextSize,
      parallel: m.pool.size,
      threads: m.threads,
      gpuLayers: m.model.gpuLayers,
      active: m.pool.active,
      waiting: m.pool.waiting,
      loadedAt: m.loadedAt.toISOString(),
      lastUsedAt: m.lastUsed.toISOString(),
      expiresAt: m.expiry != null ? new Date(m.expiry.at).toISOString() : null
    }
  }

  /** Decode speed measured on real requests (tokens/s, moving average), or null before any. */
  decodeRate (modelName: string): number | null {
    return this.#decodeRates.get(modelName) ?? null
  }

  /** Requests running and waiting, over all loaded models. */
  queueStats (): { active: number, waiting: number } {
    let active = 0
    let waiting = 0
    for (const m of this.#loaded.values()) { active += m.pool.active; waiting += m.pool.waiting }
    return { active, waiting }
  }

  /** Renders chat messages with the model's template into prompt tokens. */
  #chatTokens (m: LoadedModel, messages: ChatMessage[]): Token[] {
    const history: ChatHistoryItem[] = []
    for (const msg of messages) {
      if (msg.role === 'system' || msg.role === 'developer') history.push({ type: 'system', text: msg.content })
      else if (msg.role === 'assistant') history.push({ type: 'model', response: [msg.content] })
      else history.push({ type: 'user', text: msg.content }) // tool results are shown to the model as user turns
    }
    history.push({ type: 'model', response: [] })
    const { contextText } = m.chatWrapper.generateContextState({ chatHistory: history })
    return contextText.tokenize(m.model.tokenizer)
  }

  /**
   * Checks a request without generating: loads the model, renders the prompt and checks that it
   * fits the context with `maxTokens` to spare. Streaming endpoints call this before they send
   * their first byte, so these errors still get a proper status code.
   */
  async validate (req: GenerateRequest): Promise<{ promptTokens: number, contextSize: number }> {
    const m = await this.#acquireModel(req.model)
    const { tokens } = this.#prepare(m, req)
    if (req.format != null) await this.#grammarFor(req.format)
    return { promptTokens: tokens.length, contextSize: m.context.contextSize }
  }

  /** The grammar that constrains output to `format` (built once per format; a bad schema is the caller's error). */
  async #grammarFor (format: OutputFormat): Promise<LlamaGrammar> {
    const key = formatKey(format)
    const cached = this.#grammars.get(key)
    if (cached != null) {
      this.#grammars.delete(key)
      this.#grammars.set(key, cached)
      return cached
    }
    const llama = await this.#getLlama()
    let grammar: LlamaGrammar
    try {
      grammar = format.type === 'json'
        ? await llama.getGrammarFor('json')
        // The schema comes from a request: node-llama-cpp checks what it can turn into a grammar.
        : await (llama.createGrammarForJsonSchema as (schema: unknown) => Promise<LlamaGrammar>).call(llama, checkJsonSchema(format.schema))
    } catch (err) {
      if (isPlexusError(err)) throw err
      throw new PlexusError('PLX_ERR_BAD_REQUEST', [`The JSON schema cannot be used to constrain the output: ${(err as Error).message}`], { param: 'response_format', cause: err })
    }
    if (this.#grammars.size >= MAX_CACHED_GRAMMARS) this.#grammars.delete(this.#grammars.keys().next().value!)
    this.#grammars.set(key, grammar)
    return grammar
  }

  /** The prompt tokens and the completion budget, or the reason the request cannot run. */
  #prepare (m: LoadedModel, req: GenerateRequest): { tokens: Token[], maxTokens: number } {
    const tokens = this.#withBos(m.model, this.#promptTokens(m, req), req.messages == null)
    const contextSize = m.context.contextSize
    if (tokens.length === 0) throw new PlexusError('PLX_ERR_BAD_REQUEST', ['The prompt is empty'], { param: 'prompt' })
    const room = contextSize - tokens.length
    if (room < 1 || (req.maxTokens != null && req.maxTokens > room)) {
      throw new PlexusError('PLX_ERR_CONTEXT_LENGTH', [contextSize, tokens.length + (req.maxTokens ?? 1), tokens.length, req.maxTokens ?? 1], { param: req.messages != null ? 'messages' : 'prompt' })
    }
    return { tokens, maxTokens: Math.min(req.maxTokens ?? req.maxTokensCap ?? room, room) }
  }

  #promptTokens (m: LoadedModel, req: Pick<GenerateRequest, 'messages' | 'prompt'>): Token[] {
    if (req.messages != null) return this.#chatTokens(m, req.messages)
    // Raw completions start with BOS when the model expects one, like llama.cpp's server.
    return m.model.tokenize(req.prompt ?? '', false)
  }

  /**
   * Generates a completion. The prompt must fit the context with `maxTokens` to spare, else
   * `PLX_ERR_CONTEXT_LENGTH` (never silent truncation). Aborting the signal stops generation and
   * frees the sequence at once.
   */
  async generate (req: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
    const m = await this.#acquireModel(req.model)
    const signal = options.signal != null ? AbortSignal.any([options.signal, this.#shutdown.signal]) : this.#shutdown.signal
    const { tokens: withBos, maxTokens } = this.#prepare(m, req)
    const replay = this.#checkResume(m, req.resumeTokens, maxTokens)
    if (req.resumeTokens != null && replay.length === maxTokens) {
      // An earlier peer produced every token already; only the accounting is left.
      return { model: m.record.name, text: '', finishReason: 'length', usage: { promptTokens: withBos.length, completionTokens: maxTokens }, timings: { queuedMs: 0, firstTokenMs: 0, decodeMs: 0 } }
    }

    const grammar = req.format != null ? await this.#grammarFor(req.format) : null
    const queuedAt = performance.now()
    const seq = await m.pool.acquire({ signal })
    const startedAt = performance.now()
    m.lastUsed = new Date()
    let run: GenerationRun
    try {
      // Resumed generations replay tokens into node-llama-cpp's loop, and structured output needs
      // its grammar sampler; everything else can run natively.
      run = m.native != null && replay.length === 0 && grammar == null
        ? await this.#generateNative(m, m.native, seq, req, withBos, maxTokens, signal, options)
        : await this.#generateLlama(m, seq, req, withBos, maxTokens, replay, signal, options, grammar)
    } finally {
      m.pool.release(seq)
      m.lastUsed = new Date()
    }
    const newTokens = run.completionTokens - replay.length
    if (newTokens >= 8 && run.decodeMs > 0) {
      const rate = (newTokens - 1) / (run.decodeMs / 1000)
      const previous = this.#decodeRates.get(m.record.name)
      this.#decodeRates.set(m.record.name, previous == null ? rate : previous * 0.7 + rate * 0.3)
    }
    return {
      model: m.record.name,
      text: run.text,
      finishReason: run.finishReason,
      usage: { promptTokens: withBos.length, completionTokens: run.completionTokens },
      timings: { queuedMs: startedAt - queuedAt, firstTokenMs: run.firstTokenMs, decodeMs: run.decodeMs }
    }
  }

  /** The error for a generation stopped by its signal: the node shutting down, or the client. */
  #abortError (): PlexusError {
    return this.#shutdown.signal.aborted ? new PlexusError('PLX_ERR_SHUTTING_DOWN') : new PlexusError('PLX_ERR_ABORTED')
  }

  /** Generates with node-llama-cpp on the sequence `seq`. */
  async #generateLlama (m: LoadedModel, seq: LlamaContextSequence, req: GenerateRequest, withBos: Token[], maxTokens: number, replay: number[], signal: AbortSignal, options: GenerateOptions, grammar: LlamaGrammar | null = null): Promise<GenerationRun> {
    const startedAt = performance.now()
    let firstAt = 0
    let lastAt = 0
    const generated: Token[] = []
    let text = ''
    let finishReason: FinishReason = 'length'
    try {
      const input = await this.#reusePrefix(seq, withBos)
      const filter = new StopSequenceFilter(req.stop ?? [])
      const emit = (piece: string): void => {
        if (piece === '') return
        text += piece
        options.onText?.(piece)
      }
      let pending: Token[] = []
      const penalties = (req.presencePenalty ?? 0) !== 0 || (req.frequencyPenalty ?? 0) !== 0 || (req.repeatPenalty ?? 1) !== 1
      // evaluateWithMetadata with no metadata is what evaluate() wraps in a second async
      // generator; calling it directly saves that layer's promises on every token.
      // Structured output: the grammar keeps every token valid; the scanner stops at the value's end.
      const jsonEnd = grammar != null ? new JsonValueEnd() : null
      const iterator = seq.evaluateWithMetadata(input, {}, {
        ...samplingDefaults(req),
        ...(grammar != null ? { grammarEvaluationState: new LlamaGrammarEvaluationState({ model: m.model, grammar }) } : {}),
        yieldEogToken: true,
        repeatPenalty: penalties
          ? {
              punishTokens: () => generated.slice(-PENALTY_WINDOW_TOKENS),
              penalty: req.repeatPenalty ?? 1,
              presencePenalty: req.presencePenalty ?? 0,
              frequencyPenalty: req.frequencyPenalty ?? 0
            }
          : undefined
      })
      let step = await iterator.next()
      try {
        while (step.done !== true) {
          const sampled = step.value.token
          if (signal.aborted) break
          const replaying = generated.length < replay.length
          // While replaying, the sampler has run (advancing a seeded generator) but the earlier
          // peer's token is the one kept and evaluated next.
          const token = replaying ? replay[generated.length] as Token : sampled
          lastAt = performance.now()
          if (firstAt === 0 && !replaying) firstAt = lastAt
          if (!replaying && m.model.isEogToken(token)) { finishReason = 'stop'; break }
          generated.push(token)
          pending.push(token)
          // Hold tokens back while they end in an incomplete UTF-8 sequence.
          const piece = m.model.detokenize(pending, false, generated.slice(Math.max(0, generated.length - pending.length - 4), generated.length - pending.length))
          if (!piece.endsWith('\uFFFD')) {
            const ids = pending
            pending = []
            if (replaying) {
              filter.push(piece) // keeps the stop-sequence state; the text was delivered before
            } else {
              options.onPiece?.(ids, piece)
              emit(filter.push(piece))
              if (filter.stopped || jsonEnd?.push(piece) === true) { finishReason = 'stop'; break }
            }
          }
          if (generated.length >= maxTokens) break
          step = await iterator.next(replaying ? token : undefined)
        }
      } finally {
        await iterator.return()
      }
      if (signal.aborted) throw this.#abortError()
      if (!filter.stopped) {
        if (pending.length > 0) {
          const rest = m.model.detokenize(pending, false)
          options.onPiece?.(pending, rest)
          emit(filter.push(rest))
        }
        emit(filter.flush())
      }
    } catch (err) {
      // A failed or cancelled evaluation may leave the sequence in an unknown state: start clean.
      await seq.clearHistory().catch(() => {})
      if (isPlexusError(err)) throw err
      if (signal.aborted) throw new PlexusError('PLX_ERR_ABORTED')
      throw new PlexusError('PLX_ERR_INTERNAL', [(err as Error).message], { cause: err })
    }
    return {
      text,
      finishReason,
      completionTokens: generated.length,
      firstTokenMs: firstAt === 0 ? 0 : firstAt - startedAt,
      decodeMs: firstAt === 0 ? 0 : lastAt - firstAt
    }
  }

  /**
   * Generates on the native loop, in the context that belongs to the sequence `seq` (the slot).
   * The loop samples, detokenises and stops at end-of-generation and `maxTokens` by itself; here
   * only the stop sequences are applied, as pieces arrive. A stop sequence or the signal aborts
   * the loop; tokens it sampled past that point are not counted.
   */
  async #generateNative (m: LoadedModel, native: NonNullable<LoadedModel['native']>, seq: LlamaContextSequence, req: GenerateRequest, withBos: Token[], maxTokens: number, signal: AbortSignal, options: GenerateOptions): Promise<GenerationRun> {
    const context = native.contexts.get(seq)
    if (context == null) throw new PlexusError('PLX_ERR_INTERNAL', ['the native generation loop has no context for this sequence'])
    const filter = new StopSequenceFilter(req.stop ?? [])
    let text = ''
    let completionTokens = 0
    let finishReason: FinishReason = 'length'
    const emit = (piece: string): void => {
      if (piece === '') return
      text += piece
      options.onText?.(piece)
    }
    const onPieces = (pieces: NativePiece[]): void => {
      for (const [ids, piece] of pieces) {
        if (filter.stopped || signal.aborted) return
        completionTokens += ids.length
        options.onPiece?.(ids, piece)
        emit(filter.push(piece))
        if (filter.stopped) { finishReason = 'stop'; context.abort() }
      }
    }
    const onAbort = (): void => { context.abort() }
    signal.addEventListener('abort', onAbort, { once: true })
    let done
    try {
      if (signal.aborted) throw this.#abortError()
      done = await context.generate(withBos, {
        ...samplingDefaults(req),
        maxTokens,
        // node-llama-cpp's rule for a missing seed (LlamaContext._resolveSamplerConfig).
        seed: Math.max(0, Math.floor(req.seed ?? Date.now() / 1000)) >>> 0,
        repeatPenalty: req.repeatPenalty ?? 1,
        presencePenalty: req.presencePenalty ?? 0,
        frequencyPenalty: req.frequencyPenalty ?? 0,
        penaltyWindow: PENALTY_WINDOW_TOKENS,
        flushMicros: NATIVE_FLUSH_MICROS
      }, onPieces)
    } catch (err) {
      if (isPlexusError(err)) throw err
      throw new PlexusError('PLX_ERR_INTERNAL', [(err as Error).message], { cause: err })
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
    if (signal.aborted) throw this.#abortError()
    if (done.reason === 'error') throw new PlexusError('PLX_ERR_INTERNAL', [done.error ?? 'the native generation loop failed'])
    if (done.reason === 'eog' && !filter.stopped) finishReason = 'stop'
    if (!filter.stopped) {
      if (done.restTokens.length > 0) {
        completionTokens += done.restTokens.length
        options.onPiece?.(done.restTokens, done.restText)
        emit(filter.push(done.restText))
      }
      emit(filter.flush())
    }
    return { text, finishReason, completionTokens, firstTokenMs: done.firstTokenMs, decodeMs: done.decodeMs }
  }

  /** Resume tokens come from the network: they must be real token ids and leave room to generate. */
  #checkResume (m: LoadedModel, tokens: number[] | undefined, maxTokens: number): number[] {
    if (tokens == null || tokens.length === 0) return []
    if (tokens.length > maxTokens) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`resume has ${tokens.length} tokens, more than max_tokens (${maxTokens})`], { param: 'resume' })
    const vocabularySize = this.#vocabularySize(m)
    const bad = tokens.find(id => !Number.isInteger(id) || id < 0 || id >= vocabularySize)
    if (bad !== undefined) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`resume has token id ${bad}, outside the vocabulary (0..${vocabularySize - 1})`], { param: 'resume' })
    return tokens
  }

  /** Adds BOS to raw prompts when the model's tokenizer asks for it (chat templates add their own). */
  #withBos (model: LlamaModel, tokens: Token[], raw: boolean): Token[] {
    const bos = model.tokens.bos
    if (!raw || bos == null || !model.tokens.shouldPrependBosToken) return tokens
    if (tokens[0] === bos) return tokens
    return [bos, ...tokens]
  }

  /**
   * Keeps the longest prefix of the sequence's KV cache that matches the new prompt (chat turns
   * share their history), erasing the rest. At least one token is always evaluated anew so that
   * there are logits to sample from.
   */
  async #reusePrefix (seq: LlamaContextSequence, tokens: Token[]): Promise<Token[]> {
    const cached = seq.contextTokens
    let common = 0
    const limit = Math.min(cached.length, tokens.length - 1)
    while (common < limit && cached[common] === tokens[common]) common++
    if (common === 0) {
      if (seq.nextTokenIndex > 0) await seq.clearHistory()
    } else if (common < seq.nextTokenIndex) {
      await seq.eraseContextTokenRanges([{ start: common, end: seq.nextTokenIndex }])
    }
    return tokens.slice(common)
  }

  /** Embeds each input (mean-pooled by llama.cpp). Inputs longer than the context are refused. */
  async embed (modelName: string, inputs: Array<string | number[]>, options: { signal?: AbortSignal } = {}): Promise<EmbedResult> {
    const m = await this.#acquireModel(modelName)
    m.embedding ??= m.model.createEmbeddingContext({ contextSize: m.context.contextSize, threads: m.threads }).catch((err: Error) => {
      m.embedding = null
      throw new PlexusError('PLX_ERR_MODEL_NO_EMBEDDINGS', [modelName, err.message], { cause: err })
    })
    const ctx = await m.embedding
    const contextSize = m.context.contextSize
    const vocabularySize = this.#vocabularySize(m)
    const tokenized = inputs.map((t, i) => {
      if (typeof t === 'string') return m.model.tokenize(t)
      // Token ids from the client go straight into llama.cpp: check them first.
      const bad = t.find(id => !Number.isInteger(id) || id < 0 || id >= vocabularySize)
      if (bad !== undefined) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`input[${i}] has token id ${bad}, outside the vocabulary (0..${vocabularySize - 1})`], { param: `input[${i}]` })
      return t as Token[]
    })
    tokenized.forEach((t, i) => {
      if (t.length === 0) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`input[${i}] is empty`], { param: `input[${i}]` })
      if (t.length > contextSize) {
        throw new PlexusError('PLX_ERR_CONTEXT_LENGTH', [contextSize, t.length, t.length, 0], { param: `input[${i}]` })
      }
    })
    // One embedding at a time per model: the embedding context has a single sequence.
    const run = m.embeddingQueue.then(async () => {
      const out: number[][] = []
      for (const t of tokenized) {
        options.signal?.throwIfAborted()
        if (this.#stopped) throw new PlexusError('PLX_ERR_SHUTTING_DOWN')
        const e = await ctx.getEmbeddingFor(t)
        out.push([...e.vector])
      }
      return out
    })
    m.embeddingQueue = run.catch(() => {})
    m.lastUsed = new Date()
    try {
      const embeddings = await run
      return { model: m.record.name, embeddings, promptTokens: tokenized.reduce((s, t) => s + t.length, 0) }
    } catch (err) {
      if (isPlexusError(err)) throw err
      if (options.signal?.aborted === true) throw new PlexusError('PLX_ERR_ABORTED')
      throw new PlexusError('PLX_ERR_INTERNAL', [(err as Error).message], { cause: err })
    }
  }

  #vocabularySize (m: LoadedModel): number {
    const tokens = (m.model.fileInfo.metadata as unknown as { tokenizer?: { ggml?: { tokens?: unknown[] } } }).tokenizer?.ggml?.tokens
    return tokens?.length ?? 0
  }

  /**
   * Stops the engine: refuses new work, cancels generations still running after `graceMs`, and
   * frees every model.
   */
  async stop (options: { graceMs?: number } = {}): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    for (const m of this.#loaded.values()) m.pool.close()
    const deadline = Date.now() + (options.graceMs ?? 0)
    while (Date.now() < deadline && this.queueStats().active > 0) await new Promise(resolve => setTimeout(resolve, 20))
    this.#shutdown.abort()
    while (this.queueStats().active > 0) await new Promise(resolve => setTimeout(resolve, 10))
    await Promise.allSettled([...this.#loading.values()])
    for (const m of [...this.#loaded.values()]) await this.#unload(m).catch(() => {})
    if (this.#llama != null) await (await this.#llama.catch(() => null))?.dispose()
  }
}

/**
 * The native loop hands text over at most every 16 ms — a display frame — and the first piece at
 * once. Each hand-over wakes the event loop, which writes the stream, and the client reads it: on
 * a 2-core machine that takes the cores the decoding threads need. Measured over HTTP (bench/
 * README.md): stories260K at 1 thread ~0.6 of llama-bench handing over every token, ~0.75–0.97
 * every millisecond; the 85M model at 2 threads 0.89–0.96 every millisecond, 1.00–1.06 every 16 ms.
 */
const NATIVE_FLUSH_MICROS = 16_000

/** What one generation produced, whichever loop ran it. */
interface GenerationRun {
  text: string
  finishReason: FinishReason
  /** Tokens generated, replayed ones included. */
  completionTokens: number
  /** From getting a slot to the first generated token. */
  firstTokenMs: number
  /** From the first to the last generated token. */
  decodeMs: number
}

function clearExpiry (m: LoadedModel): void {
  if (m.expiry != null) clearTimeout(m.expiry.timer)
  m.expiry = null
}

/** A model busy at its keep-alive deadline is looked at again this often. */
const EXPIRY_RETRY_MS = 1000
/** Longest delay a Node timer takes (about 24.8 days); a later deadline is checked then and kept. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Grammars kept built (a schema's grammar takes a few milliseconds to build). */
const MAX_CACHED_GRAMMARS = 32

/** The sampler settings both loops use, with the engine's defaults. */
function samplingDefaults (req: SamplingOptions): { temperature: number, topK: number, topP: number, minP: number, seed: number | undefined } {
  return { temperature: req.temperature ?? 0.8, topK: req.topK ?? 40, topP: req.topP ?? 0.95, minP: req.minP ?? 0.05, seed: req.seed }
}

function mib (bytes: number): number {
  return Math.ceil(bytes / 1024 / 1024)
}
