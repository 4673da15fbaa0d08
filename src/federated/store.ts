/**
 * What a coordinator keeps on disk so that a restarted node resumes a job from its last completed
 * round: the spec, the roster, the global weights after that round, the optimiser and accountant
 * state, and the history. Written atomically after every round.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { readJsonFile, writeJsonAtomic } from '../node/json-file.js'
import type { JobSpec } from './spec.js'
import type { RoundRecord } from './types.js'

export const JOB_STATUSES = ['inviting', 'running', 'completed', 'failed', 'stopped'] as const
export type JobStatus = (typeof JOB_STATUSES)[number]

const RoundRecordSchema = z.object({
  round: z.number(),
  startedAt: z.string(),
  finishedAt: z.string(),
  selected: z.array(z.string()),
  contributed: z.array(z.string()),
  dropped: z.array(z.string()),
  trainLoss: z.number().nullable(),
  evaluation: z.object({ loss: z.number(), accuracy: z.number(), numExamples: z.number() }).nullable(),
  epsilon: z.number().nullable(),
  aborted: z.string().optional()
})

export const JobStateSchema = z.object({
  id: z.string(),
  spec: z.record(z.string(), z.unknown()),
  status: z.enum(JOB_STATUSES),
  reason: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Last completed round (0 before the first). */
  round: z.number().int(),
  parameters: z.number().int(),
  roster: z.array(z.string()),
  pending: z.array(z.string()),
  declined: z.array(z.object({ peer: z.string(), reason: z.string() })),
  strategyState: z.record(z.string(), z.union([z.number(), z.array(z.number())])),
  accountant: z.object({ steps: z.array(z.object({ q: z.number(), sigma: z.number() })) }),
  epsilon: z.number().nullable(),
  history: z.array(RoundRecordSchema)
})
export type JobState = Omit<z.output<typeof JobStateSchema>, 'spec' | 'history'> & { spec: JobSpec, history: RoundRecord[] }

export class CoordinatorStore {
  readonly #dir: string

  constructor (dir: string) {
    this.#dir = dir
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  }

  #jobDir (id: string): string { return join(this.#dir, id) }

  save (state: JobState, weights?: Float32Array): void {
    const dir = this.#jobDir(state.id)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    if (weights != null) {
      // Weights of the new round first, then the state that points at them: a crash in between
      // leaves the previous state and its weights intact.
      const tmp = join(dir, 'global.bin.tmp')
      writeFileSync(tmp, Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength), { mode: 0o600 })
      renameSync(tmp, join(dir, `global-${state.round}.bin`))
    }
    writeJsonAtomic(join(dir, 'state.json'), { ...state, updatedAt: new Date().toISOString() }, 0o600)
    // Only the state's round matters from now on; older weight files can go.
    if (weights != null) {
      for (const f of readdirSync(dir)) {
        const m = /^global-(\d+)\.bin$/.exec(f)
        if (m != null && Number(m[1]) !== state.round) rmSync(join(dir, f), { force: true })
      }
    }
  }

  load (id: string): { state: JobState, weights: Float32Array | null } | null {
    const file = join(this.#jobDir(id), 'state.json')
    if (!existsSync(file)) return null
    const state = readJsonFile(file, JobStateSchema, null as never) as unknown as JobState
    const wfile = join(this.#jobDir(id), `global-${state.round}.bin`)
    if (!existsSync(wfile)) return { state, weights: null }
    const buf = readFileSync(wfile)
    const weights = new Float32Array(buf.length / 4)
    new Uint8Array(weights.buffer).set(buf)
    return { state, weights }
  }

  ids (): string[] {
    if (!existsSync(this.#dir)) return []
    return readdirSync(this.#dir, { withFileTypes: true }).filter(d => d.isDirectory()).map(d => d.name)
  }

  dirOf (id: string): string { return this.#jobDir(id) }
}
