/** Shared set-up of the federated learning tests. */
import assert from 'node:assert/strict'
import { before, after } from 'node:test'
import { isPlexusError } from '../../../src/errors.js'
import { loadBreastCancer, trainTestSplit, fitStandardizer, standardize } from '../../../src/federated/datasets.js'
import { LocalTrainer } from '../../../src/federated/trainer.js'
import type { LocalDataset } from '../../../src/federated/types.js'

/** An assert.throws / assert.rejects validator: a PlexusError with this code. */
export const hasCode = (code: string) => (err: unknown): boolean => isPlexusError(err) && err.code === code

/** Breast cancer, 80/20 stratified split, standardised with the training rows' statistics. */
export async function breastCancer (seed = 1): Promise<{ train: LocalDataset, test: LocalDataset }> {
  const { data } = await loadBreastCancer()
  const split = trainTestSplit(data, { testFraction: 0.2, seed })
  const s = fitStandardizer(split.train)
  return { train: standardize(split.train, s), test: standardize(split.test, s) }
}

/** Asserts `actual` ≈ `expected` element-wise, within `tol` × max(1, |expected|). */
export function assertClose (actual: ArrayLike<number>, expected: readonly number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length)
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i]! - e) <= tol * Math.max(1, Math.abs(e)), `[${i}] ${actual[i]} ≠ ${e}`))
}

/** The breast cancer split and a trainer for the tests of one file (set up before, closed after). */
export function useBreastCancerTrainer (): { train: LocalDataset, test: LocalDataset, trainer: LocalTrainer } {
  const fx = {} as { train: LocalDataset, test: LocalDataset, trainer: LocalTrainer }
  before(async () => {
    Object.assign(fx, await breastCancer())
    fx.trainer = await LocalTrainer.create()
  })
  after(async () => {
    await fx.trainer.close()
  })
  return fx
}
