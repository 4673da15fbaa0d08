/**
 * Federated learning at scale, in process: 1,000 simulated clients (the `mnist` package's 8,000
 * training digits, 8 per client, stratified), multinomial logistic regression (7,850 parameters),
 * one local epoch of one batch of 8 per client per round, FedAvg. Reported: time per round with all
 * 1,000 clients and with 10 % of them, on one and on two trainer workers; what each aggregation
 * rule costs on 1,000 updates; and the accountant.
 *
 * Baseline, same run, same trainer: one centralized epoch over the same 8,000 rows with batch 8 —
 * the same 1,000 SGD steps a full round makes, without the per-client work (a message to the
 * worker and back, loading the global weights, building the client's tensors, computing the
 * update). round/baseline is what federating those steps costs. Aggregation rules are compared
 * with the sample-weighted mean on the same updates.
 *
 * Timings depend on the machine's load: `*` marks a measurement during which other processes used
 * more than 0.25 cores.
 *
 * Run: `npm run bench -- fl-scale [--clients 1000] [--rounds 3] [--parallel 1,2] [--json]`.
 *
 * @packageDocumentation
 */
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { LocalTrainer } from '../src/federated/trainer.js'
import { logisticRegression, initialWeights, parameterCount } from '../src/federated/model.js'
import { stratifiedSplit } from '../src/federated/datasets.js'
import { runSimulation } from '../src/federated/simulation.js'
import { createStrategy } from '../src/federated/strategies/index.js'
import { createAggregator, type AggregatorSpec } from '../src/federated/robust/index.js'
import { Rng, dpMean, epsilonFor, gaussianNoise } from '../src/federated/dp/index.js'
import type { ClientUpdate } from '../src/federated/types.js'
import { cpuMeter } from './lib/cpu-meter.js'
import { noiseMark, waitForQuiet } from './lib/quiet.js'
import { log, mnistSplit, saveResult } from './lib/federated.js'
import { fmt, formatTable, median } from './lib/stats.js'

async function timed<T> (work: () => Promise<T> | T): Promise<{ value: T, seconds: number, mark: string }> {
  await waitForQuiet(5_000)
  const meter = cpuMeter()
  const t0 = performance.now()
  const value = await work()
  const seconds = (performance.now() - t0) / 1000
  return { value, seconds, mark: noiseMark(meter.stop().foreign) }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '3' },
      parallel: { type: 'string', default: '1,2' },
      json: { type: 'boolean', default: false }
    }
  })
  const nClients = Number(values.clients)
  const rounds = Number(values.rounds)
  const parallel = values.parallel.split(',').map(Number)
  const { train, test } = await mnistSplit(1)
  const clients = stratifiedSplit(train, nClients, 1)
  const descriptor = logisticRegression(784, 10)
  const initial = initialWeights(descriptor, 1)
  const local = { epochs: 1, batchSize: Math.ceil(train.rows / nClients), learningRate: 0.1 }
  const trainers = await Promise.all(Array.from({ length: Math.max(...parallel) }, async () => await LocalTrainer.create()))
  log(`${nClients} clients × ${clients[0]!.rows}–${clients.at(-1)!.rows} rows, logistic regression (${parameterCount(descriptor)} parameters), batch ${local.batchSize}, FedAvg, ${rounds} rounds per setting`)

  // Baseline: the same SGD steps as one full round, centrally. Measured before and after the
  // rounds; the faster one counts (the other engineers' tests share this machine).
  await trainers[0]!.fit(descriptor, initial, clients[0]!, { ...local, proximalMu: 0, seed: 1 }) // warm-up
  const baseline = async (): Promise<Awaited<ReturnType<typeof timed>>> => await timed(async () => await trainers[0]!.fit(descriptor, initial, train, { ...local, proximalMu: 0, seed: 1 }))
  const bases = [await baseline()]

  const rows: string[][] = []
  const results: Array<Record<string, unknown>> = []
  for (const fraction of [1, 0.1]) {
    for (const p of parallel) {
      const perRound: number[] = []
      let last = performance.now()
      let accuracy = 0
      const run = await timed(async () => await runSimulation({
        descriptor, clients, rounds, fraction, train: local, initial, seed: 1,
        strategy: createStrategy({ name: 'fedavg' }), aggregator: createAggregator({ rule: 'mean' }), trainers: trainers.slice(0, p),
        onRound: () => {
          const now = performance.now()
          perRound.push((now - last) / 1000)
          last = now
        }
      }))
      accuracy = (await trainers[0]!.evaluate(descriptor, run.value.weights, test)).accuracy
      const best = Math.min(...perRound)
      const perClient = best / Math.ceil(fraction * nClients) * 1000
      rows.push([`${Math.ceil(fraction * nClients)}`, String(p), `${fmt(best, 2)}${run.mark}`, fmt(median(perRound), 2), fmt(perClient, 2), fraction === 1 ? 'BASE' : '–', fmt(accuracy * 100, 1)])
      results.push({ fraction, parallel: p, perRoundSeconds: perRound, perClientMs: perClient, accuracy, disturbed: run.mark !== '' })
    }
  }
  bases.push(await baseline())
  const base = bases.reduce((a, b) => a.seconds <= b.seconds ? a : b)
  for (const r of rows) if (r[5] === 'BASE') r[5] = fmt(Number.parseFloat(r[2]!) / base.seconds, 2)
  await Promise.all(trainers.map(async t => await t.close()))
  log(`baseline: one centralized epoch, ${train.rows} rows in batches of ${local.batchSize}: ${fmt(base.seconds, 2)} s${base.mark} (best of ${bases.map(b => fmt(b.seconds, 2)).join(', ')})`)
  log()
  log(formatTable(['clients/round', 'workers', 's/round (best)', 's/round (median)', 'ms/client', 'round/baseline', `acc after ${rounds} rounds %`], rows))

  // Aggregation rules on nClients updates of the model's size.
  const rng = Rng.seeded(7)
  const d = parameterCount(descriptor)
  const updates: ClientUpdate[] = Array.from({ length: nClients }, (_, i) => ({ clientId: `c${i}`, numExamples: 8, update: gaussianNoise(d, 0.01, rng) }))
  const specs: AggregatorSpec[] = [
    { rule: 'mean' }, { rule: 'norm-bound', maxNorm: 0.5 }, { rule: 'median' }, { rule: 'trimmed-mean', beta: 0.1 },
    { rule: 'krum', byzantine: Math.floor(nClients / 10) }, { rule: 'multi-krum', byzantine: Math.floor(nClients / 10) }
  ]
  const aggRows: string[][] = []
  let meanSeconds = 0
  for (const spec of specs) {
    const agg = createAggregator(spec)
    const t = await timed(() => agg.aggregate(updates))
    if (spec.rule === 'mean') meanSeconds = t.seconds
    aggRows.push([Object.values(spec).join(' '), `${fmt(t.seconds * 1000, 0)}${t.mark}`, fmt(t.seconds / meanSeconds, 1)])
    results.push({ aggregator: spec, seconds: t.seconds, disturbed: t.mark !== '' })
  }
  const dp = await timed(() => dpMean(updates.map(u => u.update), { clipNorm: 0.5, noiseMultiplier: 1, denominator: nClients }, Rng.crypto()))
  aggRows.push(['DP-FedAvg (clip, crypto noise)', `${fmt(dp.seconds * 1000, 0)}${dp.mark}`, fmt(dp.seconds / meanSeconds, 1)])
  log()
  log(`Aggregating ${nClients} updates of ${d} values:`)
  log(formatTable(['rule', 'ms', '× mean'], aggRows))
  const acct = await timed(() => epsilonFor(Array.from({ length: 1000 }, () => ({ q: 0.1, sigma: 1 })), 1e-5))
  log(`\nRDP accountant: ε after 1,000 rounds (q = 0.1, σ = 1, δ = 1e-5) = ${fmt(acct.value, 3)}, computed in ${fmt(acct.seconds * 1000, 1)} ms${acct.mark}`)
  if (values.json) log(`results: ${await saveResult('fl-scale', { baselineSeconds: bases.map(b => b.seconds), results, dpSeconds: dp.seconds, accountantSeconds: acct.seconds })}`)
}

await main()
