/**
 * `/plexus/infer/1.0.0`: one community generation per stream.
 *
 * Requester → server: one `request` frame, then optionally `cancel`. Closing or resetting the
 * stream before the server is done also cancels.
 * Server → requester: `tokens` frames (token ids with exactly their text, batched), then one
 * `done` frame with the usage — or one `error` frame saying why it refused or failed and whether
 * another peer could do better (`retryable`).
 *
 * The requester's identity is the Noise-authenticated peer id of the connection, never a field.
 * Every frame is length-prefixed, size-limited and schema-checked on both sides.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Libp2p } from 'libp2p'
import { isPlexusError, PlexusError, type ErrorCode } from '../errors.js'
import type { Logger } from '../logger.js'
import type { GenerateRequest, GenerateResult, InferenceEngine } from '../inference/engine.js'
import { TokenBuckets } from '../rate-limit.js'
import { readFrames, sendFrame, FrameError } from './framing.js'
import { checkInferenceReceipt, inferenceReceiptBody, type ReceiptKeeper } from '../ledger/inference.js'
import type { SignedReceipt } from '../ledger/receipts.js'

export const INFER_PROTOCOL = '/plexus/infer/1.0.0'
/** Hard limit on one frame either way (a request's messages must fit in it). */
export const MAX_INFER_FRAME_BYTES = 1024 * 1024
/** Server side: a stream must carry its request within this time. */
const REQUEST_TIMEOUT_MS = 10_000
/** Tokens produced within this window share one frame (the first token is never held). */
const BATCH_WINDOW_MS = 4

const ChatMessageSchema = z.strictObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: z.string()
})

const SamplingSchema = z.strictObject({
  temperature: z.number().min(0).max(10).optional(),
  topP: z.number().min(0).max(1).optional(),
  topK: z.number().int().min(0).max(100_000).optional(),
  minP: z.number().min(0).max(1).optional(),
  seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
  presencePenalty: z.number().min(-2).max(2).optional(),
  frequencyPenalty: z.number().min(-2).max(2).optional(),
  repeatPenalty: z.number().min(0).max(10).optional()
})

export const InferRequestSchema = z.strictObject({
  type: z.literal('request'),
  id: z.string().min(1).max(64),
  network: z.string().min(1).max(64),
  model: z.string().min(1).max(128),
  /** When given, the server must hold exactly this file (resuming needs the same weights). */
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  messages: z.array(ChatMessageSchema).min(1).max(4096).optional(),
  prompt: z.string().optional(),
  maxTokens: z.number().int().min(1).max(10_000_000),
  /** True: `maxTokens` is only an upper bound; the server stops earlier at the end of its context. */
  maxTokensIsCap: z.boolean().optional(),
  sampling: SamplingSchema,
  stop: z.array(z.string().min(1).max(512)).max(16).optional(),
  /** Tokens already produced by a peer that failed; the server replays them and goes on. */
  resume: z.array(z.number().int().min(0).max(10_000_000)).max(1_000_000).optional()
}).refine(r => (r.messages == null) !== (r.prompt == null), { message: 'exactly one of messages and prompt' })
export type InferRequest = z.output<typeof InferRequestSchema>

const CancelSchema = z.strictObject({ type: z.literal('cancel') })
/** The requester's countersignature of the receipt that came with `done`. */
const CountersignSchema = z.strictObject({ type: z.literal('countersign'), receipt: z.record(z.string(), z.unknown()) })
/** How long a provider waits for the countersigned receipt after `done`. */
const COUNTERSIGN_WAIT_MS = 5_000
const ProviderReceiptSchema = z.strictObject({ body: z.record(z.string(), z.unknown()), providerSignature: z.string().max(128) })

export const REFUSAL_CODES = ['not-serving', 'wrong-network', 'rate-limited', 'busy', 'model-not-found', 'too-many-tokens', 'bad-request', 'shutting-down', 'failed'] as const
export type RefusalCode = (typeof REFUSAL_CODES)[number]

export const ServerFrameSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('tokens'), ids: z.array(z.number().int().min(0)).min(1).max(100_000), text: z.string() }),
  z.strictObject({
    type: z.literal('done'),
    finishReason: z.enum(['stop', 'length']),
    usage: z.strictObject({ promptTokens: z.number().int().min(0), completionTokens: z.number().int().min(0) }),
    /** The provider's signed receipt for this job, for the requester to countersign. */
    receipt: ProviderReceiptSchema.optional()
  }),
  z.strictObject({
    type: z.literal('error'),
    code: z.enum(REFUSAL_CODES),
    message: z.string().max(2000),
    retryable: z.boolean(),
    retryAfterSeconds: z.number().min(0).max(86_400).optional()
  })
])
export type ServerFrame = z.output<typeof ServerFrameSchema>

export interface InferStats {
  /** Server side. */
  served: number
  refused: Partial<Record<RefusalCode, number>>
  active: number
  bytesIn: number
  bytesOut: number
  /** Served jobs whose receipt the requester countersigned (recorded), and those without one. */
  receiptsRecorded: number
  receiptsMissing: number
  /** Requester side. */
  requested: number
  requestBytesOut: number
  requestBytesIn: number
  /** Providers' receipts countersigned, and refused because they did not match the job. */
  receiptsCountersigned: number
  receiptsRefused: number
}

export function newInferStats (): InferStats {
  return { served: 0, refused: {}, active: 0, bytesIn: 0, bytesOut: 0, receiptsRecorded: 0, receiptsMissing: 0, requested: 0, requestBytesOut: 0, requestBytesIn: 0, receiptsCountersigned: 0, receiptsRefused: 0 }
}

// ---------------------------------------------------------------------------------------------
// Server

export interface InferServerComponents {
  engine: Pick<InferenceEngine, 'generate' | 'registry'>
  logger: Logger
  stats: InferStats
  /** Signs and records receipts of served jobs (the node's books); none: no receipts. */
  receipts?: ReceiptKeeper
  /** sha256 of the models the community allows (`network.community.models`, votable); empty: any. */
  allowedModels?: () => readonly string[]
}

export interface InferServerInit {
  networkId: string
  serve: boolean
  maxConcurrentJobs: number
  maxTokens: number
  requestsPerMinutePerPeer: number
}

class Refusal extends Error {
  constructor (readonly code: RefusalCode, message: string, readonly retryable: boolean, readonly retryAfterSeconds?: number) {
    super(message)
  }
}

/** How an engine error looks to the requesting peer. */
function refusalOf (err: unknown): Refusal {
  if (err instanceof Refusal) return err
  if (isPlexusError(err)) {
    const retryable: Partial<Record<ErrorCode, RefusalCode>> = {
      PLX_ERR_QUEUE_FULL: 'busy',
      PLX_ERR_MODEL_MEMORY: 'busy',
      PLX_ERR_MODEL_NOT_FOUND: 'model-not-found',
      PLX_ERR_SHUTTING_DOWN: 'shutting-down',
      PLX_ERR_MODEL_LOAD: 'failed',
      PLX_ERR_INTERNAL: 'failed'
    }
    const code = retryable[err.code]
    if (code != null) return new Refusal(code, err.message, true)
    if (err.statusCode >= 400 && err.statusCode < 500) return new Refusal('bad-request', err.message, false)
    return new Refusal('failed', err.message, true)
  }
  return new Refusal('failed', (err as Error).message ?? String(err), true)
}

/** Serves community generations to peers, within the operator's limits. */
export class InferServer {
  readonly #c: InferServerComponents
  #init: InferServerInit
  readonly #buckets = new TokenBuckets()
  readonly #jobs = new Set<AbortController>()

  constructor (components: InferServerComponents, init: InferServerInit) {
    this.#c = components
    this.#init = init
  }

  get limits (): InferServerInit { return this.#init }
  get active (): number { return this.#jobs.size }

  /** Cancels every running job (node shutdown). */
  stop (): void {
    for (const job of this.#jobs) job.abort()
  }

  async handle (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const stats = this.#c.stats
    const send = async (frame: ServerFrame): Promise<void> => {
      stats.bytesOut += await sendFrame(stream, frame, MAX_INFER_FRAME_BYTES)
    }
    const frames = readFrames(stream, MAX_INFER_FRAME_BYTES, n => { stats.bytesIn += n })
    let job: AbortController | null = null
    try {
      const first = await nextWithin(frames, REQUEST_TIMEOUT_MS)
      if (first === undefined) throw new Refusal('bad-request', 'no request frame', false)
      const parsed = InferRequestSchema.safeParse(first)
      if (!parsed.success) throw new Refusal('bad-request', `malformed request: ${z.prettifyError(parsed.error).slice(0, 500)}`, false)
      const req = parsed.data
      this.#admit(peer, req)

      job = new AbortController()
      this.#jobs.add(job)
      stats.active = this.#jobs.size
      const signal = job.signal
      // Anything more from the requester — a cancel frame, end of stream, reset — ends the job;
      // after `done`, the one frame expected is the countersigned receipt.
      let countersigned: (receipt: unknown) => void = () => {}
      const countersign = new Promise<unknown>(resolve => { countersigned = resolve })
      void (async () => {
        try {
          for await (const frame of frames) {
            const c = CountersignSchema.safeParse(frame)
            if (c.success) { countersigned(c.data.receipt); continue }
            if (CancelSchema.safeParse(frame).success) break
          }
        } catch {}
        countersigned(null)
        job?.abort()
      })()
      stream.addEventListener('close', () => job?.abort(), { once: true })

      const batcher = new TokenBatcher(frame => { void send(frame).catch(() => job?.abort()) })
      const startedAt = Date.now()
      const produced: number[] = []
      const result = await this.#c.engine.generate(toGenerateRequest(req), { signal, onPiece: (ids, text) => { for (const id of ids) produced.push(id); batcher.add(ids, text) } })
      batcher.flush()
      const keeper = this.#c.receipts
      const body = keeper == null
        ? null
        : inferenceReceiptBody({ jobId: req.id, provider: keeper.peerId, requester: peer, modelSha256: this.#c.engine.registry.get(req.model).sha256, job: req, outputIds: produced, promptTokens: result.usage.promptTokens, startedAt, endedAt: Date.now() })
      const receipt = body != null && keeper != null ? keeper.sign(body) : undefined
      await send({ type: 'done', finishReason: result.finishReason, usage: result.usage, ...(receipt != null ? { receipt } : {}) })
      stats.served++
      if (receipt != null && keeper != null) {
        const signed = await Promise.race([countersign, new Promise(resolve => setTimeout(resolve, COUNTERSIGN_WAIT_MS, null))])
        try {
          if (signed == null) throw new Error('no countersignature came')
          if ((signed as { body?: { id?: unknown } }).body?.id !== receipt.body.id) throw new Error('a countersignature of another receipt')
          const r = keeper.record(signed) as { id?: string }
          stats.receiptsRecorded++
          this.#c.logger.debug({ peer, receipt: r.id }, 'receipt recorded')
        } catch (err) {
          stats.receiptsMissing++
          this.#c.logger.debug({ peer, err: (err as Error).message }, 'served without a countersigned receipt')
        }
      }
      await stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => stream.abort(new Error('close timed out')))
    } catch (err) {
      if (job?.signal.aborted === true) {
        stream.abort(new Error('cancelled'))
        return
      }
      if (err instanceof FrameError) {
        this.#c.logger.debug({ peer, reason: err.reason }, 'inference stream reset: bad frame')
        stream.abort(err)
        return
      }
      const refusal = refusalOf(err)
      stats.refused[refusal.code] = (stats.refused[refusal.code] ?? 0) + 1
      this.#c.logger.debug({ peer, code: refusal.code }, refusal.message)
      try {
        await send({ type: 'error', code: refusal.code, message: refusal.message, retryable: refusal.retryable, ...(refusal.retryAfterSeconds != null ? { retryAfterSeconds: refusal.retryAfterSeconds } : {}) })
        await stream.close({ signal: AbortSignal.timeout(2_000) })
      } catch {
        stream.abort(new Error('refused'))
      }
    } finally {
      if (job != null) this.#jobs.delete(job)
      stats.active = this.#jobs.size
    }
  }

  /** The operator's limits, checked before any work. */
  #admit (peer: string, req: InferRequest): void {
    const init = this.#init
    if (!init.serve) throw new Refusal('not-serving', 'this node does not serve community requests', true)
    if (req.network !== init.networkId) throw new Refusal('wrong-network', `this node is on network '${init.networkId}'`, false)
    const rate = this.#buckets.take(peer, init.requestsPerMinutePerPeer)
    if (!rate.ok) throw new Refusal('rate-limited', `limit of ${init.requestsPerMinutePerPeer} requests per minute per peer reached`, true, rate.retryAfterSeconds)
    if (this.#jobs.size >= init.maxConcurrentJobs) throw new Refusal('busy', `already running ${this.#jobs.size} community jobs (the limit)`, true)
    if (req.maxTokens > init.maxTokens) throw new Refusal('too-many-tokens', `max_tokens ${req.maxTokens} is above this node's community limit of ${init.maxTokens}`, true)
    const registry = this.#c.engine.registry
    if (!registry.has(req.model)) throw new Refusal('model-not-found', `no model '${req.model}' here`, true)
    if (req.sha256 != null && registry.get(req.model).sha256 !== req.sha256) throw new Refusal('model-not-found', `model '${req.model}' here is a different file`, true)
    const allowed = this.#c.allowedModels?.() ?? []
    if (allowed.length > 0 && !allowed.includes(registry.get(req.model).sha256)) throw new Refusal('model-not-found', `model '${req.model}' is not on the network's allow-list for community serving`, false)
  }
}

/** The engine request a peer's inference request stands for. */
export function toGenerateRequest (req: InferRequest): GenerateRequest {
  return {
    model: req.model,
    ...(req.messages != null ? { messages: req.messages } : { prompt: req.prompt }),
    ...(req.maxTokensIsCap === true ? { maxTokensCap: req.maxTokens } : { maxTokens: req.maxTokens }),
    ...req.sampling,
    stop: req.stop,
    resumeTokens: req.resume
  }
}

/** The next value of an async iterator, or a timeout refusal. */
async function nextWithin<T> (it: AsyncIterator<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Refusal('bad-request', `no request within ${ms} ms`, false)), ms)
  })
  try {
    const r = await Promise.race([it.next(), timeout])
    return r.done === true ? undefined : r.value
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Groups token pieces into frames: a piece is sent at once when the last frame went out more than
 * `windowMs` ago, else it waits (at most that long) for company. Fast models then pay one frame
 * per several tokens; slow ones see every token immediately.
 */
export class TokenBatcher {
  #ids: number[] = []
  #text = ''
  #lastSent = 0
  #timer: NodeJS.Timeout | null = null
  /** Frames emitted so far. */
  frames = 0
  constructor (readonly emit: (frame: ServerFrame) => void, readonly windowMs: number = BATCH_WINDOW_MS) {}

  add (ids: number[], text: string): void {
    this.#ids.push(...ids)
    this.#text += text
    const since = performance.now() - this.#lastSent
    if (since >= this.windowMs) this.flush()
    else this.#timer ??= setTimeout(() => this.flush(), this.windowMs - since)
  }

  flush (): void {
    if (this.#timer != null) { clearTimeout(this.#timer); this.#timer = null }
    if (this.#ids.length === 0) return
    this.emit({ type: 'tokens', ids: this.#ids, text: this.#text })
    this.frames++
    this.#ids = []
    this.#text = ''
    this.#lastSent = performance.now()
  }
}

// ---------------------------------------------------------------------------------------------
// Requester

/** A failure of one peer. `retryable`: another peer may succeed (resume from the tokens so far). */
export class PeerInferenceError extends Error {
  constructor (readonly code: RefusalCode | 'unreachable' | 'stalled' | 'protocol' | 'closed', message: string, readonly retryable: boolean) {
    super(message)
    this.name = 'PeerInferenceError'
  }
}

export interface InferJob extends Omit<InferRequest, 'type' | 'id' | 'network'> {}

export interface RequestOptions {
  signal?: AbortSignal
  /** Countersigns and records the provider's receipt (the node's books); none: receipts are not kept. */
  receipts?: ReceiptKeeper
  /** Give up on the peer when nothing arrives for this long once tokens flow. */
  stallMs: number
  /** Before the first token (the peer may be loading the model): this long. */
  firstTokenMs?: number
  onPiece: (ids: number[], text: string) => void
}

export interface InferOutcome {
  finishReason: 'stop' | 'length'
  usage: GenerateResult['usage']
  /** The receipt this node countersigned and recorded for the job (none: the provider sent none, or it did not match). */
  receipt?: SignedReceipt
  /** The token ids the peer sent, in order (the receipt's output). */
  outputIds: number[]
}

/** Runs one job on one peer. Throws `PeerInferenceError` for the peer's failures, PLX_ERR_ABORTED when cancelled. */
export async function requestInference (
  libp2p: Pick<Libp2p, 'dialProtocol'>,
  peer: PeerId,
  job: InferJob & { id: string, network: string },
  stats: InferStats,
  options: RequestOptions
): Promise<InferOutcome> {
  const { signal } = options
  const cancelled = (): boolean => signal?.aborted === true
  if (cancelled()) throw new PlexusError('PLX_ERR_ABORTED')
  let stream: Stream
  try {
    stream = await libp2p.dialProtocol(peer, INFER_PROTOCOL, { signal: AbortSignal.any([signal ?? new AbortController().signal, AbortSignal.timeout(options.stallMs)]) })
  } catch (err) {
    if (cancelled()) throw new PlexusError('PLX_ERR_ABORTED')
    throw new PeerInferenceError('unreachable', `could not open an inference stream: ${(err as Error).message}`, true)
  }
  stats.requested++
  let stalled = false
  let timer: NodeJS.Timeout | undefined
  let waited = options.firstTokenMs ?? options.stallMs
  const arm = (): void => {
    clearTimeout(timer)
    const ms = waited
    timer = setTimeout(() => { stalled = true; waited = ms; stream.abort(new Error('stalled')) }, ms)
  }
  const onAbort = (): void => { stream.abort(new Error('cancelled by the requester')) }
  const received: number[] = []
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    arm()
    stats.requestBytesOut += await sendFrame(stream, { type: 'request', ...job }, MAX_INFER_FRAME_BYTES, signal)
    for await (const raw of readFrames(stream, MAX_INFER_FRAME_BYTES, n => { stats.requestBytesIn += n })) {
      waited = options.stallMs
      arm()
      const parsed = ServerFrameSchema.safeParse(raw)
      if (!parsed.success) throw new PeerInferenceError('protocol', 'peer sent a malformed frame', true)
      const frame = parsed.data
      if (frame.type === 'tokens') {
        for (const id of frame.ids) received.push(id)
        options.onPiece(frame.ids, frame.text)
      } else if (frame.type === 'done') {
        const keeper = options.receipts
        let receipt: SignedReceipt | undefined
        if (frame.receipt != null && keeper != null) {
          try {
            const partial = frame.receipt as unknown as Parameters<ReceiptKeeper['countersign']>[0]
            checkInferenceReceipt(partial, { provider: peer.toString(), requester: keeper.peerId, job, outputIds: received })
            const signed = keeper.countersign(partial)
            keeper.record(signed)
            stats.requestBytesOut += await sendFrame(stream, { type: 'countersign', receipt: signed }, MAX_INFER_FRAME_BYTES, signal)
            stats.receiptsCountersigned++
            receipt = signed
          } catch (err) {
            // The tokens arrived and are the caller's; a receipt that does not match is not signed.
            stats.receiptsRefused++
            if (!(err instanceof PlexusError)) throw err
          }
        }
        await stream.close({ signal: AbortSignal.timeout(2_000) }).catch(() => stream.abort(new Error('close timed out')))
        return { finishReason: frame.finishReason, usage: frame.usage, outputIds: received, ...(receipt != null ? { receipt } : {}) }
      } else {
        stream.abort(new Error('refused'))
        throw new PeerInferenceError(frame.code, frame.message, frame.retryable)
      }
    }
    throw new PeerInferenceError('closed', 'peer closed the stream before finishing', true)
  } catch (err) {
    if (cancelled()) throw new PlexusError('PLX_ERR_ABORTED')
    if (err instanceof PeerInferenceError) {
      stream.abort(err)
      throw err
    }
    if (stalled) throw new PeerInferenceError('stalled', `peer sent nothing for ${waited} ms`, true)
    if (err instanceof FrameError) { stream.abort(err); throw new PeerInferenceError('protocol', err.message, true) }
    throw new PeerInferenceError('closed', `stream failed: ${(err as Error).message}`, true)
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
}
