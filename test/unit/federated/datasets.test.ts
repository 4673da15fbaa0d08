import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  loadBreastCancer, parseSklearnCsv, checkDataset, classCounts, trainTestSplit, fitStandardizer, standardize, stratifiedSplit,
  dirichletSplit, classesPerClientSplit, loadMnist, concatDatasets, subset, BREAST_CANCER_FEATURES
} from '../../../src/federated/datasets.js'
import type { LocalDataset } from '../../../src/federated/types.js'
import { hasCode } from './fixtures.js'

/** Each row as a string (features and label), sorted: two datasets hold the same rows iff equal. */
function rowSet (parts: readonly LocalDataset[]): string[] {
  return parts.flatMap(d => Array.from({ length: d.rows }, (_, r) => `${Array.from(d.x.subarray(r * d.features, (r + 1) * d.features)).join(',')}|${d.y[r]}`)).sort()
}

describe('breast cancer CSV', () => {
  it('loads 569 rows × 30 features, 212 malignant (0) and 357 benign (1)', async () => {
    // Execute
    const { data, classNames, featureNames } = await loadBreastCancer()

    // Assert
    assert.equal(data.rows, 569)
    assert.equal(data.features, 30)
    assert.deepEqual(classNames, ['malignant', 'benign'])
    assert.deepEqual(classCounts(data), [212, 357])
    assert.equal(featureNames.length, 30)
    assert.equal(BREAST_CANCER_FEATURES[0], 'mean radius')
    assert.equal(BREAST_CANCER_FEATURES[29], 'fractal dimension worst')
    assert.ok(Math.abs(data.x[0]! - 17.99) < 1e-5) // first row, mean radius
    assert.doesNotThrow(() => checkDataset(data))
  })

  it('refuses malformed files with PLX_ERR_FL_DATA_INVALID', async () => {
    for (const [what, text] of [
      ['no header', '1,2,0\n'],
      ['row count', '2,2,a,b\n1,2,0\n'],
      ['field count', '1,2,a,b\n1,0\n'],
      ['not a number', '1,2,a,b\n1,x,0\n'],
      ['empty field', '1,2,a,b\n1,,0\n'],
      ['label out of range', '1,2,a,b\n1,2,2\n'],
      ['fractional label', '1,2,a,b\n1,2,0.5\n']
    ] as const) {
      assert.throws(() => parseSklearnCsv(text), hasCode('PLX_ERR_FL_DATA_INVALID'), what)
    }
    await assert.rejects(loadBreastCancer('/nonexistent/breast_cancer.csv'), hasCode('PLX_ERR_FL_DATA_INVALID'))
    assert.deepEqual(parseSklearnCsv('2,2,a,b\r\n1,2,0\r\n3,4.5,1\r\n').data.x, Float32Array.from([1, 2, 3, 4.5]))
  })

  it('checkDataset refuses inconsistent or non-finite data', () => {
    const ok = { x: new Float32Array(4), y: new Int32Array(2), rows: 2, features: 2 }
    assert.doesNotThrow(() => checkDataset(ok))
    for (const bad of [{ ...ok, rows: 0 }, { ...ok, rows: 3 }, { ...ok, x: new Float32Array(3) }, { ...ok, y: Int32Array.from([0, -1]) }, { ...ok, x: Float32Array.from([0, 0, Number.NaN, 0]) }, { ...ok, x: [0, 0, 0, 0] as unknown as Float32Array }]) {
      assert.throws(() => checkDataset(bad), hasCode('PLX_ERR_FL_DATA_INVALID'))
    }
  })
})

describe('splits', () => {
  it('train/test split is stratified, disjoint, complete and reproducible', async () => {
    // Prepare
    const { data } = await loadBreastCancer()

    // Execute
    const a = trainTestSplit(data, { testFraction: 0.2, seed: 4 })
    const b = trainTestSplit(data, { testFraction: 0.2, seed: 4 })
    const c = trainTestSplit(data, { testFraction: 0.2, seed: 5 })

    // Assert: round(212·0.2) = 42 and round(357·0.2) = 71 test rows
    assert.deepEqual(classCounts(a.test), [42, 71])
    assert.deepEqual(classCounts(a.train), [170, 286])
    assert.deepEqual(rowSet([a.train, a.test]), rowSet([data]))
    assert.deepEqual(a.test.x, b.test.x)
    assert.notDeepEqual(a.test.x, c.test.x)
  })

  it('standardisation is fitted on the training rows and applied to both', async () => {
    const { data } = await loadBreastCancer()
    const { train, test } = trainTestSplit(data, { testFraction: 0.2, seed: 1 })
    const s = fitStandardizer(train)
    const t = standardize(train, s)
    const again = fitStandardizer(t)
    again.mean.forEach(m => assert.ok(Math.abs(m) < 1e-5))
    again.std.forEach(v => assert.ok(Math.abs(v - 1) < 1e-5))
    const te = standardize(test, s)
    assert.ok(Math.abs(te.x[0]! - (test.x[0]! - s.mean[0]!) / s.std[0]!) < 1e-5)
    assert.equal(fitStandardizer({ x: Float32Array.from([3, 3]), y: new Int32Array(2), rows: 2, features: 1 }).std[0], 1)
  })

  it('stratified split: equal sizes and class proportions, every row once', async () => {
    const { data } = await loadBreastCancer()
    const parts = stratifiedSplit(data, 3, 1)
    const sizes = parts.map(p => p.rows)
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1)
    for (const p of parts) assert.ok(Math.abs(classCounts(p, 2)[0]! / p.rows - 212 / 569) < 0.01)
    assert.deepEqual(rowSet(parts), rowSet([data]))
    assert.deepEqual(stratifiedSplit(data, 3, 1)[2]!.x, parts[2]!.x)
  })

  it('Dirichlet split skews the labels, keeps every row once and respects minRows', async () => {
    const { data } = await loadBreastCancer()
    const parts = dirichletSplit(data, 3, { alpha: 0.5, seed: 1, minRows: 20 })
    const shares = parts.map(p => classCounts(p, 2)[0]! / p.rows)
    assert.ok(Math.max(...shares) - Math.min(...shares) > 0.3, `malignant shares ${shares.join(', ')}`)
    assert.ok(parts.every(p => p.rows >= 20))
    assert.deepEqual(rowSet(parts), rowSet([data]))
    assert.deepEqual(dirichletSplit(data, 3, { alpha: 0.5, seed: 1, minRows: 20 })[0]!.y, parts[0]!.y)
    assert.throws(() => dirichletSplit(data, 3, { alpha: 0, seed: 1 }), hasCode('PLX_ERR_FL_DATA_INVALID'))
    assert.throws(() => dirichletSplit(data, 3, { alpha: 0.5, seed: 1, minRows: 200 }), hasCode('PLX_ERR_FL_DATA_INVALID'))
  })

  it('refuses more clients than rows', () => {
    const tiny = { x: new Float32Array(2), y: Int32Array.from([0, 1]), rows: 2, features: 1 }
    assert.throws(() => stratifiedSplit(tiny, 3, 1), hasCode('PLX_ERR_FL_DATA_INVALID'))
    assert.throws(() => stratifiedSplit(tiny, 0, 1), hasCode('PLX_ERR_FL_DATA_INVALID'))
  })

  it('subset and concat keep rows and labels', () => {
    const d = { x: Float32Array.from([1, 2, 3, 4, 5, 6]), y: Int32Array.from([0, 1, 2]), rows: 3, features: 2 }
    const s = subset(d, [2, 0])
    assert.deepEqual(Array.from(s.x), [5, 6, 1, 2])
    assert.deepEqual(Array.from(s.y), [2, 0])
    assert.deepEqual(concatDatasets([s, d]).rows, 5)
  })
})

describe('MNIST', () => {
  it('loads the package\'s 10,000 digits and gives 10 clients exactly 2 classes each', async () => {
    // Execute
    const { train, test } = await loadMnist({ seed: 1 })
    const clients = classesPerClientSplit(train, 10, 2, 1)

    // Assert
    assert.equal(train.rows + test.rows, 10_000)
    assert.equal(train.features, 784)
    assert.ok(Math.abs(test.rows - 2000) <= 5)
    assert.ok(train.x.every(v => v >= 0 && v <= 1))
    const holders = new Array<number>(10).fill(0)
    for (const c of clients) {
      const present = classCounts(c, 10).flatMap((n, digit) => n > 0 ? [digit] : [])
      assert.equal(present.length, 2)
      for (const digit of present) holders[digit]!++
    }
    assert.deepEqual(holders, new Array<number>(10).fill(2))
    assert.equal(clients.reduce((s, c) => s + c.rows, 0), train.rows)
  })
})
