/**
 * Community routing benchmark: what it costs when a peer serves a request over libp2p instead of
 * the node itself, measured in the same run.
 *
 * Node B has the models; node A has none and bootstraps to B (127.0.0.1 only, no mDNS). Each is a
 * `plexus start` child process, so each has its own event loop as on two machines (they still
 * share this machine's cores; `--pin` puts B alone on one core). Streaming `/v1/completions`
 * (`stream_options.include_usage`, fixed seed) is sent, interleaved round by round, to
 * - `local`: B, which serves it itself;
 * - `peer`: A with `X-Plexus-Privacy: community`, which routes it to B over `/plexus/infer/1.0.0`.
 * Reported: time to first token p50/p90 and its overhead over local (goal ≤ 2 ms p50), client-side
 * decode tok/s and the peer/local ratio (goal ≥ 0.9), SSE events per request, CPU per request.
 *
 * Then, for context and diagnosis: a 64-byte round trip on an established libp2p stream (Noise +
 * Yamux) vs raw TCP, and the cost of opening a stream; a step-by-step trace of the first token
 * with both nodes in this process (bench/lib/route-trace.ts); the TokenBatcher window varied
 * (bench/lib/batch-window.ts); the JavaScript cost of each frame.
 *
 * Run: `npm run bench -- routing [--tokens 256] [--reps 20] [--reps-large 5] [--no-large]
 * [--no-trace] [--trace-reps 30] [--no-window] [--windows 0,1,4,8,16] [--window-reps 12]
 * [--pin] [--json]`.
 *
 * @packageDocumentation
 */
import { execFileSync } from 'node:child_process'
import { availableParallelism, cpus } from 'node:os'
import { mkdir, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ensureBenchModel } from './lib/bench-model.js'
import { cpuMeter } from './lib/cpu-meter.js'
import { measureWindows } from './lib/batch-window.js'
import { measureFrameCosts } from './lib/frame-costs.js'
import { processCpuSeconds } from './lib/llama-bench.js'
import { percentile } from './lib/percentile.js'
import { startPlexusProcess } from './lib/plexus-process.js'
import type { PlexusProcess } from './lib/plexus-process.js'
import { NOISY_CORES, noiseMark, waitForQuiet } from './lib/quiet.js'
import { traceRoutes } from './lib/route-trace.js'
import type { Marks } from './lib/route-trace.js'
import { libp2pRtt, tcpRtt } from './lib/rtt.js'
import { decodeTps, streamTimed, ttftMs } from './lib/sse-stream.js'
import type { StreamSample } from './lib/sse-stream.js'
import { fmt, formatTable, median } from './lib/stats.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const PROMPT = 'Once upon a time'
const SEED = 1

function log (line = ''): void {
  process.stdout.write(`${line}\n`)
}

interface Path {
  name: string
  url: string
  headers: Record<string, string>
  /** Processes whose CPU this path uses (for CPU per request). */
  pids: number[]
}

interface Sample {
  round: number
  s: StreamSample
  /** CPU seconds used by each involved process during the request. */
  cpu: number[]
}

interface Round {
  /** Cores used by other processes during the round. */
  foreign: number | null
}

interface PathStats {
  path: string
  n: number
  ttftP50: number
  ttftP90: number
  /** Median over rounds of (this path's TTFT − local TTFT in the same round). */
  ttftPairedDiff: number
  tps: number
  /** Median over rounds of this path's tok/s ÷ local tok/s in the same round. */
  tpsPairedRatio: number
  events: number
  tokens: number
  /** CPU ms per request, per involved process (B, A…). */
  cpuMs: number[]
  sameText: boolean
  route: string | null
}

/** A request that failed. `round` −1: warm-up. */
interface Failure {
  path: string
  round: number
  message: string
}

interface ModelResult {
  model: string
  rounds: number
  undisturbed: number
  /** True when the statistics use all rounds because too few were undisturbed. */
  disturbed: boolean
  stats: PathStats[]
  failures: Failure[]
}

async function waitForAdverts (nodes: PlexusProcess[], models: string[], timeoutMs = 60_000): Promise<number> {
  const t0 = performance.now()
  for (const n of nodes) {
    while (true) {
      const body = await (await fetch(`${n.url}/v1/models`)).json() as { data?: Array<{ id: string, plexus?: { location?: string } }> }
      const seen = new Set((body.data ?? []).filter((m) => m.plexus?.location === 'network').map((m) => m.id))
      if (models.every((m) => seen.has(m))) break
      if (performance.now() - t0 > timeoutMs) throw new Error(`node ${n.url} did not receive B's adverts within ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  return performance.now() - t0
}

async function measureModel (model: string, paths: Path[], o: { tokens: number, reps: number, warmup: number, temperature: number }): Promise<ModelResult> {
  const body = { model, prompt: PROMPT, max_tokens: o.tokens, seed: SEED, temperature: o.temperature }
  const failures: Failure[] = []
  // A failed request (an error event or HTTP error) is recorded and left out of the statistics.
  const send = async (p: Path, round: number): Promise<Sample | null> => {
    const before = p.pids.map((pid) => processCpuSeconds(pid))
    try {
      const s = await streamTimed(`${p.url}/v1/completions`, body, p.headers)
      return { round, s, cpu: p.pids.map((pid, i) => processCpuSeconds(pid) - before[i]!) }
    } catch (err) {
      failures.push({ path: p.name, round, message: (err as Error).message.replace(/^http:\/\/[^ ]+ /, '') })
      return null
    }
  }
  for (let i = 0; i < o.warmup; i++) for (const p of paths) await send(p, -1)
  const samples = new Map<string, Sample[]>(paths.map((p) => [p.name, []]))
  const rounds: Round[] = []
  const allPids = [...new Set(paths.flatMap((p) => p.pids))]
  for (let r = 0; r < o.reps; r++) {
    await waitForQuiet(3_000)
    // Rotate the order so no path always runs first (after the quiet wait) or last.
    const order = paths.map((_, i) => paths[(i + r) % paths.length]!)
    const meter = cpuMeter(() => allPids.reduce((a, pid) => a + processCpuSeconds(pid), 0))
    for (const p of order) {
      const x = await send(p, r)
      if (x != null) samples.get(p.name)!.push(x)
    }
    rounds.push({ foreign: meter.stop().foreign })
  }
  const clean = rounds.map((r, i) => ({ ...r, i })).filter((r) => r.foreign == null || r.foreign <= NOISY_CORES).map((r) => r.i)
  const disturbed = clean.length < Math.max(5, Math.ceil(o.reps / 2))
  const use = new Set(disturbed ? rounds.map((_, i) => i) : clean)
  const local = samples.get(paths[0]!.name)!.filter((x) => use.has(x.round))
  const localByRound = new Map(local.map((x) => [x.round, x]))
  const stats = paths.map((p): PathStats => {
    const mine = samples.get(p.name)!.filter((x) => use.has(x.round))
    const pairedDiff: number[] = []
    const pairedRatio: number[] = []
    for (const x of mine) {
      const l = localByRound.get(x.round)
      if (l == null) continue
      pairedDiff.push(ttftMs(x.s) - ttftMs(l.s))
      pairedRatio.push(decodeTps(x.s) / decodeTps(l.s))
    }
    return {
      path: p.name,
      n: mine.length,
      ttftP50: percentile(mine.map((x) => ttftMs(x.s)), 50),
      ttftP90: percentile(mine.map((x) => ttftMs(x.s)), 90),
      ttftPairedDiff: median(pairedDiff),
      tps: median(mine.map((x) => decodeTps(x.s))),
      tpsPairedRatio: median(pairedRatio),
      events: median(mine.map((x) => x.s.arrivals.length)),
      tokens: median(mine.map((x) => x.s.completionTokens)),
      cpuMs: p.pids.map((_, i) => mine.reduce((a, x) => a + (x.cpu[i] ?? 0), 0) * 1000 / Math.max(1, mine.length)),
      sameText: mine.every((x) => x.s.text === local[0]?.s.text),
      route: mine[0]?.s.route ?? null
    }
  })
  return { model, rounds: o.reps, undisturbed: clean.length, disturbed, stats, failures }
}

function traceTable (runs: Record<string, Marks[]>): string {
  // Consecutive marks along each path's chain, so the steps of one request add up to its TTFT;
  // medians over requests (which need not add up exactly). Blank where a step does not apply.
  type Span = [string, string]
  const rows: Array<[string, { local?: Span, peer?: Span }]> = [
    ['HTTP request in → router.generate', { local: ['', 'router'], peer: ['', 'router'] }],
    ['router → PlexusNetwork.run', { peer: ['router', 'A.run'] }],
    ['run → request frame sent (stream: idle one or new)', { peer: ['A.run', 'A.send'] }],
    ['→ engine.generate (peer: frame to B, parse, admit)', { local: ['router', 'B.engine'], peer: ['A.send', 'B.engine'] }],
    ['engine.generate → first token (prompt + 1 token)', { local: ['B.engine', 'B.piece'], peer: ['B.engine', 'B.piece'] }],
    ['first token on B → on A (frame, parse, check)', { peer: ['B.piece', 'A.piece'] }],
    ['first token → router emits text', { local: ['B.piece', 'text'], peer: ['A.piece', 'text'] }],
    ['text → client (SSE event, HTTP)', { local: ['text', 'client'], peer: ['text', 'client'] }],
    ['= time to first token (client)', { local: ['', 'client'], peer: ['', 'client'] }]
  ]
  const value = (m: Marks, key: string, path: string): number | undefined => {
    if (key === '') return 0
    if (key === 'router') return path === 'local' ? m['B.router'] : m['A.router']
    if (key === 'text') return path === 'local' ? m['B.text'] : m['A.text']
    return m[key]
  }
  const names = Object.keys(runs)
  return formatTable(['step (median ms)', ...names], rows.map(([label, spans]) => [label, ...names.map((path) => {
    const span = path === 'local' ? spans.local : spans.peer
    if (span == null) return ''
    const d = (runs[path] ?? []).map((m) => {
      const a = value(m, span[0], path)
      const b = value(m, span[1], path)
      return a != null && b != null ? b - a : Number.NaN
    }).filter((x) => !Number.isNaN(x))
    return d.length > 0 ? fmt(median(d), 2) : ''
  })]))
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      tokens: { type: 'string', default: '256' },
      reps: { type: 'string', default: '20' },
      'reps-large': { type: 'string', default: '5' },
      'no-large': { type: 'boolean', default: false },
      'no-trace': { type: 'boolean', default: false },
      'trace-reps': { type: 'string', default: '30' },
      pin: { type: 'boolean', default: false },
      'no-window': { type: 'boolean', default: false },
      windows: { type: 'string', default: '0,1,4,8,16' },
      'window-reps': { type: 'string', default: '12' },
      json: { type: 'boolean', default: false }
    }
  })
  const tokens = Number(values.tokens)
  const reps = Number(values.reps)
  const repsLarge = Number(values['reps-large'])
  const cores = availableParallelism()
  // --pin: B alone on CPU 1; A and this process on CPU 0 — as close to two machines as two
  // cores allow (A's work then does not compete with B's decoding).
  const pin = values.pin && cores >= 2
  if (pin) execFileSync('taskset', ['-a', '-c', '-p', '0', String(process.pid)], { stdio: 'ignore' })
  const cpusFor = (which: 'server' | 'client'): { cpus?: string } => pin ? { cpus: which === 'server' ? '1' : '0' } : {}
  log(`# routing benchmark — ${cpus()[0]?.model ?? 'cpu'}, ${cores} cores, Node ${process.version}`)
  log(`  /v1/completions, prompt '${PROMPT}', max_tokens ${tokens}, seed ${SEED}; temperature 0.8 (stories260K), 0 (85M: its random weights make sampled text end early); nodes on 127.0.0.1, no mDNS`)
  log(`  '*' = other processes used > ${NOISY_CORES} cores during the round`)
  log(pin ? '  pinned: B on CPU 1; A and this client on CPU 0 (--pin)' : '  not pinned: all processes share all cores (--pin separates B from A)')

  const stories = join(ROOT, 'models', 'stories260K.gguf')
  const modelFiles = [stories]
  if (!values['no-large']) {
    const t0 = performance.now()
    modelFiles.push(await ensureBenchModel(ROOT))
    const s = (performance.now() - t0) / 1000
    if (s > 0.5) log(`generated the 85M benchmark model in ${s.toFixed(1)} s`)
  }
  const config = { network: { community: { requestsPerMinutePerPeer: 100_000 } } }
  const procs: PlexusProcess[] = []
  const report: Record<string, unknown> = { cores, node: process.version, tokens, seed: SEED, pinned: pin }
  try {
    const B = await startPlexusProcess({
      root: ROOT,
      args: [...modelFiles.flatMap((m) => ['--model', m]), '--threads', '1', '--parallel', '2', '--context-size', '1024'],
      config,
      ...cpusFor('server')
    })
    procs.push(B)
    const bootstrap = B.multiaddrs[0]
    if (bootstrap == null) throw new Error('B printed no multiaddr')
    const requesterArgs = ['--no-embedded-model', '--bootstrap', bootstrap]
    const A = await startPlexusProcess({ root: ROOT, args: requesterArgs, config, ...cpusFor('client') })
    procs.push(A)
    const ids = ((await (await fetch(`${B.url}/v1/models`)).json()) as { data: Array<{ id: string }> }).data.map((m) => m.id)
    const advertMs = await waitForAdverts([A], ids)
    log(`B (models ${ids.join(', ')}, --threads 1) started in ${fmt(B.startMs)} ms; A in ${fmt(A.startMs)} ms; B's adverts reached A ${fmt(advertMs)} ms later`)
    log()

    const paths: Path[] = [
      { name: 'local', url: B.url, headers: {}, pids: [B.pid] },
      { name: 'peer', url: A.url, headers: { 'x-plexus-privacy': 'community' }, pids: [B.pid, A.pid] }
    ]
    const results: ModelResult[] = []
    for (const id of ids) {
      const large = id !== 'stories260K'
      const r = await measureModel(id, paths, { tokens, reps: large ? repsLarge : reps, warmup: large ? 1 : 3, temperature: large ? 0 : 0.8 })
      results.push(r)
      const mark = r.disturbed ? '*' : ''
      log(`## ${id}: ${r.rounds} interleaved rounds, ${r.undisturbed} undisturbed${r.disturbed ? ' — too few: statistics over all rounds (*)' : ' (statistics over those)'}`)
      const local = r.stats[0]!
      log(formatTable(
        ['path', 'route', 'n', 'TTFT p50 ms', 'p90', 'Δ p50 vs local', 'Δ paired', 'decode tok/s', '÷ local', '÷ paired', 'events/req', 'tok/event', 'CPU ms/req (B, A)', 'same text'],
        r.stats.map((s) => [
          s.path, s.route ?? '?', String(s.n), `${fmt(s.ttftP50, 2)}${mark}`, fmt(s.ttftP90, 2),
          s === local ? '' : fmt(s.ttftP50 - local.ttftP50, 2), s === local ? '' : fmt(s.ttftPairedDiff, 2),
          `${fmt(s.tps)}${mark}`, s === local ? '' : fmt(s.tps / local.tps, 3), s === local ? '' : fmt(s.tpsPairedRatio, 3),
          fmt(s.events), fmt(s.tokens / s.events, 1), s.cpuMs.map((c) => fmt(c)).join(' + '), s.sameText ? 'yes' : 'NO'
        ])
      ))
      for (const s of r.stats.slice(1)) {
        const over = s.ttftP50 - local.ttftP50
        const ratio = s.tps / local.tps
        const failed = r.failures.filter((f) => f.path === s.path).length
        log(`  ${s.path}: TTFT overhead ${fmt(over, 2)} ms p50 (goal ≤ 2): ${over <= 2 ? 'met' : 'NOT met'}; throughput ${fmt(ratio, 3)}× (goal ≥ 0.9): ${ratio >= 0.9 ? 'met' : 'NOT met'}${failed > 0 ? `; ${failed} request${failed === 1 ? '' : 's'} FAILED (below)` : ''}`)
      }
      for (const f of r.failures) log(`  FAILED: ${f.path} request, ${f.round < 0 ? 'warm-up' : `round ${f.round + 1}`}: ${f.message}`)
      if (r.stats.some((s) => s.tokens < tokens)) log(`  note: the seeded generation ended after ${fmt(local.tokens)} of ${tokens} tokens (the model sampled end-of-text)`)
      log()
    }
    report.paths = paths.map((p) => p.name)
    report.results = results
    report.advertMs = advertMs
  } finally {
    for (const p of procs.reverse()) await p.stop()
  }

  log('## round trips on 127.0.0.1, both ends in this process (median / p90 ms)')
  await waitForQuiet(5_000)
  const meter = cpuMeter()
  const lp = await libp2pRtt(2000, 300)
  const tcp = await tcpRtt(2000)
  const rttForeign = meter.stop().foreign
  const m = noiseMark(rttForeign)
  log(formatTable(['what', 'p50 ms', 'p90 ms'], [
    ['raw TCP, 64 B echo', `${fmt(percentile(tcp.rtt, 50), 3)}${m}`, fmt(percentile(tcp.rtt, 90), 3)],
    ['libp2p stream (Noise + Yamux), 64 B echo', `${fmt(percentile(lp.rtt, 50), 3)}${m}`, fmt(percentile(lp.rtt, 90), 3)],
    ['libp2p dialProtocol on an open connection', `${fmt(percentile(lp.open, 50), 3)}${m}`, fmt(percentile(lp.open, 90), 3)],
    ['libp2p open stream + 64 B echo', `${fmt(percentile(lp.openAndRtt, 50), 3)}${m}`, fmt(percentile(lp.openAndRtt, 90), 3)]
  ]))
  log(`libp2p/TCP round trip: ${fmt(percentile(lp.rtt, 50) / percentile(tcp.rtt, 50), 1)}×; opening a stream costs ${fmt(percentile(lp.open, 50) / percentile(lp.rtt, 50), 1)} round trips`)
  report.rtt = {
    foreign: rttForeign,
    tcp: { p50: percentile(tcp.rtt, 50), p90: percentile(tcp.rtt, 90) },
    libp2p: { p50: percentile(lp.rtt, 50), p90: percentile(lp.rtt, 90) },
    open: { p50: percentile(lp.open, 50), p90: percentile(lp.open, 90) },
    openAndRtt: { p50: percentile(lp.openAndRtt, 50), p90: percentile(lp.openAndRtt, 90) }
  }
  log()

  if (!values['no-trace']) {
    const traceReps = Number(values['trace-reps'])
    const traces: Record<string, unknown> = {}
    for (const file of modelFiles) {
      const name = basename(file, '.gguf')
      const large = file !== stories
      const reps = large ? Math.max(5, Math.round(traceReps / 3)) : traceReps
      log(`## where the first token's time goes: A and B in this process, ${name}, max_tokens 16, ${reps} rounds`)
      await waitForQuiet(5_000)
      const tm = cpuMeter()
      const trace = await traceRoutes({ model: file, prompt: PROMPT, maxTokens: 16, reps, seed: SEED, temperature: large ? 0 : 0.8 })
      const tf = tm.stop().foreign
      log(traceTable(trace.runs) + noiseMark(tf))
      const opened = (trace.runs.peer ?? []).filter((m) => m['A.open'] != null && m['A.opened'] != null)
      log(`A opened an inference stream on the request path for ${opened.length} of ${trace.runs.peer?.length ?? 0} requests${opened.length > 0 ? ` (median ${fmt(median(opened.map((m) => m['A.opened']! - m['A.open']!)), 2)} ms)` : ''}; the others used the idle stream it keeps per peer`)
      traces[name] = { foreign: tf, runs: trace.runs }
      log()
    }
    report.trace = traces
  }

  if (!values['no-window']) {
    const windows = values.windows.split(',').map(Number).filter((w) => Number.isFinite(w) && w >= 0)
    const wreps = Number(values['window-reps'])
    log(`## TokenBatcher window: B serves copies of the protocol with other windows, one requester node per window; all in this process; stories260K, ${tokens} tokens, ${wreps} rounds`)
    await waitForQuiet(5_000)
    const wm = cpuMeter()
    const wr = await measureWindows({ model: stories, prompt: PROMPT, maxTokens: tokens, reps: wreps, windows, seed: SEED })
    const wf = wm.stop().foreign
    const base = wr[0]!
    log(formatTable(['configuration', 'decode tok/s', '÷ local', 'SSE events/req', 'tokens/frame', 'CPU ms/req (all)', 'Δ CPU vs local'], wr.map((w) => [
      w.config, `${fmt(w.tps)}${noiseMark(wf)}`, w === base ? '' : fmt(w.tps / base.tps, 3), fmt(w.events), w === base ? '' : fmt(w.tokens / w.events, 1),
      fmt(w.cpuMs, 1), w === base ? '' : fmt(w.cpuMs - base.cpuMs, 1)
    ])))
    report.windows = { foreign: wf, results: wr }
    log()
  }

  log('## JavaScript cost per frame / event (µs, this process)')
  const costs = measureFrameCosts()
  log(formatTable(['operation', 'µs'], costs.map((c) => [c.op, fmt(c.us, 2)])))
  report.frameCosts = costs

  const resultsDir = join(ROOT, '.cache', 'bench-results')
  await mkdir(resultsDir, { recursive: true })
  const file = join(resultsDir, `routing-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  await writeFile(file, JSON.stringify(report, null, 2))
  log()
  log(`results: ${file}`)
  if (values.json) log(JSON.stringify(report))
}

await main()
