import { collectOutput } from './child.js'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { access, constants } from 'node:fs/promises'
import { join } from 'node:path'
import { cpuMeter } from './cpu-meter.js'

/** One llama-bench decode run. */
export interface LlamaBenchOptions {
  binary: string
  model: string
  threads: number
  /** Tokens generated (`-n`). */
  tokens?: number
  /** Repetitions (`-r`). */
  reps?: number
  /** Extra environment (e.g. `OMP_WAIT_POLICY`). */
  env?: Record<string, string>
  /** Extra arguments (e.g. `['-fa', 'off']`). */
  args?: string[]
}

/** Result of {@link runLlamaBench}. */
export interface LlamaBenchResult {
  /** Mean decode tokens per second reported by llama-bench (`avg_ts`). */
  tps: number
  /** Standard deviation reported by llama-bench (`stddev_ts`). */
  stddev: number
  /** Cores used by other processes while it ran (noise indicator), or null. */
  cpuForeign: number | null
}

/** Builds output of scripts/build-llama-bench.sh: where the binary is and how long it took. */
export interface LlamaBenchBuild {
  binary: string
  /** Seconds spent building, 0 when the cached binary was reused. */
  buildS: number
}

/**
 * Returns the cached `llama-bench` binary, building it first (several minutes on 2 cores) from
 * the llama.cpp source bundle node-llama-cpp ships. Build logs go to this process's stderr.
 *
 * @param root - repository root
 * @param variant - build folder name under `.cache/llama-bench/`
 * @param cmakeArgs - extra cmake arguments for that variant (e.g. `-DGGML_OPENMP=OFF`)
 */
export async function ensureLlamaBench (root: string, variant = 'native', cmakeArgs: string[] = []): Promise<LlamaBenchBuild> {
  const binary = join(root, '.cache', 'llama-bench', variant, 'bin', 'llama-bench')
  try {
    await access(binary, constants.X_OK)
    return { binary, buildS: 0 }
  } catch {}
  const t0 = performance.now()
  const child = spawn('bash', [join(root, 'scripts', 'build-llama-bench.sh'), variant, ...cmakeArgs], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const { code, out } = await collectOutput(child)
  if (code !== 0) throw new Error(`scripts/build-llama-bench.sh failed with exit code ${String(code)}`)
  const built = out.trim().split('\n').pop() ?? binary
  return { binary: built, buildS: (performance.now() - t0) / 1000 }
}

/** Reads the CPU seconds used by a running process from /proc (0 once it has exited). */
export function processCpuSeconds (pid: number | undefined): number {
  if (pid == null) return 0
  try {
    // Fields 14 and 15 of /proc/PID/stat (utime, stime) in clock ticks, after the `(comm)` field.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

/**
 * Runs `llama-bench -p 0 -n N -t T -r R -o json` on one model and parses the decode rate.
 *
 * @param o - binary, model, threads and repetition settings
 * @param signal - aborts the run
 */
export async function runLlamaBench (o: LlamaBenchOptions, signal?: AbortSignal): Promise<LlamaBenchResult> {
  const args = ['-m', o.model, '-p', '0', '-n', String(o.tokens ?? 128), '-t', String(o.threads),
    '-r', String(o.reps ?? 3), '-o', 'json', ...(o.args ?? [])]
  const child = spawn(o.binary, args, { env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'], signal })
  // Sample the child's CPU time while it runs: /proc/PID disappears once it has been reaped, so
  // the last ~100 ms are missed (a small overestimate of the foreign load).
  let lastCpu = 0
  const sampler = setInterval(() => { lastCpu = Math.max(lastCpu, processCpuSeconds(child.pid)) }, 100)
  const meter = cpuMeter(() => lastCpu)
  const { code, out, err } = await collectOutput(child)
  clearInterval(sampler)
  const use = meter.stop()
  if (code !== 0) throw new Error(`llama-bench failed (exit ${String(code)}): ${err.trim().slice(-2000)}`)
  const rows = JSON.parse(out) as Array<{ n_gen: number, avg_ts: number, stddev_ts: number }>
  const row = rows.find((r) => r.n_gen > 0)
  if (row == null) throw new Error('llama-bench printed no generation result')
  return { tps: row.avg_ts, stddev: row.stddev_ts, cpuForeign: use.foreign }
}
