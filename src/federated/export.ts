import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Learning } from './learning.js'
import type { JobSpec } from './spec.js'
import { toTfjsFiles } from './model.js'

/** Writes a job's model as tfjs files (`model.json`, `weights.bin`): `tf.loadLayersModel` reads them. */
export function exportTfjsModel (learning: Learning, spec: JobSpec, weights: Float32Array, dir: string): { files: string[] } {
  const files = toTfjsFiles(learning.descriptor(spec), weights)
  const out = resolve(dir)
  mkdirSync(out, { recursive: true })
  const modelPath = join(out, 'model.json')
  const weightsPath = join(out, 'weights.bin')
  writeFileSync(weightsPath, files.weightsBin)
  writeFileSync(modelPath, JSON.stringify(files.modelJson))
  return { files: [modelPath, weightsPath] }
}
