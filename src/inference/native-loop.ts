/**
 * The native generation loop (native/generation-loop/loop.cpp): whole generations — decode,
 * sample, detokenise — on a thread of their own, text handed to JavaScript in batches.
 *
 * node-llama-cpp makes two asynchronous native calls per token (decode, then sample), each a
 * hand-over to libuv's pool and back to the event loop, plus its JavaScript around them: on a tiny
 * model that is most of a token's time (bench/README.md). The loop makes none; JavaScript only
 * receives finished text.
 *
 * It links against the shared libraries node-llama-cpp loads (native-loop-build.ts), so it must be
 * loaded after node-llama-cpp and only when node-llama-cpp uses the binary it was built for. It
 * opens its own llama_model of the file (memory-mapped, so the weights' pages are shared with the
 * page cache) and one llama_context per sequence, with node-llama-cpp's sampler chain and context
 * defaults: the same request gives the same tokens on both paths.
 *
 * @packageDocumentation
 */

import { createRequire } from 'node:module'
import type { EngineBinary } from './engine-build.js'
import { readNativeLoopManifest, type NativeLoopManifest } from './native-loop-build.js'

/** One batch element: token ids and their text (never ending inside a UTF-8 character). */
export type NativePiece = [number[], string]

/** How a native generation ended. */
export interface NativeDone {
  /** `eog`: end-of-generation token; `length`: maxTokens; `aborted`; `error`. */
  reason: 'eog' | 'length' | 'aborted' | 'error'
  error?: string
  /** Tokens left at the end that did not complete a character, and their text. */
  restTokens: number[]
  restText: string
  /** Tokens the loop sampled (it may run a few past a stop sequence found by the caller). */
  completionTokens: number
  /** Prompt tokens kept from the context's cache. */
  reusedTokens: number
  firstTokenMs: number
  decodeMs: number
}

/** Sampling settings, as the engine resolves them for node-llama-cpp. */
export interface NativeSampling {
  maxTokens: number
  temperature: number
  topK: number
  topP: number
  minP: number
  seed: number
  repeatPenalty?: number
  presencePenalty?: number
  frequencyPenalty?: number
  /** Generated tokens the penalties look at. */
  penaltyWindow?: number
  /** Hand text over at most this often, µs (the first piece at once); 0 = every piece at once. */
  flushMicros?: number
}

interface AddonModel {
  dispose: () => void
}

interface AddonContext {
  generate: (prompt: Uint32Array, options: NativeSampling, onBatch: (pieces: NativePiece[], done: NativeDone | null) => void) => void
  abort: () => void
  dispose: () => void
}

interface Addon {
  loadModel: (path: string) => Promise<AddonModel>
  Context: new (model: AddonModel, options: { contextSize: number, threads: number, batchSize: number }) => AddonContext
}

/** Whether the loop can run, and why not. */
export interface NativeLoopStatus {
  /** Allowed by `inference.nativeLoop` / PLEXUS_NATIVE_LOOP. */
  enabled: boolean
  /** A build exists (`plexus engine build --native-loop`). */
  built: boolean
  /** Plain generations run on it (known once the engine has loaded llama.cpp). */
  active: boolean
  /** Why it is not active, when it is not. */
  reason: string | null
  /** The binary it is built for. */
  binary: EngineBinary['binary'] | null
}

/** The loaded addon. */
export class NativeLoop {
  readonly #addon: Addon
  readonly manifest: NativeLoopManifest

  private constructor (addon: Addon, manifest: NativeLoopManifest) {
    this.#addon = addon
    this.manifest = manifest
  }

  /**
   * Loads the built addon when it fits the binary node-llama-cpp has loaded (call after
   * getLlama); otherwise says why not.
   */
  static load (binary: EngineBinary, dir?: string): { loop: NativeLoop | null, reason: string | null } {
    const manifest = readNativeLoopManifest(dir)
    if (manifest == null) return { loop: null, reason: 'not built (`plexus engine build --native-loop`)' }
    if (binary.gpu !== false) return { loop: null, reason: `node-llama-cpp uses the ${binary.gpu} backend; the loop is built for CPU only` }
    if (manifest.binary !== binary.binary) return { loop: null, reason: `built for the ${manifest.binary} binary, but node-llama-cpp uses the ${binary.binary} (run \`plexus engine build --native-loop\` again)` }
    if (manifest.llamaCpp !== binary.llamaCpp) return { loop: null, reason: `built for llama.cpp ${manifest.llamaCpp}, but node-llama-cpp has ${binary.llamaCpp}` }
    try {
      const addon = createRequire(import.meta.url)(manifest.addon) as Addon
      return { loop: new NativeLoop(addon, manifest), reason: null }
    } catch (err) {
      return { loop: null, reason: `the addon does not load: ${(err as Error).message}` }
    }
  }

  /** The finished build's record, or null. */
  static manifest (dir?: string): NativeLoopManifest | null {
    return readNativeLoopManifest(dir)
  }

  /** Opens a model file (on libuv's pool). */
  async loadModel (path: string): Promise<NativeModel> {
    return new NativeModel(this.#addon, await this.#addon.loadModel(path))
  }
}

/** A model opened by the loop. */
export class NativeModel {
  readonly #addon: Addon
  readonly #model: AddonModel
  readonly #contexts = new Set<NativeContext>()

  constructor (addon: Addon, model: AddonModel) {
    this.#addon = addon
    this.#model = model
  }

  /** A context with one sequence of `contextSize` tokens. */
  createContext (options: { contextSize: number, threads: number, batchSize?: number }): NativeContext {
    const ctx = new NativeContext(new this.#addon.Context(this.#model, {
      contextSize: options.contextSize,
      threads: options.threads,
      batchSize: options.batchSize ?? Math.min(options.contextSize, 512)
    }))
    this.#contexts.add(ctx)
    return ctx
  }

  /**
   * Greedy decode speed at `threads`, tokens per second after the first token, in a small context
   * of its own (for auto threads, threads.ts calibrateWith); null when too few tokens came.
   */
  async measureDecode (threads: number, options: { first: number, tokens: number, maxRunMs: number }): Promise<number | null> {
    const ctx = new NativeContext(new this.#addon.Context(this.#model, { contextSize: 128, threads, batchSize: 128 }))
    const timer = setTimeout(() => { ctx.abort() }, options.maxRunMs)
    try {
      const done = await ctx.generate([options.first], { maxTokens: options.tokens, temperature: 0, topK: 40, topP: 0.95, minP: 0, seed: 0 }, () => {})
      return done.completionTokens > 1 && done.decodeMs > 0 ? (done.completionTokens - 1) / (done.decodeMs / 1000) : null
    } finally {
      clearTimeout(timer)
      ctx.dispose()
    }
  }

  /** Frees the contexts (which must be idle) and the model. */
  dispose (): void {
    for (const c of this.#contexts) c.dispose()
    this.#contexts.clear()
    this.#model.dispose()
  }
}

/** One sequence: generations run one at a time; the KV cache keeps the last prompt's prefix. */
export class NativeContext {
  readonly #ctx: AddonContext
  #disposed = false

  constructor (ctx: AddonContext) {
    this.#ctx = ctx
  }

  /**
   * Generates from `prompt`; `onPieces` gets each batch of text as it comes. Resolves when the
   * loop has stopped (including after {@link abort}).
   */
  async generate (prompt: readonly number[], sampling: NativeSampling, onPieces: (pieces: NativePiece[]) => void): Promise<NativeDone> {
    return await new Promise<NativeDone>((resolve, reject) => {
      // A throwing callback stops the loop; the promise settles once the loop has stopped, so
      // that the context is free again when the caller goes on.
      let failure: { err: unknown } | null = null
      try {
        this.#ctx.generate(Uint32Array.from(prompt), sampling, (pieces, done) => {
          if (failure == null && pieces.length > 0) {
            try {
              onPieces(pieces)
            } catch (err) {
              failure = { err }
              this.#ctx.abort()
            }
          }
          if (done == null) return
          if (failure != null) reject(failure.err)
          else resolve(done)
        })
      } catch (err) {
        reject(err)
      }
    })
  }

  /** Stops the running generation after the token in progress. */
  abort (): void {
    if (!this.#disposed) this.#ctx.abort()
  }

  dispose (): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#ctx.dispose()
  }
}
