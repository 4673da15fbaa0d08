import { collectOutput } from './child.js'
import { spawn } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Token } from 'node-llama-cpp'
import { cpuMeter } from './cpu-meter.js'
import { median } from './stats.js'

/** One node-llama-cpp decode measurement; every field but `model` is optional. */
export interface NodeDecodeOptions {
  model: string
  /** `threads` for createContext; omitted = node-llama-cpp's default. */
  threads?: number
  /** `maxThreads` for getLlama; omitted = node-llama-cpp's default (max(4, math cores) on CPU). */
  maxThreads?: number
  /** Tokens generated per repetition (llama-bench `-n`). */
  tokens?: number
  /** Timed repetitions (llama-bench `-r`); one untimed warm-up of 16 tokens comes first. */
  reps?: number
  contextSize?: number
  /** Sequences the context is created with (the server uses one per parallel slot). */
  sequences?: number
  batchSize?: number
  flashAttention?: boolean
  /**
   * `evaluate`: `sequence.evaluate()` with greedy sampling, as an app would decode.
   * `controlled`: `sequence.controlledEvaluate()` one token at a time, no sampler (llama-bench's
   * work: decode only), to separate the sampler round trip from the decode.
   */
  api?: 'evaluate' | 'controlled'
  /** Where the binary comes from: `never` (prebuilt or an existing local build) or `forceRebuild`. */
  build?: 'never' | 'auto' | 'forceRebuild'
  /**
   * Stop a repetition after this many seconds even if fewer tokens were generated, so that a
   * pathologically slow configuration cannot stall the benchmark (default 10).
   */
  maxSeconds?: number
  /**
   * File URL or path of the node-llama-cpp entry to load instead of the project's own, e.g. a
   * copy under `.cache/` holding a local source build.
   */
  nodeLlamaCpp?: string
  /** Prompt text evaluated (after BOS) before generating; omitted = BOS only, as llama-bench. */
  prompt?: string
  /** Extra environment for the child process (e.g. `UV_THREADPOOL_SIZE`). */
  env?: Record<string, string>
}

/** Result of {@link measureNodeDecode}. */
export interface NodeDecodeResult {
  /**
   * Median decode tokens per second over the repetitions: (tokens − 1) / (t_last − t_first),
   * the same definition the HTTP benchmark uses.
   */
  tps: number
  /** Per-repetition rates. */
  samples: number[]
  /** Threads the context actually used (`context.currentThreads` after decoding). */
  threadsUsed: number
  /** Cores used by the benchmark process while decoding (spinning threads show up here). */
  cpuSelf: number
  /** Cores used by other processes on the machine meanwhile (noise indicator), or null. */
  cpuForeign: number | null
  /** Time to the first generated token (prompt evaluation included), median, ms. */
  firstTokenMs: number
  /** Which binary node-llama-cpp loaded: `prebuilt` or `local build`. */
  binary: string
  /** Tokens evaluated before the first generated one (BOS + prompt). */
  promptTokens: number
}

/**
 * Runs one decode measurement in a fresh Node process, so that environment variables and
 * getLlama options cannot leak between configurations.
 *
 * @param options - the configuration to measure
 * @param signal - aborts the child
 * @returns the measurement
 */
export async function measureNodeDecode (options: NodeDecodeOptions, signal?: AbortSignal): Promise<NodeDecodeResult> {
  const script = fileURLToPath(import.meta.url)
  const child = spawn(process.execPath, [script, JSON.stringify(options)], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    signal
  })
  const { code, out, err } = await collectOutput(child)
  const line = out.trim().split('\n').pop() ?? ''
  if (code !== 0 || !line.startsWith('{')) {
    throw new Error(`node decode child failed (exit ${String(code)}): ${err.trim().slice(-2000)}`)
  }
  return JSON.parse(line) as NodeDecodeResult
}

/** The measurement itself; runs inside the child process. */
async function runInChild (o: NodeDecodeOptions): Promise<NodeDecodeResult> {
  const nlc: typeof import('node-llama-cpp') = await import(o.nodeLlamaCpp != null
    ? pathToFileURL(o.nodeLlamaCpp).href
    : 'node-llama-cpp')
  const { getLlama, LlamaLogLevel } = nlc
  const llama = await getLlama({
    gpu: false,
    build: o.build ?? 'never',
    logLevel: LlamaLogLevel.error,
    progressLogs: false,
    ...(o.maxThreads != null ? { maxThreads: o.maxThreads } : {})
  })
  const binary = llama.buildType === 'localBuild' ? 'local build' : 'prebuilt'
  const model = await llama.loadModel({ modelPath: o.model, gpuLayers: 0 })
  const context = await model.createContext({
    contextSize: o.contextSize ?? 256,
    sequences: o.sequences ?? 1,
    ...(o.threads != null ? { threads: o.threads } : {}),
    ...(o.batchSize != null ? { batchSize: o.batchSize } : {}),
    ...(o.flashAttention != null ? { flashAttention: o.flashAttention } : {})
  })
  const sequence = context.getSequence()
  const bos = (model.tokens.bos ?? 1) as Token
  const nTokens = o.tokens ?? 128
  const api = o.api ?? 'evaluate'

  const input = o.prompt != null ? [bos, ...model.tokenize(o.prompt)] : [bos]

  const deadlineMs = (o.maxSeconds ?? 10) * 1000

  /** Generates up to `n` tokens from an empty sequence; returns [first token ms, decode tok/s]. */
  async function generate (n: number): Promise<[number, number]> {
    await sequence.clearHistory()
    const t0 = performance.now()
    let tFirst = 0
    let generated = 0
    if (api === 'controlled') {
      let token = bos
      while (generated < n) {
        await sequence.controlledEvaluate([token])
        if (++generated === 1) tFirst = performance.now()
        if (performance.now() - t0 > deadlineMs) break
        // Like llama-bench, the next input does not depend on the output (any byte token).
        token = (3 + (generated * 37) % 256) as Token
      }
    } else {
      for await (const token of sequence.evaluate(input, { temperature: 0, yieldEogToken: true })) {
        void token
        if (++generated === 1) tFirst = performance.now()
        if (generated >= n || performance.now() - t0 > deadlineMs) break
      }
    }
    const tLast = performance.now()
    return [tFirst - t0, generated > 1 ? (generated - 1) / ((tLast - tFirst) / 1000) : 0]
  }

  await generate(16)
  const samples: number[] = []
  const firsts: number[] = []
  const meter = cpuMeter()
  for (let r = 0; r < (o.reps ?? 3); r++) {
    const [first, tps] = await generate(nTokens)
    samples.push(tps)
    firsts.push(first)
  }
  const use = meter.stop()
  const threadsUsed = context.currentThreads
  await context.dispose()
  await model.dispose()
  await llama.dispose()
  return {
    tps: median(samples),
    samples,
    threadsUsed,
    cpuSelf: use.self,
    cpuForeign: use.foreign,
    firstTokenMs: median(firsts),
    binary,
    promptTokens: input.length
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] != null) {
  const result = await runInChild(JSON.parse(process.argv[2]) as NodeDecodeOptions)
  process.stdout.write(`\n${JSON.stringify(result)}\n`)
  process.exit(0)
}
