import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { LocalTrainer } from '../../../src/federated/trainer.js'
import { logisticRegression, mlp, initialWeights } from '../../../src/federated/model.js'
import { classCounts } from '../../../src/federated/datasets.js'
import { l2Norm } from '../../../src/federated/robust/vectors.js'
import type { TrainConfig } from '../../../src/federated/types.js'
import { hasCode, useBreastCancerTrainer } from './fixtures.js'
const CONFIG: TrainConfig = { epochs: 2, batchSize: 16, learningRate: 0.1, proximalMu: 0, seed: 1 }

const fx = useBreastCancerTrainer()

function distance (a: Float32Array, b: Float32Array): number {
  return l2Norm(a.map((v, i) => v - b[i]!))
}

describe('LocalTrainer.fit', () => {
  it('learns: the loss drops and the model classifies held-out rows', async () => {
    // Prepare
    const d = logisticRegression(30, 2)
    const w0 = initialWeights(d, 1)

    // Execute
    const before = await fx.trainer.evaluate(d, w0, fx.test)
    const fit = await fx.trainer.fit(d, w0, fx.train, { ...CONFIG, epochs: 5 })
    const afterFit = await fx.trainer.evaluate(d, fit.weights, fx.test)

    // Assert
    assert.equal(fit.numExamples, fx.train.rows)
    assert.equal(fit.weights.length, 31)
    assert.ok(fit.loss < 0.2, `loss ${fit.loss}`)
    assert.ok(afterFit.loss < before.loss)
    assert.ok(afterFit.accuracy > 0.93, `accuracy ${afterFit.accuracy}`)
    assert.deepEqual(Array.from(w0), Array.from(initialWeights(d, 1)))
  })

  it('is deterministic for a seed (dropout included) and differs across seeds', async () => {
    // Prepare
    const d = mlp(30, [8], 2, { dropout: 0.3 })
    const w0 = initialWeights(d, 2)

    // Execute
    const a = await fx.trainer.fit(d, w0, fx.train, CONFIG)
    const b = await fx.trainer.fit(d, w0, fx.train, CONFIG)
    const c = await fx.trainer.fit(d, w0, fx.train, { ...CONFIG, seed: 2 })
    const fresh = new LocalTrainer()
    const e = await fresh.fit(d, w0, fx.train, CONFIG)
    await fresh.close()

    // Assert
    assert.deepEqual(a.weights, b.weights)
    assert.equal(a.loss, b.loss)
    assert.deepEqual(a.weights, e.weights)
    assert.notDeepEqual(a.weights, c.weights)
  })

  it('FedProx: a proximal term μ keeps the local model nearer the global one', async () => {
    // Prepare
    const d = logisticRegression(30, 2)
    const w0 = initialWeights(d, 3)

    // Execute
    const plain = await fx.trainer.fit(d, w0, fx.train, { ...CONFIG, epochs: 3 })
    const prox = await fx.trainer.fit(d, w0, fx.train, { ...CONFIG, epochs: 3, proximalMu: 1 })
    const strong = await fx.trainer.fit(d, w0, fx.train, { ...CONFIG, epochs: 3, proximalMu: 5 })

    // Assert
    const [dp, dq, ds] = [plain, prox, strong].map(f => distance(f.weights, w0))
    assert.ok(dq! < 0.8 * dp!, `‖Δ‖ ${dq} vs ${dp}`)
    assert.ok(ds! < dq!, `‖Δ‖ ${ds} vs ${dq}`)
    assert.ok(Number.isFinite(prox.loss) && prox.loss > plain.loss)
  })

  it('trains a softmax model on multi-class labels', async () => {
    // Prepare: three classes from the breast cancer rows (label + a feature sign)
    const y = Int32Array.from(fx.train.y, (v, i) => v === 1 ? 1 : (fx.train.x[i * 30]! > 1 ? 2 : 0))
    const data = { ...fx.train, y }
    const d = mlp(30, [8], 3)

    // Execute
    const fit = await fx.trainer.fit(d, initialWeights(d, 1), data, { ...CONFIG, epochs: 10 })
    const ev = await fx.trainer.evaluate(d, fit.weights, data)

    // Assert
    assert.equal(classCounts(data).length, 3)
    assert.ok(ev.accuracy > 0.8, `accuracy ${ev.accuracy}`)
  })

  it('keeps the event loop free while it trains', async () => {
    // Prepare
    const d = mlp(30, [32], 2)
    let settled = false

    // Execute: the fit runs in the worker, so a setImmediate turn comes before it ends
    const fit = fx.trainer.fit(d, initialWeights(d, 1), fx.train, { ...CONFIG, epochs: 20 }).finally(() => { settled = true })
    await new Promise(resolve => setImmediate(resolve))

    // Assert
    assert.equal(settled, false)
    await fit
  })
})

describe('LocalTrainer.evaluate', () => {
  it('gives log 2 and the share of class 0 for an all-zero logistic model', async () => {
    const ev = await fx.trainer.evaluate(logisticRegression(30, 2), new Float32Array(31), fx.test)
    assert.ok(Math.abs(ev.loss - Math.log(2)) < 1e-6)
    assert.equal(ev.accuracy, classCounts(fx.test, 2)[0]! / fx.test.rows)
    assert.equal(ev.numExamples, fx.test.rows)
  })
})

describe('LocalTrainer errors', () => {
  it('refuses bad weights, data and settings before training', async () => {
    const d = logisticRegression(30, 2)
    const w = initialWeights(d, 1)
    await assert.rejects(fx.trainer.fit(d, new Float32Array(30), fx.train, CONFIG), hasCode('PLX_ERR_FL_MODEL_INVALID'))
    await assert.rejects(fx.trainer.fit(d, Float32Array.from(w, (v, i) => i === 3 ? Number.NaN : v), fx.train, CONFIG), hasCode('PLX_ERR_FL_MODEL_INVALID'))
    await assert.rejects(fx.trainer.fit(logisticRegression(29, 2), new Float32Array(30), fx.train, CONFIG), hasCode('PLX_ERR_FL_DATA_INVALID'))
    await assert.rejects(fx.trainer.fit(d, w, { ...fx.train, y: fx.train.y.map(v => v + 1) }, CONFIG), hasCode('PLX_ERR_FL_DATA_INVALID'))
    for (const bad of [{ ...CONFIG, epochs: 0 }, { ...CONFIG, batchSize: 1.5 }, { ...CONFIG, learningRate: -1 }, { ...CONFIG, proximalMu: -0.1 }, { ...CONFIG, seed: -1 }, { ...CONFIG, extra: 1 }]) {
      await assert.rejects(fx.trainer.fit(d, w, fx.train, bad), hasCode('PLX_ERR_FL_CONFIG_INVALID'), JSON.stringify(bad))
    }
    await assert.rejects(fx.trainer.evaluate({ topology: { class_name: 'Model' }, loss: 'binaryCrossentropy' }, w, fx.test), hasCode('PLX_ERR_FL_MODEL_INVALID'))
  })

  it('an aborted fit stops the worker; the next call starts a fresh one', async () => {
    // Prepare
    const d = mlp(30, [64], 2)
    const w = initialWeights(d, 1)
    const controller = new AbortController()

    // Execute
    const long = fx.trainer.fit(d, w, fx.train, { ...CONFIG, epochs: 500 }, { signal: controller.signal })
    await new Promise(resolve => setTimeout(resolve, 50))
    controller.abort()

    // Assert
    await assert.rejects(long, hasCode('PLX_ERR_ABORTED'))
    await assert.rejects(fx.trainer.fit(d, w, fx.train, CONFIG, { signal: AbortSignal.abort() }), hasCode('PLX_ERR_ABORTED'))
    const ok = await fx.trainer.fit(d, w, fx.train, CONFIG)
    assert.equal(ok.weights.length, w.length)
  })

  it('a closed fx.trainer refuses work', async () => {
    const t = await LocalTrainer.create()
    await t.close()
    const d = logisticRegression(30, 2)
    await assert.rejects(t.fit(d, initialWeights(d, 1), fx.train, CONFIG), hasCode('PLX_ERR_FL_TRAINING'))
  })
})
