/**
 * Secure aggregation vs plain aggregation, same run: 100 simulated clients × 100k parameters
 * (defaults). Goal: ≤ 2× time and ≤ 1.8× bytes.
 *
 * Plain (bench/lib/plain-aggregation.ts): each client sends its float32 vector as JSON (base64url),
 * the coordinator validates it and sums. Secure: rounds 0–3 of src/federated/secagg in-process
 * (`runSecAggRound`), every message through JSON.stringify/parse. Both count the bytes of every
 * serialised message, each way, and time each party separately in CPU milliseconds of this
 * process (`cpuClock`: steadier than wall time on a machine shared with other work):
 * - **round time**: per step, the median client plus the coordinator, summed over the steps —
 *   how long the round takes when clients run on their own machines (network excluded). Plain
 *   has one step. Also shown with the slowest client of each step instead of the median (in one
 *   process that is mostly whichever client a garbage collection hit).
 * - **total CPU**: every party's time added up — what a one-process simulation costs.
 * Each run starts after a full garbage collection and ends with one, timed and charged to the
 * coordinator, so that every configuration pays for collecting its own garbage (53 MB of JSON for
 * the vectors alone) once, whenever V8 would have done it.
 * Configurations: the complete masking graph (Bonawitz et al.), sparse graphs with k neighbours
 * (Bell et al.), and some of them with 10 % of the clients dropping after sharing keys (the
 * coordinator's expensive case: it expands each one's pairwise masks with its surviving neighbours).
 *
 * Run: `npm run bench -- secagg [--clients 100] [--params 100000] [--reps 3]
 * [--graphs complete,30,20] [--dropout-graphs complete,20] [--no-dropout] [--json]`. Repetitions are interleaved; each
 * configuration keeps its fastest round time (and that repetition's other numbers).
 *
 * @packageDocumentation
 */
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { cpuClock, runSecAggRound, simulationTime, totalBytes, resolveConfig, type SecAggConfig, type SimulationReport } from '../src/federated/secagg/index.js'
import { runPlainAggregation } from './lib/plain-aggregation.js'
import { cpuMeter } from './lib/cpu-meter.js'
import { noiseMark, waitForQuiet } from './lib/quiet.js'
import { fmt, formatTable, median } from './lib/stats.js'

const GOAL_TIME = 2
const GOAL_BYTES = 1.8

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** CPU milliseconds of a full garbage collection (what a run left behind). */
function collect (): number {
  const t0 = cpuClock()
  gc()
  return cpuClock() - t0
}

function log (line = ''): void {
  process.stdout.write(`${line}\n`)
}

/** Deterministic inputs in [−1, 1] (xorshift32; the values do not matter to the cost). */
function makeInputs (clients: number, length: number): Map<string, Float32Array> {
  let s = 0x9e3779b9
  const inputs = new Map<string, Float32Array>()
  for (let c = 0; c < clients; c++) {
    const v = new Float32Array(length)
    for (let i = 0; i < length; i++) {
      s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0
      v[i] = s / 2 ** 31 - 1
    }
    inputs.set(`client-${String(c).padStart(4, '0')}`, v)
  }
  return inputs
}

interface Sample {
  name: string
  roundMs: number
  roundSlowestMs: number
  totalMs: number
  serverMs: number
  clientMs: number
  bytesUp: number
  bytesDown: number
  foreign: number | null
  report: SimulationReport | null
  maxError: number
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '100' },
      params: { type: 'string', default: '100000' },
      reps: { type: 'string', default: '3' },
      graphs: { type: 'string', default: 'complete,30,20' },
      'dropout-graphs': { type: 'string', default: 'complete,20' },
      'no-dropout': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false }
    }
  })
  const n = Number(values.clients)
  const length = Number(values.params)
  const reps = Number(values.reps)
  const inputs = makeInputs(n, length)
  const ids = [...inputs.keys()]

  const configFor = (graph: string): { label: string, config: SecAggConfig } => {
    const neighbours = graph === 'complete' ? 'complete' as const : Number(graph)
    return {
      label: neighbours === 'complete' ? 'complete graph' : `k = ${neighbours}`,
      // Sparse graphs use a threshold just above one half of each client's holders (see index.ts).
      config: { session: 'bench', length, clipRange: 1, maxClients: n, neighbours, ...(neighbours === 'complete' ? {} : { threshold: 0.55 }) }
    }
  }
  const configs: Array<{ name: string, config: SecAggConfig, dropout?: { mask: string[] } }> = []
  for (const g of values.graphs.split(',')) {
    const { label, config } = configFor(g)
    configs.push({ name: `secure, ${label}`, config })
  }
  if (!values['no-dropout']) {
    for (const g of values['dropout-graphs'].split(',')) {
      const { label, config } = configFor(g)
      configs.push({ name: `secure, ${label}, 10 % drop`, config, dropout: { mask: ids.slice(0, Math.floor(n / 10)) } })
    }
  }

  log(`secagg: ${n} clients × ${length} parameters, ${reps} interleaved repetitions, CPU ms`)
  const best = new Map<string, Sample>()
  const keep = (s: Sample): void => {
    const prev = best.get(s.name)
    if (prev == null || s.roundMs < prev.roundMs) best.set(s.name, s)
  }
  for (let rep = 1; rep <= reps; rep++) {
    await waitForQuiet()
    collect()
    let meter = cpuMeter()
    const plain = runPlainAggregation('bench', inputs, length, cpuClock)
    const plainServerMs = plain.serverMs + collect()
    let use = meter.stop()
    const plainSample: Sample = {
      name: 'plain',
      roundMs: median(plain.clientMs) + plainServerMs,
      roundSlowestMs: Math.max(...plain.clientMs) + plainServerMs,
      totalMs: plain.clientMs.reduce((a, b) => a + b, 0) + plainServerMs,
      serverMs: plainServerMs,
      clientMs: median(plain.clientMs),
      bytesUp: plain.bytesUp,
      bytesDown: 0,
      foreign: use.foreign,
      report: null,
      maxError: 0
    }
    keep(plainSample)
    log(`  [${rep}/${reps}] plain: round ${fmt(plainSample.roundMs, 1)} ms${noiseMark(use.foreign)}`)
    for (const { name, config, dropout } of configs) {
      await waitForQuiet()
      collect()
      meter = cpuMeter()
      const started = performance.now()
      const report = runSecAggRound({ config: { ...config, session: `bench/${rep}/${name}` }, inputs, clock: cpuClock, ...(dropout != null ? { dropout } : {}) })
      report.steps.at(-1)!.serverMs += collect()
      const wall = performance.now() - started
      use = meter.stop()
      const time = simulationTime(report)
      const bytes = totalBytes(report)
      // Check the result against the float sum of the same contributors.
      const step = resolveConfig(config).step
      let maxError = 0
      const contributors = report.result.contributors
      for (let i = 0; i < length; i += 97) {
        let exact = 0
        for (const id of contributors) exact += inputs.get(id)![i]!
        maxError = Math.max(maxError, Math.abs(report.result.sum[i]! - exact))
      }
      if (maxError > contributors.length * step / 2 + 1e-4) throw new Error(`${name}: sum off by ${maxError}`)
      keep({
        name,
        roundMs: time.round,
        roundSlowestMs: time.roundSlowest,
        totalMs: time.total,
        serverMs: time.server,
        clientMs: time.client,
        bytesUp: bytes.up,
        bytesDown: bytes.down,
        foreign: use.foreign,
        report,
        maxError
      })
      log(`  [${rep}/${reps}] ${name}: round ${fmt(time.round, 1)} ms, total CPU ${fmt(time.total)} ms, wall ${fmt(wall)} ms${noiseMark(use.foreign)}`)
    }
  }

  const plain = best.get('plain')!
  const plainBytes = plain.bytesUp + plain.bytesDown
  log()
  log(formatTable(
    ['configuration', 'round ms', '× plain', 'slowest-client round', '× plain', 'total CPU ms', '× plain', 'coordinator ms', 'client ms', 'up MB', 'down MB', 'bytes × plain'],
    [...best.values()].map(s => [
      s.name,
      fmt(s.roundMs, 1) + noiseMark(s.foreign),
      fmt(s.roundMs / plain.roundMs, 2),
      fmt(s.roundSlowestMs, 1),
      fmt(s.roundSlowestMs / plain.roundSlowestMs, 2),
      fmt(s.totalMs),
      fmt(s.totalMs / plain.totalMs, 1),
      fmt(s.serverMs, 1),
      fmt(s.clientMs, 1),
      fmt(s.bytesUp / 1e6, 2),
      fmt(s.bytesDown / 1e6, 2),
      fmt((s.bytesUp + s.bytesDown) / plainBytes, 3)
    ])
  ))
  log()
  log(`goal: round time ≤ ${GOAL_TIME}× plain, bytes (both ways) ≤ ${GOAL_BYTES}× plain`)
  for (const s of best.values()) {
    if (s.report == null) continue
    const okTime = s.roundMs / plain.roundMs <= GOAL_TIME
    const okBytes = (s.bytesUp + s.bytesDown) / plainBytes <= GOAL_BYTES
    log(`  ${s.name}: time ${okTime ? 'met' : 'MISSED'}, bytes ${okBytes ? 'met' : 'MISSED'} (max |error| of the sum ${s.maxError.toExponential(1)})`)
  }
  log()
  log('where the time goes (fastest repetition), CPU ms:')
  const rows: string[][] = []
  for (const s of best.values()) {
    if (s.report == null) continue
    for (const step of s.report.steps) {
      const times = [...step.clientMs.values()]
      rows.push([
        `${s.name} / ${step.step}`,
        fmt(median(times), 1),
        fmt(times.length > 0 ? Math.max(...times) : 0, 1),
        fmt(step.serverMs, 1),
        fmt(step.bytesUp / 1e6, 2),
        fmt(step.bytesDown / 1e6, 2)
      ])
    }
  }
  rows.push(['plain / update', fmt(plain.clientMs, 1), fmt(plain.roundSlowestMs - plain.serverMs, 1), fmt(plain.serverMs, 1), fmt(plain.bytesUp / 1e6, 2), '0.00'])
  log(formatTable(['configuration / step', 'median client', 'slowest client', 'coordinator', 'up MB', 'down MB'], rows))
  if (values.json) {
    log(JSON.stringify([...best.values()].map(({ report: _r, ...rest }) => rest)))
  }
}

await main()
