/**
 * The diabetes data of Efron et al. (2004) as shipped with scikit-learn (see datasets/README.md):
 * 442 patients, 10 baseline variables in their original units, and a measure of disease
 * progression one year later. Used by the federated statistics tests, demo and benchmark.
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs'
import { PlexusError } from '../errors.js'

/** Compiled code runs from dist/src/analytics/, three levels below the repository root. */
export const DIABETES_DATA = new URL('../../../datasets/diabetes_data_raw.csv', import.meta.url)
export const DIABETES_TARGET = new URL('../../../datasets/diabetes_target.csv', import.meta.url)

/** Column names, in file order (scikit-learn's names; s1…s6 are blood serum measurements). */
export const DIABETES_COLUMNS = ['age', 'sex', 'bmi', 'bp', 's1', 's2', 's3', 's4', 's5', 's6'] as const

export interface DiabetesData {
  /** One object per patient: the 10 variables and `progression` (the target). */
  rows: Array<Record<(typeof DIABETES_COLUMNS)[number] | 'progression', number>>
}

function numbers (text: string, what: string): number[][] {
  return text.split('\n').filter(l => l.trim() !== '').map((line, i) => line.trim().split(/\s+/).map(v => {
    const n = Number(v)
    if (!Number.isFinite(n)) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`${what} line ${i + 1}: '${v.slice(0, 20)}' is not a number`])
    return n
  }))
}

/** Reads the two files (space-separated, no header). */
export function loadDiabetes (data: URL | string = DIABETES_DATA, target: URL | string = DIABETES_TARGET): DiabetesData {
  const x = numbers(readFileSync(data, 'utf8'), 'diabetes data')
  const y = numbers(readFileSync(target, 'utf8'), 'diabetes target')
  if (x.length !== y.length) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`diabetes data has ${x.length} rows but the target ${y.length}`])
  const rows = x.map((r, i) => {
    if (r.length !== DIABETES_COLUMNS.length || y[i]!.length !== 1) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`diabetes line ${i + 1} has the wrong number of values`])
    const o = { progression: y[i]![0]! } as DiabetesData['rows'][number]
    DIABETES_COLUMNS.forEach((c, j) => { o[c] = r[j]! })
    return o
  })
  return { rows }
}
