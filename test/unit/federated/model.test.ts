import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs'
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm'
import {
  logisticRegression, mlp, initialWeights, inspectModel, parameterCount, validateTopology, flatWeights, setFlatWeights, toTfjsFiles,
  checkDataFitsModel, MAX_PARAMETERS
} from '../../../src/federated/model.js'
import type { ModelDescriptor } from '../../../src/federated/types.js'
import { hasCode } from './fixtures.js'

before(async () => {
  setThreadsCount(1)
  await tf.setBackend('wasm')
})

async function build (descriptor: ModelDescriptor): Promise<tf.LayersModel> {
  return await tf.models.modelFromJSON(descriptor.topology as unknown as Parameters<typeof tf.models.modelFromJSON>[0])
}

describe('templates', () => {
  it('logistic regression: one sigmoid unit for two classes, a softmax for more', () => {
    // Execute
    const binary = logisticRegression(30, 2)
    const multi = logisticRegression(784, 10)

    // Assert
    assert.equal(binary.loss, 'binaryCrossentropy')
    assert.equal(parameterCount(binary), 31)
    assert.equal(multi.loss, 'sparseCategoricalCrossentropy')
    assert.equal(parameterCount(multi), 7850)
    assert.deepEqual(inspectModel(multi).weights.map(w => [w.name, w.shape, w.offset]), [['dense_1/kernel', [784, 10], 0], ['dense_1/bias', [10], 7840]])
  })

  it('MLP: hidden layers, dropout, parameter count', () => {
    const d = mlp(30, [16, 8], 3, { dropout: 0.2 })
    assert.equal(parameterCount(d), 30 * 16 + 16 + 16 * 8 + 8 + 8 * 3 + 3)
    assert.equal(inspectModel(d).classes, 3)
    assert.throws(() => mlp(30, [0], 2), hasCode('PLX_ERR_FL_MODEL_INVALID'))
    assert.throws(() => mlp(30, [16], 1), hasCode('PLX_ERR_FL_MODEL_INVALID'))
    assert.throws(() => mlp(4096, [4096, 4096], 2), hasCode('PLX_ERR_FL_MODEL_INVALID'))
  })

  it('tfjs builds them, with weights in the flat order inspectModel derives', async () => {
    for (const d of [logisticRegression(30, 2), mlp(12, [5, 4], 3, { dropout: 0.1 })]) {
      // Execute
      const model = await build(d)
      const info = inspectModel(d)

      // Assert
      assert.deepEqual(model.weights.map(w => [w.originalName, w.shape]), info.weights.map(w => [w.name, w.shape]))
      assert.equal(model.countParams(), info.parameterCount)
      assert.equal(parameterCount(model), info.parameterCount)
      model.dispose()
    }
  })
})

describe('initial weights', () => {
  it('are reproducible from the seed and differ between seeds', () => {
    const d = mlp(30, [16], 2)
    assert.deepEqual(initialWeights(d, 7), initialWeights(d, 7))
    assert.notDeepEqual(initialWeights(d, 7), initialWeights(d, 8))
  })

  it('follow the declared initializers: Glorot-uniform kernels within ±√(6/(in+out)), zero biases', () => {
    const d = mlp(30, [16], 2)
    const w = initialWeights(d, 1)
    const [k1, b1, k2] = inspectModel(d).weights
    const limit1 = Math.sqrt(6 / (30 + 16))
    const kernel = w.subarray(k1!.offset, k1!.offset + k1!.size)
    assert.ok(kernel.every(v => Math.abs(v) <= limit1))
    assert.ok(Math.max(...kernel) > 0.8 * limit1 && Math.min(...kernel) < -0.8 * limit1)
    assert.ok(w.subarray(b1!.offset, b1!.offset + b1!.size).every(v => v === 0))
    assert.ok(w.subarray(k2!.offset, k2!.offset + k2!.size).some(v => v !== 0))
  })

  it('honour other initializers and refuse unknown ones', () => {
    const topology = (init: Record<string, unknown>): ModelDescriptor => ({
      topology: { class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', config: { units: 1, activation: 'sigmoid', batch_input_shape: [null, 4], kernel_initializer: init, bias_initializer: { class_name: 'Constant', config: { value: 0.5 } } } }] } },
      loss: 'binaryCrossentropy'
    })
    assert.deepEqual(Array.from(initialWeights(topology({ class_name: 'Ones', config: {} }), 1)), [1, 1, 1, 1, 0.5])
    const he = initialWeights(topology({ class_name: 'VarianceScaling', config: { scale: 2, mode: 'fan_in', distribution: 'truncated_normal' } }), 1)
    assert.ok(he.subarray(0, 4).every(v => Math.abs(v) <= 2 * Math.sqrt(2 / 4)))
    assert.throws(() => initialWeights(topology({ class_name: 'Orthogonal', config: {} }), 1), hasCode('PLX_ERR_FL_MODEL_INVALID'))
  })
})

describe('flat weights and tfjs', () => {
  it('setFlatWeights then flatWeights gives the vector back, and predictions use it', async () => {
    // Prepare
    const d = logisticRegression(3, 2)
    const model = await build(d)
    const flat = Float32Array.from([1, -2, 0.5, 0.25])

    // Execute
    setFlatWeights(model, flat)
    const back = flatWeights(model)
    const p = (model.predict(tf.tensor2d([[1, 1, 1]])) as tf.Tensor).dataSync()[0]!

    // Assert: sigmoid(1 − 2 + 0.5 + 0.25)
    assert.deepEqual(back, flat)
    assert.ok(Math.abs(p - 1 / (1 + Math.exp(0.25))) < 1e-6)
    assert.throws(() => setFlatWeights(model, new Float32Array(3)), hasCode('PLX_ERR_FL_MODEL_INVALID'))
    model.dispose()
  })

  it('toTfjsFiles writes a model tfjs loads with the same weights', async () => {
    // Prepare
    const d = mlp(6, [4], 3)
    const w = initialWeights(d, 3)
    const files = toTfjsFiles(d, w)

    // Execute
    const model = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: files.modelJson.modelTopology,
      weightSpecs: files.modelJson.weightsManifest[0]!.weights,
      weightData: files.weightsBin.buffer.slice(files.weightsBin.byteOffset, files.weightsBin.byteOffset + files.weightsBin.byteLength) as ArrayBuffer
    }))

    // Assert
    assert.deepEqual(flatWeights(model), w)
    assert.equal(files.weightsBin.byteLength, w.length * 4)
    model.dispose()
  })
})

describe('validateTopology', () => {
  it('accepts what tf.sequential().toJSON() gives, names unnamed layers and infers the loss', async () => {
    // Prepare
    const model = tf.sequential({ layers: [tf.layers.reshape({ inputShape: [8], targetShape: [2, 4] }), tf.layers.flatten(), tf.layers.dense({ units: 5, activation: 'relu' }), tf.layers.dropout({ rate: 0.1 }), tf.layers.dense({ units: 3 }), tf.layers.activation({ activation: 'softmax' })] })
    const json = model.toJSON(null, false) as Record<string, unknown>
    const unnamed = { class_name: 'Sequential', config: [{ class_name: 'Dense', config: { units: 1, activation: 'sigmoid', input_dim: 4 } }] }

    // Execute
    const d = validateTopology(json, 8, 3)
    const u = validateTopology(unnamed, 4, 2)

    // Assert
    assert.equal(d.loss, 'sparseCategoricalCrossentropy')
    assert.equal(parameterCount(d), model.countParams())
    assert.equal(u.loss, 'binaryCrossentropy')
    assert.deepEqual(inspectModel(u).weights.map(w => w.name), ['dense_1/kernel', 'dense_1/bias'])
    const rebuilt = await build(u)
    assert.deepEqual(rebuilt.weights.map(w => w.originalName), ['dense_1/kernel', 'dense_1/bias'])
    model.dispose()
    rebuilt.dispose()
  })

  it('refuses what it cannot train, each with PLX_ERR_FL_MODEL_INVALID', () => {
    const dense = (config: Record<string, unknown>): Record<string, unknown> => ({ class_name: 'Dense', config: { units: 1, activation: 'sigmoid', batch_input_shape: [null, 4], ...config } })
    const seq = (...layers: Array<Record<string, unknown>>): Record<string, unknown> => ({ class_name: 'Sequential', config: { layers } })
    const cases: Array<[string, unknown, number, number]> = [
      ['not an object', 'model', 4, 2],
      ['functional model', { class_name: 'Model', config: { layers: [] } }, 4, 2],
      ['no layers', seq(), 4, 2],
      ['unsupported layer', seq({ class_name: 'Conv2D', config: { filters: 2 } }), 4, 2],
      ['regularizer', seq(dense({ kernel_regularizer: { class_name: 'L1L2', config: { l1: 0.1 } } })), 4, 2],
      ['unknown activation', seq(dense({ activation: 'gelu_fancy' })), 4, 2],
      ['unknown key', seq(dense({ surprise: true })), 4, 2],
      ['no input shape', seq({ class_name: 'Dense', config: { units: 1, activation: 'sigmoid' } }), 4, 2],
      ['binary output without sigmoid', seq(dense({ activation: 'relu' })), 4, 2],
      ['feature mismatch', seq(dense({})), 5, 2],
      ['class mismatch', seq(dense({ units: 3, activation: 'softmax' })), 4, 4],
      ['Dense on a 2-D input', seq({ class_name: 'Reshape', config: { target_shape: [2, 2], batch_input_shape: [null, 4] } }, { class_name: 'Dense', config: { units: 2, activation: 'softmax' } }), 4, 2],
      ['impossible reshape', seq({ class_name: 'Reshape', config: { target_shape: [3, -1], batch_input_shape: [null, 4] } }, { class_name: 'Flatten', config: {} }, { class_name: 'Dense', config: { units: 1, activation: 'sigmoid' } }), 4, 2],
      ['duplicate names', seq(dense({ name: 'a', units: 4, activation: 'relu' }), { class_name: 'Dense', config: { units: 1, activation: 'sigmoid', name: 'a' } }), 4, 2],
      ['too many parameters', seq(dense({ units: 60_000, activation: 'relu', batch_input_shape: [null, 200] }), { class_name: 'Dense', config: { units: 1, activation: 'sigmoid' } }), 200, 2],
      ['too many layers', seq(...Array.from({ length: 65 }, (_, i) => i === 0 ? dense({ units: 4, activation: 'relu' }) : { class_name: 'Dropout', config: { rate: 0.1 } })), 4, 2]
    ]
    for (const [what, topology, features, classes] of cases) {
      assert.throws(() => validateTopology(topology, features, classes), hasCode('PLX_ERR_FL_MODEL_INVALID'), what)
    }
    assert.ok(60_000 * 201 > MAX_PARAMETERS)
  })

  it('checkDataFitsModel refuses other feature counts and labels out of range', () => {
    const d = logisticRegression(2, 2)
    const data = { x: new Float32Array(4), y: Int32Array.from([0, 1]), rows: 2, features: 2 }
    assert.doesNotThrow(() => checkDataFitsModel(d, data))
    assert.throws(() => checkDataFitsModel(d, { ...data, y: Int32Array.from([0, 2]) }), hasCode('PLX_ERR_FL_DATA_INVALID'))
    assert.throws(() => checkDataFitsModel(logisticRegression(3, 2), data), hasCode('PLX_ERR_FL_DATA_INVALID'))
  })
})
