/**
 * Local training for a participant (and for simulations): {@link LocalTrainer} runs tfjs on the
 * wasm backend in a worker thread, so the node keeps serving while a model trains. Requests run
 * one at a time in call order; each is checked here before it reaches the worker.
 *
 * - `fit` trains the global weights on local data with mini-batch SGD for `epochs` passes,
 *   shuffled by `seed`, minimising the loss plus, when `proximalMu` > 0, FedProx's
 *   μ/2·‖w − w_global‖². Same inputs and seed, same weights, bit for bit.
 * - `evaluate` returns the mean loss and accuracy of the given weights on the data.
 * - An aborted call that is already running terminates the worker (the next call starts a fresh
 *   one); a worker that fails rejects its call with PLX_ERR_FL_TRAINING and is replaced likewise.
 *
 * @packageDocumentation
 */

import { Worker } from 'node:worker_threads'
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import { checkDataset } from './datasets.js'
import { checkDataFitsModel, inspectModel } from './model.js'
import type { TrainerRequest, TrainerResponse } from './trainer-worker.js'
import type { EvaluateOutcome, FitOutcome, LocalDataset, ModelDescriptor, TrainConfig } from './types.js'

const TRAINER_WORKER_URL = new URL('./trainer-worker.js', import.meta.url)

/** Local training settings, as they arrive from a coordinator. */
export const TrainConfigSchema = z.strictObject({
  epochs: z.number().int().min(1).max(1000),
  batchSize: z.number().int().min(1).max(100_000),
  learningRate: z.number().positive().max(100),
  proximalMu: z.number().min(0).max(10_000),
  seed: z.number().int().min(0).max(2 ** 53 - 1)
})

/** Throws PLX_ERR_FL_CONFIG_INVALID unless `config` is a usable {@link TrainConfig}. */
export function parseTrainConfig (config: unknown): TrainConfig {
  const r = TrainConfigSchema.safeParse(config)
  if (!r.success) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`local training: ${z.prettifyError(r.error).replace(/\n/g, '; ')}`])
  return r.data
}

function checkWeights (descriptor: ModelDescriptor, global: Float32Array): void {
  const { parameterCount } = inspectModel(descriptor)
  if (!(global instanceof Float32Array) || global.length !== parameterCount) {
    throw new PlexusError('PLX_ERR_FL_MODEL_INVALID', [`${(global as { length?: number } | null)?.length ?? 0} weights given, the model has ${parameterCount}`])
  }
  for (let i = 0; i < global.length; i++) {
    if (!Number.isFinite(global[i])) throw new PlexusError('PLX_ERR_FL_MODEL_INVALID', [`weight ${i} is ${global[i]}`])
  }
}

type Job = { kind: 'fit', descriptor: ModelDescriptor, global: Float32Array, data: LocalDataset, config: TrainConfig } |
{ kind: 'evaluate', descriptor: ModelDescriptor, global: Float32Array, data: LocalDataset } |
{ kind: 'ready' }

export interface LocalTrainerOptions {
  /** V8 heap cap of the worker in MiB (tfjs' wasm memory is separate). Default: Node's. */
  maxHeapMb?: number
}

export class LocalTrainer {
  readonly #options: LocalTrainerOptions
  #worker: Worker | null = null
  #nextId = 1
  #tail: Promise<unknown> = Promise.resolve()
  #queued = 0
  #closed = false

  constructor (options: LocalTrainerOptions = {}) {
    this.#options = options
  }

  /** A trainer whose worker has started and loaded tfjs (so start-up errors surface here). */
  static async create (options: LocalTrainerOptions = {}): Promise<LocalTrainer> {
    const trainer = new LocalTrainer(options)
    await trainer.#enqueue({ kind: 'ready' })
    return trainer
  }

  /** Trains `global` on `data`; returns the local weights, the row count and the last epoch's loss. */
  async fit (descriptor: ModelDescriptor, global: Float32Array, data: LocalDataset, config: TrainConfig, options: { signal?: AbortSignal } = {}): Promise<FitOutcome> {
    const cfg = parseTrainConfig(config)
    checkWeights(descriptor, global)
    checkDataset(data)
    checkDataFitsModel(descriptor, data)
    const res = await this.#enqueue({ kind: 'fit', descriptor, global, data, config: cfg }, options.signal)
    return res.fit!
  }

  /** Mean loss and accuracy of `global` on `data`. */
  async evaluate (descriptor: ModelDescriptor, global: Float32Array, data: LocalDataset, options: { signal?: AbortSignal } = {}): Promise<EvaluateOutcome> {
    checkWeights(descriptor, global)
    checkDataset(data)
    checkDataFitsModel(descriptor, data)
    const res = await this.#enqueue({ kind: 'evaluate', descriptor, global, data }, options.signal)
    return res.evaluate!
  }

  /** Waits for queued work, then stops the worker. Later calls fail. */
  async close (): Promise<void> {
    this.#closed = true
    await this.#tail.catch(() => {})
    const w = this.#worker
    this.#worker = null
    if (w != null) await w.terminate()
  }

  #enqueue (job: Job, signal?: AbortSignal): Promise<Extract<TrainerResponse, { ok: true }>> {
    if (this.#closed && job.kind !== 'ready') return Promise.reject(new PlexusError('PLX_ERR_FL_TRAINING', ['the trainer is closed']))
    this.#queued++
    const run = this.#tail.catch(() => {}).then(async () => await this.#run(job, signal))
    this.#tail = run.finally(() => {
      if (--this.#queued === 0) this.#worker?.unref()
    }).catch(() => {})
    return run
  }

  #startWorker (): Worker {
    // A worker inherits the process's execArgv; `--input-type` (a parent run with `node
    // --input-type=module -e …`) would make it refuse to load its own file.
    const execArgv = process.execArgv.filter(a => !a.startsWith('--input-type'))
    const resourceLimits = this.#options.maxHeapMb != null ? { maxOldGenerationSizeMb: this.#options.maxHeapMb } : undefined
    const worker = new Worker(TRAINER_WORKER_URL, { execArgv, resourceLimits })
    // A failed or exited worker is dropped; the next call starts another.
    const drop = (): void => { if (this.#worker === worker) this.#worker = null }
    worker.once('error', drop)
    worker.once('exit', drop)
    this.#worker = worker
    return worker
  }

  async #run (job: Job, signal?: AbortSignal): Promise<Extract<TrainerResponse, { ok: true }>> {
    if (signal?.aborted === true) throw new PlexusError('PLX_ERR_ABORTED', [], { cause: signal.reason })
    const worker = this.#worker ?? this.#startWorker()
    worker.ref()
    const id = this.#nextId++
    return await new Promise((resolve, reject) => {
      const cleanup = (): void => {
        worker.off('message', onMessage)
        worker.off('error', onError)
        worker.off('exit', onExit)
        signal?.removeEventListener('abort', onAbort)
      }
      const onMessage = (res: TrainerResponse): void => {
        if (res.id !== id) return
        cleanup()
        if (res.ok) resolve(res)
        else reject(new PlexusError('PLX_ERR_FL_TRAINING', [res.message]))
      }
      const onError = (err: Error): void => {
        cleanup()
        reject(new PlexusError('PLX_ERR_FL_TRAINING', [err.message], { cause: err }))
      }
      const onExit = (code: number): void => {
        cleanup()
        reject(new PlexusError('PLX_ERR_FL_TRAINING', [`the training worker exited with code ${code}`]))
      }
      const onAbort = (): void => {
        cleanup()
        if (this.#worker === worker) this.#worker = null
        void worker.terminate()
        reject(new PlexusError('PLX_ERR_ABORTED', [], { cause: signal?.reason }))
      }
      worker.on('message', onMessage)
      worker.once('error', onError)
      worker.once('exit', onExit)
      signal?.addEventListener('abort', onAbort, { once: true })
      worker.postMessage({ id, ...job } satisfies TrainerRequest)
    })
  }
}
