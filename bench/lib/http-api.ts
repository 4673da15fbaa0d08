import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { median } from './stats.js'
import { decodeTps, streamTimed, ttftMs, type StreamSample } from './sse-stream.js'
import { cpuMeter } from './cpu-meter.js'
import { processCpuSeconds } from './llama-bench.js'

/** Settings for {@link measureHttpDecode}. */
export interface HttpDecodeOptions {
  /** Repository root (where bin/plexus.js and dist/ are). */
  root: string
  model: string
  /** Passed as `--threads`; omitted = the server's default (auto: measured at model load). */
  threads?: number
  /** Extra environment for the server (e.g. `UV_THREADPOOL_SIZE`, which the launcher sets to 1). */
  env?: Record<string, string>
  /** `max_tokens` per request. */
  maxTokens?: number
  /** Timed requests per endpoint (one untimed warm-up request comes first). */
  reps?: number
  prompt?: string
  /** How long to wait for the server to answer, ms. */
  startTimeoutMs?: number
  /**
   * Entry of another copy of node-llama-cpp for the server to load (nlc-redirect.ts), e.g. the
   * prebuilt-only copy; omitted = the project's own (its local build when there is one).
   */
  nodeLlamaCpp?: string
}

/** One endpoint's streaming numbers (medians over the repetitions). */
export interface HttpEndpointResult {
  endpoint: string
  /** (completion_tokens − 1) / (t_last − t_first), tokens per second. */
  tps: number
  /** Request sent → first content chunk received, ms. */
  ttftMs: number
  /** completion_tokens from the final usage chunk. */
  completionTokens: number
  /** prompt_tokens from the final usage chunk (the chat template adds tokens). */
  promptTokens: number
}

/** Everything {@link measureHttpDecode} found out. */
export interface HttpDecodeResult {
  endpoints: HttpEndpointResult[]
  /** Threads the server used for the model (`/api/plexus/status`), e.g. what auto mode picked. */
  threads: number | null
  /** The llama.cpp binary the server ran (`prebuilt` or `local build`). */
  binary: string | null
  /** Whether the server generated on the native generation loop (`/api/plexus/status`). */
  nativeLoop: boolean | null
  /** Cores used by processes other than the benchmark and the server meanwhile (noise). */
  cpuForeign: number | null
}

/**
 * Whether the compiled CLI (and so the HTTP server) is there to be benchmarked.
 *
 * @param root - repository root
 */
export function httpApiAvailable (root: string): boolean {
  return existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      const port = typeof address === 'object' && address != null ? address.port : 0
      srv.close(() => resolve(port))
    })
  })
}

async function waitForServer (base: string, child: ChildProcess, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode != null) throw new Error(`server exited with code ${child.exitCode}`)
    try {
      const res = await fetch(`${base}/v1/models`)
      if (res.ok) {
        const body = await res.json() as { data?: Array<{ id: string }> }
        const id = body.data?.[0]?.id
        if (id != null) return id
      }
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`server did not answer GET /v1/models within ${timeoutMs} ms`)
}

function summarise (endpoint: string, runs: StreamSample[]): HttpEndpointResult {
  return {
    endpoint,
    tps: median(runs.map(decodeTps).filter(Number.isFinite)),
    ttftMs: median(runs.map(ttftMs)),
    completionTokens: median(runs.map((r) => r.completionTokens)),
    promptTokens: median(runs.map((r) => r.promptTokens))
  }
}

/**
 * Starts `plexus start` on a free port with a throw-away data directory, measures streaming
 * decode speed and time to first token on POST /v1/completions and /v1/chat/completions, and
 * stops the server. Returns null when the CLI has not been built (the API is not there yet).
 *
 * @param o - model, threads and request settings
 */
export async function measureHttpDecode (o: HttpDecodeOptions): Promise<HttpDecodeResult | null> {
  if (!httpApiAvailable(o.root)) return null
  const dataDir = await mkdtemp(join(tmpdir(), 'plexus-bench-'))
  const port = await freePort()
  const redirect = o.nodeLlamaCpp != null ? ['--import', pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'nlc-redirect-register.js')).href] : []
  const args = [...redirect, join(o.root, 'bin', 'plexus.js'), 'start', '--data-dir', dataDir, '--port', String(port),
    // --no-p2p: the peer-to-peer host would bind the fixed port 11436 (taken when another node
    // runs on the machine) and send multicast DNS; neither has anything to do with decoding.
    '--model', o.model, '--log-level', 'warn', '--no-p2p', ...(o.threads != null ? ['--threads', String(o.threads)] : [])]
  const env: NodeJS.ProcessEnv = { ...process.env, ...o.env }
  if (o.nodeLlamaCpp != null) env.PLEXUS_BENCH_NLC_ENTRY = o.nodeLlamaCpp
  // The launcher sets UV_THREADPOOL_SIZE only when it is not set: let it, unless asked otherwise.
  if (o.env?.UV_THREADPOOL_SIZE == null) delete env.UV_THREADPOOL_SIZE
  const child = spawn(process.execPath, args, { cwd: o.root, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-4000) })
  const base = `http://127.0.0.1:${port}`
  try {
    let modelId: string
    try {
      modelId = await waitForServer(base, child, o.startTimeoutMs ?? 60_000)
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${stderr.trim()}`)
    }
    const maxTokens = o.maxTokens ?? 128
    const prompt = o.prompt ?? 'Once upon a time'
    const endpoints: Array<[string, string, Record<string, unknown>]> = [
      ['/v1/completions', `${base}/v1/completions`, { model: modelId, prompt, max_tokens: maxTokens, temperature: 0 }],
      ['/v1/chat/completions', `${base}/v1/chat/completions`, {
        model: modelId, messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, temperature: 0
      }]
    ]
    const results: HttpEndpointResult[] = []
    // Warm-up: loads the model (and, in auto mode, measures its thread counts) before timing.
    for (const [, url, body] of endpoints) await streamTimed(url, { ...body, max_tokens: 8 })
    const meter = cpuMeter(() => processCpuSeconds(child.pid))
    for (const [name, url, body] of endpoints) {
      const runs: StreamSample[] = []
      for (let i = 0; i < (o.reps ?? 3); i++) runs.push(await streamTimed(url, body))
      results.push(summarise(name, runs))
    }
    const use = meter.stop()
    const status = await (await fetch(`${base}/api/plexus/status`)).json() as {
      engine?: { binary?: string } | null
      nativeLoop?: { active?: boolean }
      loaded?: Array<{ name: string, threads?: number }>
    }
    return {
      endpoints: results,
      threads: status.loaded?.find((l) => l.name === modelId)?.threads ?? null,
      binary: status.engine?.binary ?? null,
      nativeLoop: status.nativeLoop?.active ?? null,
      cpuForeign: use.foreign
    }
  } finally {
    child.kill('SIGTERM')
    const exited = await Promise.race([
      new Promise<boolean>((resolve) => child.once('close', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000))
    ])
    if (!exited) child.kill('SIGKILL')
    await rm(dataDir, { recursive: true, force: true })
  }
}
