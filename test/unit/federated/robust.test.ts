import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  createAggregator, weightedMeanAggregator, normBoundingAggregator, medianAggregator, trimmedMeanAggregator,
  krumAggregator, multiKrumAggregator, krumScores
} from '../../../src/federated/robust/index.js'
import { selectKth } from '../../../src/federated/robust/vectors.js'
import { Rng } from '../../../src/federated/dp/rng.js'
import type { ClientUpdate } from '../../../src/federated/types.js'
import { assertClose as close, hasCode } from './fixtures.js'

const u = (values: number[], numExamples = 1, clientId = `c${values.join('_')}`): ClientUpdate => ({ clientId, numExamples, update: Float32Array.from(values) })

describe('aggregators on hand-made vectors', () => {
  it('weighted mean weighs by examples', () => {
    close(weightedMeanAggregator().aggregate([u([1, 2], 1), u([3, 6], 3)]), [2.5, 5])
  })

  it('norm bounding clips each update, then takes the weighted mean', () => {
    // [3, 4] has norm 5 → [0.6, 0.8]; [0.3, 0.4] is within the bound
    close(normBoundingAggregator(1).aggregate([u([3, 4]), u([0.3, 0.4])]), [0.45, 0.6])
  })

  it('coordinate-wise median, odd and even counts, ignores weights', () => {
    close(medianAggregator().aggregate([u([1, 10], 100), u([2, 20]), u([100, -5])]), [2, 10])
    close(medianAggregator().aggregate([u([1]), u([3]), u([5]), u([7])]), [4])
  })

  it('trimmed mean drops ⌊β·n⌋ from each end per coordinate', () => {
    const updates = [u([1, -100]), u([2, 2]), u([3, 3]), u([4, 4]), u([100, 5])]
    close(trimmedMeanAggregator(0.2).aggregate(updates), [3, 3])
    close(trimmedMeanAggregator(0).aggregate(updates), [22, -17.2], 1e-5)
    close(trimmedMeanAggregator(0.19).aggregate(updates), [22, -17.2], 1e-5) // ⌊0.95⌋ = 0
  })

  it('Krum picks the most central update; Multi-Krum averages the n − f best', () => {
    // Four corners of a unit square and an outlier; f = 1, each corner's two nearest are at 1
    const updates = [u([100, 100]), u([0, 0]), u([1, 0]), u([0, 1]), u([1, 1])]
    const scores = krumScores(updates, 1)
    assert.deepEqual(Array.from(scores.subarray(1)), [2, 2, 2, 2])
    assert.ok(scores[0]! > 10_000)
    close(krumAggregator(1).aggregate(updates), [0, 0])
    close(multiKrumAggregator(1).aggregate(updates), [0.5, 0.5])
    close(multiKrumAggregator(1, 2).aggregate(updates), [0.5, 0])
  })

  it('median and trimmed mean agree with sorting on random columns, ties included', () => {
    // Prepare
    const rng = Rng.seeded(11)
    for (let t = 0; t < 300; t++) {
      const n = 1 + rng.int(40)
      const values = Array.from({ length: n }, () => Math.fround(rng.int(3) === 0 ? rng.int(4) : rng.normal()))
      const sorted = [...values].sort((a, b) => a - b)
      const beta = rng.float() * 0.49
      const trim = Math.floor(beta * n)
      const kept = sorted.slice(trim, n - trim)
      const updates = values.map(v => u([v]))

      // Execute
      const median = medianAggregator().aggregate(updates)[0]!
      const trimmed = trimmedMeanAggregator(beta).aggregate(updates)[0]!
      const k = rng.int(n)
      const column = Float64Array.from(values)
      selectKth(column, k)

      // Assert
      const mid = n >> 1
      assert.equal(median, Math.fround(n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2))
      assert.ok(Math.abs(trimmed - kept.reduce((a, b) => a + b, 0) / kept.length) < 1e-6)
      assert.equal(column[k], sorted[k])
      assert.ok(column.subarray(0, k).every(v => v <= sorted[k]!) && column.subarray(k + 1).every(v => v >= sorted[k]!))
    }
  })

  it('leaves its inputs alone', () => {
    const updates = [u([1, 2], 2), u([3, -4], 1), u([5, 6], 1), u([0, 0], 1), u([9, 9], 1)]
    const before = updates.map(x => Array.from(x.update))
    for (const a of [weightedMeanAggregator(), normBoundingAggregator(1), medianAggregator(), trimmedMeanAggregator(0.2), krumAggregator(1), multiKrumAggregator(1)]) {
      const out = a.aggregate(updates)
      assert.ok(!updates.some(x => x.update === out), a.name)
    }
    assert.deepEqual(updates.map(x => Array.from(x.update)), before)
  })
})

describe('aggregator checks', () => {
  it('needsIndividualUpdates is false only for the weighted mean', () => {
    assert.equal(createAggregator({ rule: 'mean' }).needsIndividualUpdates, false)
    for (const spec of [{ rule: 'norm-bound', maxNorm: 1 }, { rule: 'median' }, { rule: 'trimmed-mean', beta: 0.1 }, { rule: 'krum', byzantine: 1 }, { rule: 'multi-krum', byzantine: 1, keep: 2 }]) {
      assert.equal(createAggregator(spec).needsIndividualUpdates, true, spec.rule)
    }
  })

  it('Krum needs n ≥ 2f + 3 updates', () => {
    const four = [u([0]), u([1]), u([2]), u([3])]
    assert.throws(() => krumAggregator(1).aggregate(four), hasCode('PLX_ERR_FL_AGGREGATION'))
    assert.doesNotThrow(() => krumAggregator(1).aggregate([...four, u([4])]))
  })

  it('refuses no updates, mixed lengths, non-finite values and bad example counts', () => {
    for (const a of [weightedMeanAggregator(), medianAggregator(), trimmedMeanAggregator(0.1)]) {
      assert.throws(() => a.aggregate([]), hasCode('PLX_ERR_FL_AGGREGATION'))
      assert.throws(() => a.aggregate([u([1, 2]), u([1])]), hasCode('PLX_ERR_FL_UPDATE_INVALID'))
      assert.throws(() => a.aggregate([u([1, Number.NaN])]), hasCode('PLX_ERR_FL_UPDATE_INVALID'))
      assert.throws(() => a.aggregate([u([1, Number.POSITIVE_INFINITY])]), hasCode('PLX_ERR_FL_UPDATE_INVALID'))
      assert.throws(() => a.aggregate([u([1], 0)]), hasCode('PLX_ERR_FL_UPDATE_INVALID'))
      assert.throws(() => a.aggregate([u([1], 1.5)]), hasCode('PLX_ERR_FL_UPDATE_INVALID'))
    }
  })

  it('createAggregator refuses bad specs', () => {
    for (const bad of [{ rule: 'mode' }, { rule: 'trimmed-mean', beta: 0.5 }, { rule: 'trimmed-mean' }, { rule: 'krum', byzantine: -1 }, { rule: 'krum', byzantine: 1.5 }, { rule: 'norm-bound', maxNorm: 0 }, { rule: 'mean', x: 1 }, undefined]) {
      assert.throws(() => createAggregator(bad), hasCode('PLX_ERR_FL_CONFIG_INVALID'), JSON.stringify(bad))
    }
  })
})
