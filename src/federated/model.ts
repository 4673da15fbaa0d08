/**
 * Models for federated learning: templates (logistic regression, MLP), validation of a
 * user-supplied tfjs layers topology, seeded initial weights, and the flat weight vector that
 * travels between coordinator and participants.
 *
 * Everything here is pure TypeScript: no tfjs is loaded (a coordinator validates and initialises
 * models without the 0.5 s / 75 MB of tfjs). The flat order is tfjs' own `model.getWeights()`
 * order (layer by layer; kernel then bias), which {@link inspectModel} derives from the topology
 * and {@link flatWeights} / {@link setFlatWeights} read from and write to a live tfjs model.
 *
 * Supported: a `Sequential` model of `InputLayer`, `Dense`, `Dropout`, `Flatten`, `Reshape` and
 * `Activation` layers, without regularizers or constraints (the training loop in trainer.ts
 * would ignore them). The output must be `Dense(1)` + sigmoid for binary cross-entropy or
 * `Dense(classes)` + softmax for sparse categorical cross-entropy.
 *
 * @packageDocumentation
 */

import { z } from 'zod'
import type { LayersModel, Tensor } from '@tensorflow/tfjs'
import { PlexusError } from '../errors.js'
import { Rng, deriveSeed } from './dp/rng.js'
import type { LocalDataset, ModelDescriptor } from './types.js'

/** Most layers a topology may have. */
export const MAX_LAYERS = 64
/** Most units in one Dense layer, most features and most classes. */
export const MAX_UNITS = 65_536
/** Most trainable values in a model (40 MB of float32 per copy of the weights). */
export const MAX_PARAMETERS = 10_000_000
/** Largest topology, as JSON text. */
export const MAX_TOPOLOGY_BYTES = 1024 * 1024

export type Loss = ModelDescriptor['loss']

/** One weight tensor of a model, located in the flat vector. */
export interface WeightSpec {
  /** tfjs' `originalName`: `<layer name>/kernel` or `<layer name>/bias`. */
  name: string
  shape: number[]
  size: number
  /** Index of its first value in the flat vector. */
  offset: number
}

/** What {@link inspectModel} learns from a descriptor. */
export interface ModelInfo {
  /** Per-example input shape (without the batch dimension). */
  inputShape: number[]
  /** Values per example: the product of `inputShape`. */
  features: number
  /** 2 for binary cross-entropy, the output units otherwise. */
  classes: number
  loss: Loss
  weights: WeightSpec[]
  parameterCount: number
}

const ACTIVATIONS = ['linear', 'relu', 'relu6', 'elu', 'selu', 'sigmoid', 'hard_sigmoid', 'tanh', 'softplus', 'softsign', 'softmax'] as const

const Activation = z.enum(ACTIVATIONS)
const PositiveDim = z.number().int().min(1).max(MAX_UNITS * 16)
const BatchShape = z.tuple([z.null()], PositiveDim).refine(s => s.length >= 2 && s.length <= 5, 'a batch input shape [null, d1, …] of rank 2 to 5')
const Initializer = z.object({ class_name: z.string(), config: z.record(z.string(), z.unknown()).optional() }).loose()
const Nothing = z.null().optional()
const Name = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'letters, digits, _ . - (at most 128)')

/** Keys every layer config may carry besides its own. */
const common = {
  name: Name.optional(),
  trainable: z.boolean().optional(),
  dtype: z.literal('float32').optional(),
  batch_input_shape: BatchShape.optional(),
  batch_shape: BatchShape.optional(),
  input_dim: PositiveDim.optional()
}

const LayerConfigs = {
  InputLayer: z.strictObject({ ...common, sparse: z.literal(false).optional(), ragged: z.literal(false).optional() }),
  Dense: z.strictObject({
    ...common,
    units: z.number().int().min(1).max(MAX_UNITS),
    activation: Activation.optional(),
    use_bias: z.boolean().optional(),
    kernel_initializer: Initializer.optional(),
    bias_initializer: Initializer.optional(),
    kernel_regularizer: Nothing,
    bias_regularizer: Nothing,
    activity_regularizer: Nothing,
    kernel_constraint: Nothing,
    bias_constraint: Nothing
  }),
  Dropout: z.strictObject({ ...common, rate: z.number().min(0).lt(1), noise_shape: Nothing, seed: z.union([z.number(), z.null()]).optional() }),
  Flatten: z.strictObject({ ...common, data_format: z.enum(['channels_last', 'channels_first']).optional() }),
  Reshape: z.strictObject({ ...common, target_shape: z.array(z.number().int().min(-1).max(MAX_UNITS * 16).refine(d => d !== 0, 'dimensions are positive or −1')).min(1).max(4) }),
  Activation: z.strictObject({ ...common, activation: Activation })
} as const
type LayerClass = keyof typeof LayerConfigs

const LayerSchema = z.strictObject({ class_name: z.string().max(64), config: z.record(z.string(), z.unknown()) })
const TopologySchema = z.object({
  class_name: z.literal('Sequential', { error: 'only Sequential models are supported' }),
  config: z.union([
    z.object({ name: z.string().max(128).optional(), layers: z.array(LayerSchema).min(1).max(MAX_LAYERS) }).loose(),
    z.array(LayerSchema).min(1).max(MAX_LAYERS)
  ])
}).loose()

/** A descriptor as it arrives from outside (a job spec, a message): checked by {@link inspectModel}. */
export const ModelDescriptorSchema = z.strictObject({
  topology: z.record(z.string(), z.unknown()),
  loss: z.enum(['binaryCrossentropy', 'sparseCategoricalCrossentropy'])
})

function invalid (reason: string): PlexusError {
  return new PlexusError('PLX_ERR_FL_MODEL_INVALID', [reason])
}

function zodReason (err: z.ZodError): string {
  return z.prettifyError(err).replace(/\n/g, '; ')
}

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1)

interface ParsedLayer {
  className: LayerClass
  config: Record<string, unknown>
}

function layersOf (topology: Record<string, unknown>): ParsedLayer[] {
  let text: string
  try {
    text = JSON.stringify(topology)
  } catch {
    throw invalid('the topology is not plain JSON')
  }
  if (text.length > MAX_TOPOLOGY_BYTES) throw invalid(`the topology is ${text.length} bytes of JSON, more than ${MAX_TOPOLOGY_BYTES}`)
  const top = TopologySchema.safeParse(topology)
  if (!top.success) throw invalid(zodReason(top.error))
  const raw = Array.isArray(top.data.config) ? top.data.config : top.data.config.layers
  return raw.map((layer, i) => {
    if (!Object.hasOwn(LayerConfigs, layer.class_name)) {
      throw invalid(`layer ${i} is a ${layer.class_name}; supported layers: ${Object.keys(LayerConfigs).join(', ')}`)
    }
    const className = layer.class_name as LayerClass
    const r = LayerConfigs[className].safeParse(layer.config)
    if (!r.success) throw invalid(`layer ${i} (${className}): ${zodReason(r.error)}`)
    return { className, config: r.data as Record<string, unknown> }
  })
}

function inputShapeOf (first: ParsedLayer): number[] {
  const c = first.config
  const batch = (c.batch_input_shape ?? c.batch_shape) as Array<number | null> | undefined
  if (batch != null) return batch.slice(1) as number[]
  if (typeof c.input_dim === 'number') return [c.input_dim]
  throw invalid('the first layer must declare its input shape (batch_input_shape [null, features])')
}

function reshape (shape: number[], target: number[], i: number): number[] {
  const known = product(target.filter(d => d !== -1))
  const unknown = target.filter(d => d === -1).length
  const total = product(shape)
  if (unknown > 1) throw invalid(`layer ${i} (Reshape): at most one −1 in target_shape`)
  if (unknown === 1) {
    if (total % known !== 0) throw invalid(`layer ${i} (Reshape): cannot reshape ${total} values into [${target.join(', ')}]`)
    return target.map(d => d === -1 ? total / known : d)
  }
  if (known !== total) throw invalid(`layer ${i} (Reshape): cannot reshape ${total} values into [${target.join(', ')}]`)
  return target
}

const infoCache = new WeakMap<object, ModelInfo>()

/**
 * Validates a descriptor and derives its shapes and flat weight layout. Throws
 * PLX_ERR_FL_MODEL_INVALID with the reason. Results are cached per topology object.
 */
export function inspectModel (descriptor: ModelDescriptor): ModelInfo {
  const parsed = ModelDescriptorSchema.safeParse(descriptor)
  if (!parsed.success) throw invalid(zodReason(parsed.error))
  const cached = infoCache.get(descriptor.topology)
  if (cached != null && cached.loss === descriptor.loss) return cached
  const layers = layersOf(descriptor.topology)
  const inputShape = inputShapeOf(layers[0]!)
  const features = product(inputShape)
  if (features > MAX_UNITS * 16) throw invalid(`the input has ${features} values per example, more than ${MAX_UNITS * 16}`)
  const weights: WeightSpec[] = []
  const names = new Set<string>()
  let shape = inputShape
  let offset = 0
  let activation: string = 'linear'
  let lastDense = -1
  layers.forEach((layer, i) => {
    const c = layer.config
    const name = (c.name as string | undefined) ?? `${layer.className.toLowerCase()}_${i + 1}`
    if (names.has(name)) throw invalid(`two layers are named '${name}'`)
    names.add(name)
    if (i > 0 && (c.batch_input_shape != null || c.batch_shape != null || c.input_dim != null)) throw invalid(`layer ${i} (${layer.className}) declares an input shape; only the first layer may`)
    if (layer.className === 'InputLayer' && i > 0) throw invalid(`layer ${i} is an InputLayer; it may only come first`)
    switch (layer.className) {
      case 'Dense': {
        if (shape.length !== 1) throw invalid(`layer ${i} (Dense) gets input of shape [${shape.join(', ')}]; add a Flatten layer before it`)
        const units = c.units as number
        const kernel = shape[0]! * units
        weights.push({ name: `${name}/kernel`, shape: [shape[0]!, units], size: kernel, offset })
        offset += kernel
        if (c.use_bias !== false) {
          weights.push({ name: `${name}/bias`, shape: [units], size: units, offset })
          offset += units
        }
        if (offset > MAX_PARAMETERS) throw invalid(`the model has more than ${MAX_PARAMETERS} parameters`)
        shape = [units]
        activation = (c.activation as string | undefined) ?? 'linear'
        lastDense = i
        break
      }
      case 'Flatten': shape = [product(shape)]; break
      case 'Reshape': shape = reshape(shape, c.target_shape as number[], i); break
      case 'Activation': activation = c.activation as string; break
      case 'Dropout': case 'InputLayer': break
    }
  })
  if (lastDense < 0) throw invalid('the model has no Dense layer, so nothing to train')
  if (shape.length !== 1) throw invalid(`the output has shape [${shape.join(', ')}]; it must be flat`)
  const units = shape[0]!
  if (descriptor.loss === 'binaryCrossentropy' && !(units === 1 && activation === 'sigmoid')) {
    throw invalid(`binary cross-entropy needs one output unit with a sigmoid activation; the model ends in ${units} unit(s) with ${activation}`)
  }
  if (descriptor.loss === 'sparseCategoricalCrossentropy' && !(units >= 2 && activation === 'softmax')) {
    throw invalid(`sparse categorical cross-entropy needs a softmax over ≥ 2 output units; the model ends in ${units} unit(s) with ${activation}`)
  }
  const info: ModelInfo = {
    inputShape,
    features,
    classes: descriptor.loss === 'binaryCrossentropy' ? 2 : units,
    loss: descriptor.loss,
    weights,
    parameterCount: offset
  }
  infoCache.set(descriptor.topology, info)
  return info
}

/** Number of values in the flat weight vector of a descriptor or a live tfjs model. */
export function parameterCount (model: ModelDescriptor | Pick<LayersModel, 'countParams'>): number {
  return 'topology' in model ? inspectModel(model).parameterCount : model.countParams()
}

/**
 * A copy of a (validated) topology in which every layer has a name: the names tfjs would make up
 * differ from process to process, and weights are saved and loaded by name.
 */
function withLayerNames (topology: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(topology) as { config: Array<{ class_name: string, config: Record<string, unknown> }> | { layers: Array<{ class_name: string, config: Record<string, unknown> }> } }
  const layers = Array.isArray(copy.config) ? copy.config : copy.config.layers
  layers.forEach((l, i) => { l.config.name ??= `${l.class_name.toLowerCase()}_${i + 1}` })
  return copy as unknown as Record<string, unknown>
}

/**
 * Validates a user-supplied topology for a dataset of `features` columns and `classes` classes
 * and returns the descriptor to train it with: the loss follows from the output layer, and layers
 * without a name get the one {@link inspectModel} uses in weight names.
 */
export function validateTopology (topology: unknown, features: number, classes: number): ModelDescriptor {
  const t = z.record(z.string(), z.unknown()).safeParse(topology)
  if (!t.success) throw invalid('the topology must be a JSON object (tfjs `model.toJSON()`)')
  const layers = layersOf(t.data)
  const last = [...layers].reverse().find(l => l.className === 'Dense')
  const units = last?.config.units
  const descriptor: ModelDescriptor = { topology: withLayerNames(t.data), loss: units === 1 ? 'binaryCrossentropy' : 'sparseCategoricalCrossentropy' }
  const info = inspectModel(descriptor)
  if (info.features !== features) throw invalid(`the model takes ${info.features} values per example, the data has ${features} features`)
  if (info.classes !== classes) throw invalid(`the model predicts ${info.classes} classes, the data has ${classes}`)
  return descriptor
}

/** Throws unless `data` fits the model: same feature count, labels in 0 … classes − 1. */
export function checkDataFitsModel (descriptor: ModelDescriptor, data: LocalDataset): void {
  const info = inspectModel(descriptor)
  if (data.features !== info.features) throw new PlexusError('PLX_ERR_FL_DATA_INVALID', [`the data has ${data.features} features, the model takes ${info.features}`])
  for (let i = 0; i < data.rows; i++) {
    const y = data.y[i]!
    if (y < 0 || y >= info.classes) throw new PlexusError('PLX_ERR_FL_DATA_INVALID', [`row ${i} has label ${y}, outside 0…${info.classes - 1}`])
  }
}

function checkCount (what: string, n: number, min: number, max: number): void {
  if (!Number.isInteger(n) || n < min || n > max) throw invalid(`${what} must be a whole number from ${min} to ${max}, got ${n}`)
}

function denseLayer (name: string, units: number, activation: string, inputFeatures?: number): Record<string, unknown> {
  return {
    class_name: 'Dense',
    config: {
      units,
      activation,
      use_bias: true,
      kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 1, mode: 'fan_avg', distribution: 'uniform', seed: null } },
      bias_initializer: { class_name: 'Zeros', config: {} },
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
      name,
      trainable: true,
      ...(inputFeatures != null ? { batch_input_shape: [null, inputFeatures], dtype: 'float32' } : {})
    }
  }
}

function outputLayer (name: string, classes: number, inputFeatures?: number): [Record<string, unknown>, Loss] {
  return classes === 2
    ? [denseLayer(name, 1, 'sigmoid', inputFeatures), 'binaryCrossentropy']
    : [denseLayer(name, classes, 'softmax', inputFeatures), 'sparseCategoricalCrossentropy']
}

/**
 * A multilayer perceptron: `hidden` Dense layers (Glorot-uniform kernels, zero biases) and an
 * output of one sigmoid unit for 2 classes or a softmax over `classes`.
 */
export function mlp (features: number, hidden: readonly number[], classes: number, options: { activation?: typeof ACTIVATIONS[number], dropout?: number } = {}): ModelDescriptor {
  checkCount('features', features, 1, MAX_UNITS * 16)
  checkCount('classes', classes, 2, MAX_UNITS)
  if (hidden.length > MAX_LAYERS / 2) throw invalid(`at most ${MAX_LAYERS / 2} hidden layers`)
  hidden.forEach((h, i) => checkCount(`hidden layer ${i + 1}`, h, 1, MAX_UNITS))
  const dropout = options.dropout ?? 0
  if (!(dropout >= 0 && dropout < 1)) throw invalid(`dropout must be in [0, 1), got ${dropout}`)
  const layers: Array<Record<string, unknown>> = []
  hidden.forEach((units, i) => {
    layers.push(denseLayer(`dense_${i + 1}`, units, options.activation ?? 'relu', i === 0 ? features : undefined))
    if (dropout > 0) layers.push({ class_name: 'Dropout', config: { rate: dropout, noise_shape: null, seed: null, name: `dropout_${i + 1}`, trainable: true } })
  })
  const [out, loss] = outputLayer(`dense_${hidden.length + 1}`, classes, hidden.length === 0 ? features : undefined)
  layers.push(out)
  const descriptor: ModelDescriptor = {
    topology: { class_name: 'Sequential', config: { name: 'plexus_model', layers }, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' },
    loss
  }
  inspectModel(descriptor) // enforces the parameter limit
  return descriptor
}

/** Logistic regression (binary) or multinomial logistic regression (softmax) on `features` inputs. */
export function logisticRegression (features: number, classes: number): ModelDescriptor {
  return mlp(features, [], classes)
}

/** Fan-in / fan-out of a weight shape, as tfjs computes them for VarianceScaling. */
function fans (shape: readonly number[]): { fanIn: number, fanOut: number } {
  if (shape.length === 1) return { fanIn: shape[0]!, fanOut: shape[0]! }
  return { fanIn: shape[0]!, fanOut: shape[1]! }
}

function truncatedNormal (rng: Rng, mean: number, std: number): number {
  for (;;) {
    const z = rng.normal()
    if (Math.abs(z) <= 2) return mean + std * z
  }
}

const ALIASES: Record<string, { scale: number, mode: string, distribution: string }> = {
  GlorotUniform: { scale: 1, mode: 'fan_avg', distribution: 'uniform' },
  GlorotNormal: { scale: 1, mode: 'fan_avg', distribution: 'normal' },
  HeUniform: { scale: 2, mode: 'fan_in', distribution: 'uniform' },
  HeNormal: { scale: 2, mode: 'fan_in', distribution: 'normal' },
  LeCunUniform: { scale: 1, mode: 'fan_in', distribution: 'uniform' },
  LeCunNormal: { scale: 1, mode: 'fan_in', distribution: 'normal' }
}

function num (config: Record<string, unknown> | undefined, key: string, fallback: number): number {
  const v = config?.[key]
  if (v == null) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`initializer parameter ${key} must be a finite number`)
  return v
}

/** A sampler for one initializer of the topology (same families as tfjs, our own PRNG). */
function sampler (init: z.infer<typeof Initializer> | undefined, fallback: string, shape: readonly number[]): (rng: Rng) => number {
  const className = init?.class_name ?? fallback
  const config = init?.config
  switch (className) {
    case 'Zeros': return () => 0
    case 'Ones': return () => 1
    case 'Constant': { const value = num(config, 'value', 0); return () => value }
    case 'RandomNormal': { const m = num(config, 'mean', 0); const s = num(config, 'stddev', 0.05); return rng => m + s * rng.normal() }
    case 'TruncatedNormal': { const m = num(config, 'mean', 0); const s = num(config, 'stddev', 0.05); return rng => truncatedNormal(rng, m, s) }
    case 'RandomUniform': { const lo = num(config, 'minval', -0.05); const hi = num(config, 'maxval', 0.05); return rng => lo + (hi - lo) * rng.float() }
  }
  const vs = ALIASES[className] ?? (className === 'VarianceScaling'
    ? { scale: num(config, 'scale', 1), mode: String(config?.mode ?? 'fan_in'), distribution: String(config?.distribution ?? 'normal') }
    : null)
  if (vs == null) throw invalid(`initializer ${className} is not supported (use Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal or VarianceScaling and its Glorot/He/LeCun forms)`)
  const { fanIn, fanOut } = fans(shape)
  const n = vs.mode === 'fan_in' ? fanIn : vs.mode === 'fan_out' ? fanOut : vs.mode === 'fan_avg' ? (fanIn + fanOut) / 2 : Number.NaN
  if (!(vs.scale > 0) || Number.isNaN(n)) throw invalid(`VarianceScaling needs scale > 0 and mode fan_in, fan_out or fan_avg (got ${vs.scale}, ${vs.mode})`)
  const variance = vs.scale / Math.max(1, n)
  switch (vs.distribution) {
    case 'uniform': { const limit = Math.sqrt(3 * variance); return rng => (2 * rng.float() - 1) * limit }
    case 'normal': case 'truncated_normal': { const s = Math.sqrt(variance); return rng => truncatedNormal(rng, 0, s) }
    case 'untruncated_normal': { const s = Math.sqrt(variance); return rng => s * rng.normal() }
    default: throw invalid(`VarianceScaling distribution ${vs.distribution} is not supported`)
  }
}

/**
 * Initial weights for a descriptor, reproducible from `seed` on any machine: each weight is drawn
 * from the initializer its layer declares (tfjs' defaults when none: Glorot-normal kernels, zero
 * biases), with this module's PRNG rather than tfjs' — same distributions, not the same numbers.
 */
export function initialWeights (descriptor: ModelDescriptor, seed: number): Float32Array {
  const info = inspectModel(descriptor)
  const layers = layersOf(descriptor.topology)
  const byName = new Map<string, Record<string, unknown>>()
  layers.forEach((l, i) => { if (l.className === 'Dense') byName.set((l.config.name as string | undefined) ?? `${l.className.toLowerCase()}_${i + 1}`, l.config) })
  const out = new Float32Array(info.parameterCount)
  info.weights.forEach((w, k) => {
    const slash = w.name.lastIndexOf('/')
    const config = byName.get(w.name.slice(0, slash))
    const isKernel = w.name.endsWith('/kernel')
    const init = (isKernel ? config?.kernel_initializer : config?.bias_initializer) as z.infer<typeof Initializer> | undefined
    const draw = sampler(init, isKernel ? 'GlorotNormal' : 'Zeros', w.shape)
    const rng = Rng.seeded(deriveSeed(seed, k))
    for (let i = 0; i < w.size; i++) out[w.offset + i] = draw(rng)
  })
  return out
}

/** The flat weight vector of a live tfjs model (`getWeights()` order, concatenated). */
export function flatWeights (model: Pick<LayersModel, 'getWeights'>): Float32Array {
  const tensors = model.getWeights()
  const total = tensors.reduce((s, t) => s + t.size, 0)
  const out = new Float32Array(total)
  let offset = 0
  for (const t of tensors) {
    out.set(t.dataSync() as Float32Array, offset)
    offset += t.size
  }
  return out
}

/**
 * Writes a flat vector into a live tfjs model. Builds the new tensors through each old weight's
 * `bufferSync().toTensor()`, so this module needs no tfjs import of its own.
 */
export function setFlatWeights (model: Pick<LayersModel, 'getWeights' | 'setWeights'>, flat: Float32Array): void {
  const old = model.getWeights()
  const total = old.reduce((s, t) => s + t.size, 0)
  if (flat.length !== total) throw invalid(`${flat.length} weights given, the model has ${total}`)
  const fresh: Tensor[] = []
  let offset = 0
  try {
    for (const t of old) {
      const buf = t.bufferSync()
      ;(buf.values as Float32Array).set(flat.subarray(offset, offset + t.size))
      offset += t.size
      fresh.push(buf.toTensor())
    }
    model.setWeights(fresh)
  } finally {
    for (const t of fresh) t.dispose()
  }
}

/** A model in tfjs' own save format: `model.json` and one `weights.bin` (little-endian float32). */
export interface TfjsFiles {
  modelJson: {
    format: 'layers-model'
    generatedBy: string
    convertedBy: null
    modelTopology: Record<string, unknown>
    weightsManifest: Array<{ paths: string[], weights: Array<{ name: string, shape: number[], dtype: 'float32' }> }>
  }
  weightsBin: Uint8Array
}

/** The files `tf.loadLayersModel('file://…/model.json')` reads, without loading tfjs here. */
export function toTfjsFiles (descriptor: ModelDescriptor, flat: Float32Array): TfjsFiles {
  const info = inspectModel(descriptor)
  if (flat.length !== info.parameterCount) throw invalid(`${flat.length} weights given, the model has ${info.parameterCount}`)
  const bytes = new Uint8Array(flat.length * 4)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < flat.length; i++) view.setFloat32(i * 4, flat[i]!, true)
  return {
    modelJson: {
      format: 'layers-model',
      generatedBy: 'plexus',
      convertedBy: null,
      modelTopology: withLayerNames(descriptor.topology),
      weightsManifest: [{ paths: ['weights.bin'], weights: info.weights.map(w => ({ name: w.name, shape: w.shape, dtype: 'float32' as const })) }]
    },
    weightsBin: bytes
  }
}
