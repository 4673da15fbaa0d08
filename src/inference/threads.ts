import { availableParallelism } from 'node:os'
import { existsSync, readFileSync } from 'node:fs'
import { z } from 'zod'
import type { LlamaModel, Token } from 'node-llama-cpp'
import { writeJsonAtomic } from '../node/json-file.js'

/**
 * Thread count for llama.cpp evaluations when the owner has not set one and nothing was measured.
 *
 * Measured on a 2-core machine (see bench/README.md): with the prebuilt node-llama-cpp binary,
 * extra threads cost far more in synchronisation than they gain, and on any machine a second
 * thread collapses as soon as another process wants a core. The rule keeps one core free for the
 * Node process on small machines and never exceeds the physical parallelism. Auto mode measures
 * instead ({@link calibrateThreads}); this rule is the fallback and the largest candidate.
 */
export function defaultThreads (cores: number = availableParallelism()): number {
  if (cores <= 2) return 1
  return Math.max(1, Math.min(cores - 1, 8))
}

/** The thread count used without a measurement: the configured one, or the default when 0. */
export function resolveThreads (configured: number, cores: number = availableParallelism()): number {
  return configured > 0 ? configured : defaultThreads(cores)
}

/**
 * Thread counts auto mode tries: 1 up to min(cores, 4), plus the static rule's count on larger
 * machines (e.g. 1, 2, 3, 4 and 7 on 8 cores).
 */
export function calibrationCandidates (cores: number = availableParallelism()): number[] {
  const small = Array.from({ length: Math.max(1, Math.min(cores, 4)) }, (_, i) => i + 1)
  return [...new Set([...small, defaultThreads(cores)])].sort((a, b) => a - b)
}

/**
 * How much faster more threads must decode to be chosen: the fewest threads within this fraction
 * of the best rate win. More threads gain little once compute is split, and lose badly when
 * anything else runs on the machine (bench/README.md, finding 6), so near-ties go to fewer.
 */
export const THREADS_TOLERANCE = 0.9

/** The fewest threads whose decode rate is at least {@link THREADS_TOLERANCE} of the best. */
export function pickThreads (rates: ReadonlyMap<number, number>, tolerance: number = THREADS_TOLERANCE): number {
  const best = Math.max(0, ...rates.values())
  const ok = [...rates].filter(([, rate]) => rate >= best * tolerance).map(([threads]) => threads)
  return ok.length > 0 ? Math.min(...ok) : 1
}

/** Settings of {@link calibrateThreads}. */
export interface CalibrationOptions {
  candidates: number[]
  /** Interleaved rounds; each candidate keeps its fastest run (default 2). */
  rounds?: number
  /** Tokens decoded per run (default 16). */
  tokens?: number
  /**
   * A run stops once it has two tokens and has lasted this long, so big models — and thread
   * counts that collapse under load, at 1–2 tok/s — stay quick (default 1500).
   */
  maxRunMs?: number
}

/** Result of {@link calibrateThreads}. */
export interface Calibration {
  threads: number
  /** Decode tokens per second by thread count (fastest run of each). */
  rates: Record<string, number>
  ms: number
}

/**
 * Measures greedy decode speed of a loaded model at each candidate thread count, each in a small
 * context of its own, and picks the count with {@link pickThreads}. Runs are interleaved over
 * rounds so that a burst of other load hits one run of several candidates rather than all runs of
 * one; the second round skips counts at under half the best rate. Costs a few hundred
 * milliseconds for small models and at most about `candidates × rounds × maxRunMs` (plus one
 * token) for slow ones.
 */
export async function calibrateThreads (model: LlamaModel, options: CalibrationOptions): Promise<Calibration> {
  const tokens = options.tokens ?? 16
  const maxRunMs = options.maxRunMs ?? 1500
  const first = (model.tokens.bos ?? model.tokenize('The')[0]) as Token | undefined
  if (first == null) return { threads: options.candidates[0] ?? 1, rates: {}, ms: 0 }
  return await calibrateWith(async (threads) => {
    const context = await model.createContext({ contextSize: Math.min(128, model.trainContextSize), sequences: 1, threads })
    try {
      let n = 0
      let t0 = 0
      let t1 = 0
      const start = performance.now()
      for await (const token of context.getSequence().evaluate([first], { temperature: 0 })) {
        void token
        t1 = performance.now()
        // The first token includes the prompt and the graph's first allocation: time from it.
        if (++n === 1) t0 = t1
        if (n >= tokens || (n >= 2 && t1 - start > maxRunMs)) break
      }
      return n > 1 && t1 > t0 ? (n - 1) / ((t1 - t0) / 1000) : null
    } finally {
      await context.dispose()
    }
  }, options)
}

/**
 * The rounds of {@link calibrateThreads} around any way of measuring one run: `measure(threads)`
 * gives a decode rate in tokens per second, or null when the run produced too little.
 */
export async function calibrateWith (measure: (threads: number) => Promise<number | null>, options: CalibrationOptions): Promise<Calibration> {
  const started = performance.now()
  const rounds = options.rounds ?? 2
  if (options.candidates.length < 2) return { threads: options.candidates[0] ?? 1, rates: {}, ms: 0 }
  const rates = new Map<number, number>()
  for (let round = 0; round < rounds; round++) {
    const best = Math.max(0, ...rates.values())
    for (const threads of options.candidates) {
      // A count at under half the best rate cannot come within reach in another round: skip it.
      if (round > 0 && (rates.get(threads) ?? 0) < best * 0.5) continue
      const rate = await measure(threads)
      if (rate != null) rates.set(threads, Math.max(rates.get(threads) ?? 0, rate))
    }
  }
  return {
    threads: pickThreads(rates),
    rates: Object.fromEntries([...rates].map(([t, r]) => [String(t), Math.round(r * 10) / 10])),
    ms: Math.round(performance.now() - started)
  }
}

const CacheSchema = z.object({
  version: z.literal(1),
  entries: z.record(z.string(), z.object({ threads: z.number().int().positive(), rates: z.record(z.string(), z.number()), measuredAt: z.string() }))
})

/** A remembered calibration. */
export type CachedCalibration = z.output<typeof CacheSchema>['entries'][string]

/**
 * Calibrations kept in the data directory (`threads.json`), one per model file (sha256), binary,
 * llama.cpp release and core count, so each is measured once. A missing or unreadable file is an
 * empty cache (it is only a cache); deleting it makes the node measure again.
 */
export class ThreadCalibrationCache {
  readonly #file: string | null
  readonly #memory = new Map<string, CachedCalibration>()

  /** @param file - where to keep calibrations; null keeps them in memory only. */
  constructor (file: string | null) {
    this.#file = file
  }

  static key (parts: { sha256: string, binary: string, llamaCpp: string, cores: number }): string {
    return `${parts.sha256}|${parts.binary}|${parts.llamaCpp}|${parts.cores}`
  }

  #read (): Record<string, CachedCalibration> {
    if (this.#file == null || !existsSync(this.#file)) return {}
    try {
      return CacheSchema.parse(JSON.parse(readFileSync(this.#file, 'utf8'))).entries
    } catch {
      return {}
    }
  }

  get (key: string): CachedCalibration | null {
    return this.#memory.get(key) ?? this.#read()[key] ?? null
  }

  set (key: string, value: CachedCalibration): void {
    this.#memory.set(key, value)
    if (this.#file == null) return
    try {
      writeJsonAtomic(this.#file, { version: 1, entries: { ...this.#read(), [key]: value } })
    } catch {
      // A cache that cannot be written only means measuring again next time.
    }
  }
}
