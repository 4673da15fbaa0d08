/**
 * Investigation benchmark: why node-llama-cpp decodes slower than llama-bench with more than
 * one thread, and which binary, options and environment fix it. Each configuration runs in a
 * fresh process; the table gives tok/s and the ratio to the same run's llama-bench at 1 thread.
 *
 * Run: `npm run bench -- threads [--model PATH ...] [--only SUB1,SUB2] [--rounds N] [--reps 3]`.
 * With several rounds the configurations are measured interleaved and each reports its fastest
 * undisturbed sample, which on a shared machine estimates what it can do far better than one run.
 * The first run builds what it compares (cached in `.cache/`): llama-bench with OpenMP and with
 * ggml's own threadpool, and node-llama-cpp from source (about 3.5 minutes each on 2 cores).
 *
 * @packageDocumentation
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { mkdir, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ensureBenchModel } from './lib/bench-model.js'
import { ensureLlamaBench, runLlamaBench } from './lib/llama-bench.js'
import { ensureNlcSourceBuild, nlcCopyDir } from './lib/nlc-source-build.js'
import { ensureNlcPrebuiltCopy } from './lib/nlc-prebuilt.js'
import { measureNodeDecode } from './lib/node-decode.js'
import type { NodeDecodeOptions } from './lib/node-decode.js'
import { noiseMark, waitForQuiet } from './lib/quiet.js'
import { fmt, formatTable } from './lib/stats.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** node-llama-cpp copy whose `llama/localBuilds/` holds a source build (GGML_NATIVE, OpenMP). */
const LOCAL_NLC = join(nlcCopyDir(ROOT), 'dist', 'index.js')

interface Config {
  label: string
  kind: 'llama-bench' | 'node'
  threads?: number
  /** llama-bench build variant (`native` = OpenMP, `native-noomp` = ggml threadpool). */
  variant?: string
  node?: Partial<NodeDecodeOptions>
  env?: Record<string, string>
  /** Busy-loop processes kept running during the measurement (another service on the box). */
  busy?: number
}

/** One measurement of one configuration. */
interface Sample {
  tps: number | null
  cpu: number | null
  /** Cores used by unplanned other processes meanwhile. */
  foreign: number | null
  note: string
}

/**
 * The sample that best shows what a configuration can do: the fastest undisturbed one, else the
 * fastest of all (other processes only ever slow a measurement down).
 */
function pickBest (samples: readonly Sample[]): Sample {
  const valid = samples.filter((s) => s.tps != null)
  const clean = valid.filter((s) => noiseMark(s.foreign) === '')
  const pool = clean.length > 0 ? clean : valid
  return pool.reduce<Sample | null>((a, s) => a == null || (s.tps ?? 0) > (a.tps ?? 0) ? s : a, null) ??
    samples[0] ?? { tps: null, cpu: null, foreign: null, note: 'no sample' }
}

/** Starts `n` processes that each keep one core busy; returns a function that stops them. */
function startBusyLoad (n: number): () => void {
  const children = Array.from({ length: n }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }))
  return () => { for (const c of children) c.kill('SIGKILL') }
}

function configs (cores: number): Config[] {
  const t = Math.min(2, cores)
  const out: Config[] = [
    { label: 'llama-bench openmp t1', kind: 'llama-bench', threads: 1, variant: 'native' },
    { label: `llama-bench openmp t${t}`, kind: 'llama-bench', threads: t, variant: 'native' },
    { label: `llama-bench openmp t${t} OMP_WAIT_POLICY=passive`, kind: 'llama-bench', threads: t, variant: 'native', env: { OMP_WAIT_POLICY: 'passive' } },
    { label: 'llama-bench ggml-threadpool t1', kind: 'llama-bench', threads: 1, variant: 'native-noomp' },
    { label: `llama-bench ggml-threadpool t${t}`, kind: 'llama-bench', threads: t, variant: 'native-noomp' },
    { label: 'prebuilt defaults', kind: 'node', node: {} },
    { label: 'prebuilt t1', kind: 'node', threads: 1 },
    { label: 'prebuilt t1 controlledEvaluate (no sampler)', kind: 'node', threads: 1, node: { api: 'controlled' } },
    { label: `prebuilt t${t}`, kind: 'node', threads: t },
    { label: 'prebuilt t1 UV_THREADPOOL_SIZE=1', kind: 'node', threads: 1, env: { UV_THREADPOOL_SIZE: '1' } },
    { label: `prebuilt t${t} UV_THREADPOOL_SIZE=1`, kind: 'node', threads: t, env: { UV_THREADPOOL_SIZE: '1' } },
    { label: 'prebuilt t1 flashAttention', kind: 'node', threads: 1, node: { flashAttention: true } },
    { label: 'source-build defaults', kind: 'node', node: { nodeLlamaCpp: LOCAL_NLC } },
    { label: 'source-build t1', kind: 'node', threads: 1, node: { nodeLlamaCpp: LOCAL_NLC } },
    { label: `source-build t${t}`, kind: 'node', threads: t, node: { nodeLlamaCpp: LOCAL_NLC } },
    { label: 'source-build t1 UV_THREADPOOL_SIZE=1', kind: 'node', threads: 1, node: { nodeLlamaCpp: LOCAL_NLC }, env: { UV_THREADPOOL_SIZE: '1' } },
    { label: `source-build t${t} UV_THREADPOOL_SIZE=1`, kind: 'node', threads: t, node: { nodeLlamaCpp: LOCAL_NLC }, env: { UV_THREADPOOL_SIZE: '1' } },
    { label: `source-build t${t} OMP_WAIT_POLICY=passive`, kind: 'node', threads: t, node: { nodeLlamaCpp: LOCAL_NLC }, env: { OMP_WAIT_POLICY: 'passive' } },
    { label: `source-build t${t} OMP_WAIT_POLICY=active`, kind: 'node', threads: t, node: { nodeLlamaCpp: LOCAL_NLC }, env: { OMP_WAIT_POLICY: 'active' } },
    { label: `source-build t${t} GOMP_SPINCOUNT=10000`, kind: 'node', threads: t, node: { nodeLlamaCpp: LOCAL_NLC }, env: { GOMP_SPINCOUNT: '10000' } },
    { label: `source-build t${t} OMP_PROC_BIND=close`, kind: 'node', threads: t, node: { nodeLlamaCpp: LOCAL_NLC }, env: { OMP_PROC_BIND: 'close', OMP_PLACES: 'cores' } },
    { label: `source-build t${t} UV_THREADPOOL_SIZE=1 OMP_WAIT_POLICY=passive`, kind: 'node', threads: t, node: { nodeLlamaCpp: LOCAL_NLC }, env: { UV_THREADPOOL_SIZE: '1', OMP_WAIT_POLICY: 'passive' } },
    // The same with one core kept busy by another process, as on a node that also serves HTTP,
    // runs p2p or a second model: spinning barriers lose whole scheduler ticks to it.
    { label: 'busy1: llama-bench openmp t1', kind: 'llama-bench', threads: 1, variant: 'native', busy: 1 },
    { label: `busy1: llama-bench openmp t${t}`, kind: 'llama-bench', threads: t, variant: 'native', busy: 1 },
    { label: 'busy1: prebuilt t1', kind: 'node', threads: 1, busy: 1 },
    { label: `busy1: prebuilt t${t}`, kind: 'node', threads: t, busy: 1 },
    { label: 'busy1: source-build t1 UV_THREADPOOL_SIZE=1', kind: 'node', threads: 1, node: { nodeLlamaCpp: LOCAL_NLC }, env: { UV_THREADPOOL_SIZE: '1' }, busy: 1 },
    { label: `busy1: source-build t${t} UV_THREADPOOL_SIZE=1`, kind: 'node', threads: t, node: { nodeLlamaCpp: LOCAL_NLC }, env: { UV_THREADPOOL_SIZE: '1' }, busy: 1 }
  ]
  return out
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', multiple: true },
      only: { type: 'string' },
      reps: { type: 'string', default: '3' },
      tokens: { type: 'string', default: '128' },
      rounds: { type: 'string', default: '1' }
    }
  })
  const cores = availableParallelism()
  const reps = Number(values.reps)
  const tokens = Number(values.tokens)
  const models = values.model ?? [join(ROOT, 'models', 'stories260K.gguf'), await ensureBenchModel(ROOT)]
  const lbNative = await ensureLlamaBench(ROOT, 'native')
  const lbNoomp = await ensureLlamaBench(ROOT, 'native-noomp', ['-DGGML_OPENMP=OFF'])
  const noompBinary = lbNoomp.binary
  const source = await ensureNlcSourceBuild(ROOT)
  for (const [what, s] of [['llama-bench (OpenMP)', lbNative.buildS], ['llama-bench (ggml threadpool)', lbNoomp.buildS], ['node-llama-cpp source build', source.buildS]] as const) {
    if (s > 0) process.stdout.write(`built ${what} in ${s.toFixed(0)} s\n`)
  }
  const haveLocal = existsSync(source.entry)
  // 'prebuilt' configurations load a copy of the package without local builds, so they measure
  // the binary npm installs even after `plexus engine build`.
  const prebuiltEntry = await ensureNlcPrebuiltCopy(ROOT)
  const only = values.only?.split(',').filter((x) => x.length > 0)
  const list = configs(cores).filter((c) => only == null || only.some((o) => c.label.includes(o)))
  const rounds = Math.max(1, Number(values.rounds))

  async function measure (c: Config, model: string): Promise<Sample> {
    let tps: number | null = null
    let cpu: number | null = null
    let foreign: number | null = null
    let note = ''
    let stopLoad: (() => void) | null = null
    try {
      if (c.kind === 'llama-bench') {
        const binary = c.variant === 'native-noomp' ? noompBinary : lbNative.binary
        await waitForQuiet()
        if (c.busy != null) stopLoad = startBusyLoad(c.busy)
        const r = await runLlamaBench({ binary, model, threads: c.threads ?? 1, tokens, reps, ...(c.env != null ? { env: c.env } : {}) })
        tps = r.tps
        foreign = r.cpuForeign
      } else if (c.node?.nodeLlamaCpp != null && !haveLocal) {
        note = 'skipped: no node-llama-cpp source build in .cache/nlc'
      } else {
        await waitForQuiet()
        if (c.busy != null) stopLoad = startBusyLoad(c.busy)
        const r = await measureNodeDecode({
          model,
          tokens,
          reps,
          maxSeconds: 6,
          ...(c.label.includes('prebuilt') ? { nodeLlamaCpp: prebuiltEntry } : {}),
          ...c.node,
          ...(c.threads != null ? { threads: c.threads } : {}),
          ...(c.env != null ? { env: c.env } : {})
        })
        tps = r.tps
        cpu = r.cpuSelf
        foreign = r.cpuForeign
        note = `${r.binary}, ${r.threadsUsed} threads`
      }
    } catch (err) {
      note = `error: ${(err as Error).message.split('\n')[0] ?? ''}`
    } finally {
      stopLoad?.()
    }
    // The planned busy load counts as foreign CPU; only unplanned load should flag a result.
    if (c.busy != null && foreign != null) foreign = Math.max(0, foreign - c.busy)
    return { tps, cpu, foreign, note }
  }

  // Rounds are interleaved (every configuration once per round) so that a burst of load from
  // other processes hits one sample of many configurations rather than all samples of one.
  const samples = new Map<string, Sample[]>()
  for (let round = 1; round <= rounds; round++) {
    for (const model of models) {
      for (const c of list) {
        const sample = await measure(c, model)
        const key = `${basename(model)}\u0000${c.label}`
        samples.set(key, [...(samples.get(key) ?? []), sample])
        process.stdout.write(`  [${round}/${rounds}] ${basename(model)} | ${c.label}: ${fmt(sample.tps)} tok/s${noiseMark(sample.foreign)} ${sample.note}\n`)
      }
    }
  }

  process.stdout.write('\n')
  const results: Array<{ model: string, label: string, best: Sample, samples: Sample[] }> = []
  for (const model of models.map((m) => basename(m))) {
    for (const c of list) {
      const all = samples.get(`${model}\u0000${c.label}`) ?? []
      results.push({ model, label: c.label, best: pickBest(all), samples: all })
    }
  }
  for (const model of models.map((m) => basename(m))) {
    const mine = results.filter((r) => r.model === model)
    const base = mine.find((r) => r.label === 'llama-bench openmp t1')?.best.tps ?? null
    process.stdout.write(`## ${model}: best of ${rounds} round(s), undisturbed samples preferred (ratio = tok/s ÷ llama-bench openmp t1)\n`)
    process.stdout.write(formatTable(
      ['configuration', 'tok/s', 'ratio', 'cpu cores', 'clean', 'note'],
      mine.map((r) => [
        r.label,
        `${fmt(r.best.tps)}${noiseMark(r.best.foreign)}`,
        base != null && r.best.tps != null ? fmt(r.best.tps / base, 2) : '-',
        fmt(r.best.cpu, 2),
        `${r.samples.filter((x) => noiseMark(x.foreign) === '').length}/${r.samples.length}`,
        r.best.note
      ])
    ) + '\n\n')
  }
  const dir = join(ROOT, '.cache', 'bench-results')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `threads-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  await writeFile(file, JSON.stringify({ cores, tokens, reps, rounds, results }, null, 2))
  process.stdout.write(`results: ${file}\n`)
}

await main()
