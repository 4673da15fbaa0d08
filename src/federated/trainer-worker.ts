/**
 * The worker thread behind {@link LocalTrainer} (trainer.ts): tfjs on the wasm backend, one
 * thread, one request at a time. It trains with its own loop rather than `model.fit()` so that
 * the FedProx proximal term can join the loss and shuffling follows the request's seed.
 *
 * Determinism: batches come from a permutation drawn with the seeded {@link Rng}; the wasm
 * backend runs single-threaded (`setThreadsCount(1)`), so kernels sum in a fixed order; Dropout
 * draws its masks through `Math.random` (tfjs seeds its own generator from it when the layer has
 * no seed), which this worker replaces with a seeded generator for the duration of a fit.
 *
 * @packageDocumentation
 */

import { parentPort } from 'node:worker_threads'
import * as tf from '@tensorflow/tfjs'
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm'
import { Rng, deriveSeed } from './dp/rng.js'
import { flatWeights, inspectModel, setFlatWeights } from './model.js'
import type { EvaluateOutcome, FitOutcome, LocalDataset, ModelDescriptor, TrainConfig } from './types.js'

/** Built models kept for reuse, by topology (a participant trains the same model every round). */
const MAX_CACHED_MODELS = 4
/** Rows per forward pass when evaluating. */
const EVAL_CHUNK_ROWS = 2048
/** tfjs-layers' epsilon: predictions are clipped to [ε, 1 − ε] before the log. */
const EPSILON = 1e-7

export type TrainerRequest =
  | { id: number, kind: 'ready' }
  | { id: number, kind: 'fit', descriptor: ModelDescriptor, global: Float32Array, data: LocalDataset, config: TrainConfig }
  | { id: number, kind: 'evaluate', descriptor: ModelDescriptor, global: Float32Array, data: LocalDataset }

export type TrainerResponse =
  | { id: number, ok: true, fit?: FitOutcome, evaluate?: EvaluateOutcome }
  | { id: number, ok: false, message: string }

const ready = (async () => {
  setThreadsCount(1)
  if (!await tf.setBackend('wasm')) throw new Error('the tfjs wasm backend failed to start')
  await tf.ready()
})()

const models = new Map<string, tf.LayersModel>()

async function modelFor (descriptor: ModelDescriptor): Promise<tf.LayersModel> {
  const key = JSON.stringify(descriptor.topology)
  const hit = models.get(key)
  if (hit != null) {
    models.delete(key)
    models.set(key, hit)
    return hit
  }
  const model = await tf.models.modelFromJSON(descriptor.topology as unknown as Parameters<typeof tf.models.modelFromJSON>[0])
  models.set(key, model)
  if (models.size > MAX_CACHED_MODELS) {
    const [oldest, m] = models.entries().next().value as [string, tf.LayersModel]
    models.delete(oldest)
    m.dispose()
  }
  return model
}

/** Features as a tensor of the model's input shape, labels as the loss wants them. */
function tensorsOf (descriptor: ModelDescriptor, data: LocalDataset): { x: tf.Tensor, y: tf.Tensor } {
  const info = inspectModel(descriptor)
  const x = tf.tensor(data.x, [data.rows, ...info.inputShape], 'float32')
  const y = descriptor.loss === 'binaryCrossentropy'
    ? tf.tensor2d(Float32Array.from(data.y), [data.rows, 1], 'float32')
    : tf.tensor1d(data.y, 'int32')
  return { x, y }
}

/** Per-example loss of predictions `p` against labels `y` (shape [batch]). */
function perExampleLoss (descriptor: ModelDescriptor, p: tf.Tensor, y: tf.Tensor, classes: number): tf.Tensor1D {
  return tf.tidy(() => {
    const clipped = tf.clipByValue(p, EPSILON, 1 - EPSILON)
    if (descriptor.loss === 'binaryCrossentropy') {
      const l = tf.add(tf.mul(y, tf.log(clipped)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, clipped))))
      return tf.neg(tf.reshape(l, [-1])) as tf.Tensor1D
    }
    return tf.neg(tf.sum(tf.mul(tf.oneHot(y as tf.Tensor1D, classes), tf.log(clipped)), -1)) as tf.Tensor1D
  })
}

/** Number of correct predictions in a batch. */
function correct (descriptor: ModelDescriptor, p: tf.Tensor, y: tf.Tensor): number {
  return tf.tidy(() => {
    const hits = descriptor.loss === 'binaryCrossentropy'
      ? tf.equal(tf.cast(tf.greater(p, 0.5), 'float32'), y)
      : tf.equal(tf.argMax(p, -1), y)
    return tf.sum(tf.cast(hits, 'float32')).dataSync()[0]!
  })
}

async function fit (descriptor: ModelDescriptor, global: Float32Array, data: LocalDataset, config: TrainConfig): Promise<FitOutcome> {
  const info = inspectModel(descriptor)
  const model = await modelFor(descriptor)
  setFlatWeights(model, global)
  // The proximal term pulls every trainable weight towards its value in the global model.
  const offsets = new Map<string, number>()
  let offset = 0
  for (const w of model.weights) {
    offsets.set(w.name, offset)
    offset += w.shape.reduce((a: number, b) => a * (b ?? 1), 1)
  }
  const trainable = model.trainableWeights.map(w => w.read() as tf.Variable)
  const anchors = config.proximalMu > 0
    ? model.trainableWeights.map(w => {
      const start = offsets.get(w.name)!
      const size = w.shape.reduce((a: number, b) => a * (b ?? 1), 1)
      return tf.tensor(global.subarray(start, start + size), w.shape as number[], 'float32')
    })
    : []
  const { x, y } = tensorsOf(descriptor, data)
  const optimizer = tf.train.sgd(config.learningRate)
  const rng = Rng.seeded(config.seed)
  const dropoutRng = Rng.seeded(deriveSeed(config.seed, 0xd2))
  const realRandom = Math.random
  Math.random = () => dropoutRng.float()
  let lastEpochLoss = 0
  try {
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      const last = epoch === config.epochs - 1
      const order = rng.permutation(data.rows)
      let lossSum = 0
      for (let start = 0; start < data.rows; start += config.batchSize) {
        const end = Math.min(start + config.batchSize, data.rows)
        let batchLoss: tf.Tensor | null = null
        // Gather the batch outside minimize(): inside, the tape would save (and the wasm backend
        // copy) the whole dataset tensor for a gradient nobody needs.
        const [xb, yb] = tf.tidy(() => {
          const idx = tf.tensor1d(order.subarray(start, end), 'int32')
          return [tf.gather(x, idx), tf.gather(y, idx)]
        })
        const cost = optimizer.minimize(() => {
          const p = model.apply(xb, { training: true }) as tf.Tensor
          const dataLoss = tf.mean(perExampleLoss(descriptor, p, yb, info.classes)) as tf.Scalar
          if (anchors.length === 0) return dataLoss
          // The reported loss is the data term alone; keep it past minimize's clean-up.
          if (last) batchLoss = tf.keep(dataLoss)
          const prox = tf.addN(trainable.map((w, k) => tf.sum(tf.square(tf.sub(w, anchors[k]!)))))
          return tf.add(dataLoss, tf.mul(config.proximalMu / 2, prox)) as tf.Scalar
        }, true, trainable)
        xb.dispose()
        yb.dispose()
        if (last) {
          const reported = (batchLoss ?? cost) as tf.Tensor | null
          lossSum += (reported?.dataSync()[0] ?? Number.NaN) * (end - start)
        }
        cost?.dispose()
        ;(batchLoss as tf.Tensor | null)?.dispose()
      }
      if (last) lastEpochLoss = lossSum / data.rows
    }
    return { weights: flatWeights(model), numExamples: data.rows, loss: lastEpochLoss }
  } finally {
    Math.random = realRandom
    optimizer.dispose()
    x.dispose()
    y.dispose()
    for (const a of anchors) a.dispose()
  }
}

async function evaluate (descriptor: ModelDescriptor, global: Float32Array, data: LocalDataset): Promise<EvaluateOutcome> {
  const info = inspectModel(descriptor)
  const model = await modelFor(descriptor)
  setFlatWeights(model, global)
  const { x, y } = tensorsOf(descriptor, data)
  let lossSum = 0
  let hits = 0
  try {
    for (let start = 0; start < data.rows; start += EVAL_CHUNK_ROWS) {
      const size = Math.min(EVAL_CHUNK_ROWS, data.rows - start)
      tf.tidy(() => {
        const xb = tf.slice(x, start, size)
        const yb = tf.slice(y, start, size)
        const p = model.apply(xb, { training: false }) as tf.Tensor
        lossSum += tf.sum(perExampleLoss(descriptor, p, yb, info.classes)).dataSync()[0]!
        hits += correct(descriptor, p, yb)
      })
    }
    return { numExamples: data.rows, loss: lossSum / data.rows, accuracy: hits / data.rows }
  } finally {
    x.dispose()
    y.dispose()
  }
}

async function handle (req: TrainerRequest): Promise<TrainerResponse> {
  try {
    await ready
    switch (req.kind) {
      case 'ready': return { id: req.id, ok: true }
      case 'fit': return { id: req.id, ok: true, fit: await fit(req.descriptor, req.global, req.data, req.config) }
      case 'evaluate': return { id: req.id, ok: true, evaluate: await evaluate(req.descriptor, req.global, req.data) }
    }
  } catch (err) {
    return { id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) }
  }
}

// One request at a time, in arrival order: the main thread sends the next only after a reply.
parentPort?.on('message', (req: TrainerRequest) => {
  void handle(req).then((res) => {
    const transfer = res.ok && res.fit != null ? [res.fit.weights.buffer as ArrayBuffer] : []
    parentPort?.postMessage(res, transfer)
  })
})
