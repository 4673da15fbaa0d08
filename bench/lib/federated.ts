/**
 * Shared pieces of the federated learning benchmarks (fl-accuracy, fl-scale): the prepared
 * datasets, centralized training with the budget of a federated run, and reading histories.
 *
 * @packageDocumentation
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadBreastCancer, loadMnist, trainTestSplit, fitStandardizer, standardize, concatDatasets } from '../../src/federated/datasets.js'
import type { LocalTrainer } from '../../src/federated/trainer.js'
import type { LocalDataset, ModelDescriptor, RoundRecord } from '../../src/federated/types.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** Breast cancer, 80/20 stratified split by `seed`, standardised with the training rows' statistics. */
export async function breastCancerSplit (seed: number): Promise<{ train: LocalDataset, test: LocalDataset }> {
  const { data } = await loadBreastCancer()
  const split = trainTestSplit(data, { testFraction: 0.2, seed })
  const s = fitStandardizer(split.train)
  return { train: standardize(split.train, s), test: standardize(split.test, s) }
}

/** MNIST (the `mnist` package's 10,000 digits), 80/20 stratified split; pixels already in [0, 1]. */
export async function mnistSplit (seed: number): Promise<{ train: LocalDataset, test: LocalDataset }> {
  return await loadMnist({ seed })
}

/**
 * Trains on the clients' pooled rows with the budget of a federated run: as many passes over the
 * data as each client made in total (rounds × local epochs), same batch size and learning rate,
 * same initial weights. Returns the test accuracy.
 */
export async function centralizedAccuracy (trainer: LocalTrainer, descriptor: ModelDescriptor, initial: Float32Array, clients: readonly LocalDataset[], test: LocalDataset,
  budget: { epochs: number, batchSize: number, learningRate: number, seed: number }): Promise<number> {
  const fit = await trainer.fit(descriptor, initial, concatDatasets(clients), { ...budget, proximalMu: 0 })
  return (await trainer.evaluate(descriptor, fit.weights, test)).accuracy
}

/** First round whose evaluation reached `target` accuracy, or null. */
export function roundsToReach (history: readonly RoundRecord[], target: number): number | null {
  return history.find(h => h.evaluation != null && h.evaluation.accuracy >= target)?.round ?? null
}

/** Writes a JSON result to `.cache/bench-results/<name>-<time>.json`; returns the path. */
export async function saveResult (name: string, result: unknown): Promise<string> {
  const dir = join(ROOT, '.cache', 'bench-results')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  await writeFile(file, JSON.stringify(result, null, 2))
  return file
}

export function log (line = ''): void {
  process.stdout.write(`${line}\n`)
}
