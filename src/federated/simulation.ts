/**
 * Federated learning without a network: {@link runSimulation} runs a whole job (client sampling,
 * local training in {@link LocalTrainer} workers, the aggregation rule, optional DP-FedAvg with
 * its accountant, the server strategy, evaluation) over an array of local datasets. Tests and
 * benchmarks use it; the networked coordinator uses the per-round pieces it is built from:
 *
 * - {@link sampleClients} — who trains this round;
 * - {@link toClientUpdate} — a fit outcome as the update `local − global`;
 * - {@link aggregateRound} — checks each update, leaves out bad ones, then either the rule or
 *   DP-FedAvg;
 * - `strategy.apply(round, global, delta)` — the next global model;
 * - {@link meanFitLoss} / {@link combineEvaluations} — the round's sample-weighted metrics;
 * - {@link checkCombination} — refuses settings that cannot work together.
 *
 * @packageDocumentation
 */

import { PlexusError, isPlexusError } from '../errors.js'
import { Rng, deriveSeed } from './dp/rng.js'
import { dpMean } from './dp/dp-fedavg.js'
import { RdpAccountant } from './dp/rdp.js'
import { validateUpdate, MAX_NUM_EXAMPLES } from './robust/vectors.js'
import { initialWeights, inspectModel } from './model.js'
import { LocalTrainer } from './trainer.js'
import type { ClientUpdate, EvaluateOutcome, FitOutcome, LocalDataset, ModelDescriptor, RoundRecord, Strategy, TrainConfig, UpdateAggregator } from './types.js'

/** Client sampling of one round. */
export interface SamplingConfig {
  /** Fraction C of the clients asked each round (McMahan et al.'s C). */
  fraction: number
  /** At least this many (capped by the number of clients). */
  minClients: number
  seed: number
}

/** DP-FedAvg settings of a simulation. */
export interface SimulationDp {
  clipNorm: number
  noiseMultiplier: number
  delta: number
  /** Stop before a round would take ε beyond this. */
  epsilonBudget?: number
  /** Noise source; default: seeded from the simulation's seed (reproducible, not private). */
  rng?: Rng
}

/**
 * The clients of a round: m = max(minClients, ⌈fraction·K⌉) of the K ids (at most K), drawn
 * uniformly without replacement with a generator seeded by (seed, round). Returned in id order.
 */
export function sampleClients (ids: readonly string[], round: number, config: SamplingConfig): string[] {
  const { fraction, minClients, seed } = config
  if (!(fraction > 0 && fraction <= 1)) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`client fraction must be in (0, 1], got ${fraction}`])
  if (!Number.isInteger(minClients) || minClients < 1) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`minClients must be a whole number ≥ 1, got ${minClients}`])
  const m = Math.min(ids.length, Math.max(minClients, Math.ceil(fraction * ids.length)))
  const perm = Rng.seeded(deriveSeed(seed, round, 0x5a3b)).permutation(ids.length)
  const chosen = Array.from(perm.subarray(0, m)).sort((a, b) => a - b)
  return chosen.map(i => ids[i]!)
}

/** A client's fit outcome as its update: `local weights − global weights`. */
export function toClientUpdate (clientId: string, global: Float32Array, outcome: FitOutcome): ClientUpdate {
  validateUpdate(clientId, outcome.weights, global.length)
  const update = new Float32Array(global.length)
  for (let i = 0; i < update.length; i++) update[i] = outcome.weights[i]! - global[i]!
  return { clientId, numExamples: outcome.numExamples, update }
}

/** The outcome of {@link aggregateRound}. */
export interface RoundAggregate {
  delta: Float32Array
  /** Clients whose update counted. */
  contributed: string[]
  /** Clients whose update was refused, with the reason. */
  rejected: Array<{ clientId: string, reason: string }>
}

/**
 * Combines a round's updates: each is checked (length, finite values, example count) and bad
 * ones are left out; then, without DP, the aggregation rule runs on the rest, and with DP,
 * DP-FedAvg (clip to C, sum, N(0, σ²C²), divide by `expectedClients`).
 */
export function aggregateRound (updates: readonly ClientUpdate[], options: {
  parameters: number
  aggregator: UpdateAggregator
  dp?: { clipNorm: number, noiseMultiplier: number, expectedClients: number, rng: Rng }
}): RoundAggregate {
  const ok: ClientUpdate[] = []
  const rejected: RoundAggregate['rejected'] = []
  for (const u of updates) {
    try {
      validateUpdate(u.clientId, u.update, options.parameters)
      if (!Number.isInteger(u.numExamples) || u.numExamples < 1 || u.numExamples > MAX_NUM_EXAMPLES) {
        throw new PlexusError('PLX_ERR_FL_UPDATE_INVALID', [u.clientId, `numExamples ${u.numExamples} is not an integer in 1…${MAX_NUM_EXAMPLES}`])
      }
      ok.push(u)
    } catch (err) {
      if (!isPlexusError(err)) throw err
      rejected.push({ clientId: u.clientId, reason: err.message })
    }
  }
  if (ok.length === 0) throw new PlexusError('PLX_ERR_FL_AGGREGATION', [updates.length === 0 ? 'no client update to aggregate' : `all ${updates.length} updates were refused`])
  const delta = options.dp != null
    ? dpMean(ok.map(u => u.update), { clipNorm: options.dp.clipNorm, noiseMultiplier: options.dp.noiseMultiplier, denominator: options.dp.expectedClients }, options.dp.rng)
    : options.aggregator.aggregate(ok)
  return { delta, contributed: ok.map(u => u.clientId), rejected }
}

/** Sample-weighted mean of the clients' training losses (null for none). */
export function meanFitLoss (outcomes: ReadonlyArray<Pick<FitOutcome, 'numExamples' | 'loss'>>): number | null {
  const n = outcomes.reduce((s, o) => s + o.numExamples, 0)
  return n === 0 ? null : outcomes.reduce((s, o) => s + o.loss * o.numExamples, 0) / n
}

/** Sample-weighted loss and accuracy over several evaluations (null for none). */
export function combineEvaluations (outcomes: readonly EvaluateOutcome[]): RoundRecord['evaluation'] {
  const n = outcomes.reduce((s, o) => s + o.numExamples, 0)
  if (n === 0) return null
  return {
    loss: outcomes.reduce((s, o) => s + o.loss * o.numExamples, 0) / n,
    accuracy: outcomes.reduce((s, o) => s + o.accuracy * o.numExamples, 0) / n,
    numExamples: n
  }
}

/**
 * Refuses settings that cannot work together: a rule that needs individual updates under secure
 * aggregation (which hides them), and DP with a rule other than the mean or norm bounding (the
 * DP noise is calibrated to a clipped sum, not to a median or a Krum choice).
 */
export function checkCombination (options: { aggregator: UpdateAggregator, secureAggregation?: boolean, dp?: boolean }): void {
  const { aggregator } = options
  if (options.secureAggregation === true && aggregator.needsIndividualUpdates) {
    throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`the '${aggregator.name}' rule needs each client's update, which secure aggregation hides; use 'mean' (clients can clip for norm bounding themselves)`])
  }
  if (options.dp === true && !['mean', 'norm-bound'].includes(aggregator.name)) {
    throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`DP-FedAvg's noise is calibrated to a clipped sum; the '${aggregator.name}' rule would not keep its guarantee`])
  }
}

/** Everything a simulated job needs. */
export interface SimulationOptions {
  descriptor: ModelDescriptor
  /** One dataset per client. */
  clients: readonly LocalDataset[]
  /** Client ids (default `client-0`, `client-1`, …). */
  clientIds?: readonly string[]
  /** Datasets the global model is evaluated on (sample-weighted); none: no evaluation. */
  evaluation?: readonly LocalDataset[]
  /** Last round to run. */
  rounds: number
  /** First round to run (default 1): resuming a job, give its state in `initial` and the strategy. */
  startRound?: number
  /** Fraction of clients per round (default 1) and the minimum (default 1). */
  fraction?: number
  minClients?: number
  /** Local training of each client per round (μ comes from the strategy, the seed from `seed`). */
  train: Omit<TrainConfig, 'proximalMu' | 'seed'>
  strategy: Strategy
  aggregator: UpdateAggregator
  dp?: SimulationDp
  /** Evaluate every k rounds (and after the last); default 1. */
  evaluateEvery?: number
  seed: number
  /** Starting weights (default: `initialWeights(descriptor, seed)`). */
  initial?: Float32Array
  /** Trainers to use, in parallel; default: one, created and closed by the simulation. */
  trainers?: readonly LocalTrainer[]
  /** Changes a client's update before aggregation (to simulate an attacker). */
  tamper?: (update: ClientUpdate, round: number) => ClientUpdate
  /** Called after each round with its record and the new global weights. */
  onRound?: (record: RoundRecord, weights: Float32Array) => void
  signal?: AbortSignal
}

export interface SimulationResult {
  weights: Float32Array
  history: RoundRecord[]
  /** ε spent (DP on), else null. */
  epsilon: number | null
  /** Why the job ended before its last round, or null. */
  stopped: string | null
}

/** Runs `items` through `work` on up to `trainers.length` trainers at once, keeping order. */
async function onTrainers<T, R> (trainers: readonly LocalTrainer[], items: readonly T[], work: (trainer: LocalTrainer, item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  await Promise.all(trainers.map(async trainer => {
    while (next < items.length) {
      const i = next++
      out[i] = await work(trainer, items[i]!)
    }
  }))
  return out
}

/** Runs a federated job in process; see the module note. */
export async function runSimulation (options: SimulationOptions): Promise<SimulationResult> {
  const { descriptor, clients, strategy, aggregator, dp, seed } = options
  const info = inspectModel(descriptor)
  if (clients.length === 0) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', ['a simulation needs at least one client'])
  const startRound = options.startRound ?? 1
  if (!Number.isInteger(startRound) || startRound < 1 || !Number.isInteger(options.rounds) || options.rounds < startRound) {
    throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', [`rounds must be whole numbers with 1 ≤ startRound ≤ rounds, got ${startRound} and ${options.rounds}`])
  }
  const ids = options.clientIds ?? clients.map((_, i) => `client-${i}`)
  if (ids.length !== clients.length || new Set(ids).size !== ids.length) throw new PlexusError('PLX_ERR_FL_CONFIG_INVALID', ['clientIds must be unique, one per client'])
  const index = new Map(ids.map((id, i) => [id, i]))
  checkCombination({ aggregator, dp: dp != null })
  const sampling: SamplingConfig = { fraction: options.fraction ?? 1, minClients: options.minClients ?? 1, seed }
  const evaluateEvery = options.evaluateEvery ?? 1
  const accountant = dp != null ? new RdpAccountant({ delta: dp.delta }) : null
  const noiseRng = dp?.rng ?? Rng.seeded(deriveSeed(seed, 0xd9))
  const owned = options.trainers == null || options.trainers.length === 0
  const trainers = owned ? [new LocalTrainer()] : options.trainers!
  let weights = options.initial != null ? new Float32Array(options.initial) : initialWeights(descriptor, seed)
  if (weights.length !== info.parameterCount) throw new PlexusError('PLX_ERR_FL_MODEL_INVALID', [`${weights.length} initial weights, the model has ${info.parameterCount}`])
  const history: RoundRecord[] = []
  let stopped: string | null = null
  try {
    for (let round = startRound; round <= options.rounds; round++) {
      if (options.signal?.aborted === true) throw new PlexusError('PLX_ERR_ABORTED', [], { cause: options.signal.reason })
      const selected = sampleClients(ids, round, sampling)
      const q = selected.length / ids.length
      if (accountant != null && dp?.epsilonBudget != null) {
        const next = accountant.epsilonIfStep(q, dp.noiseMultiplier)
        if (next > dp.epsilonBudget) {
          stopped = `privacy budget spent: round ${round} would reach ε = ${next.toFixed(3)} > ${dp.epsilonBudget}`
          break
        }
      }
      const startedAt = new Date().toISOString()
      const global = weights
      const fits = await onTrainers(trainers, selected, async (trainer, id) => {
        const k = index.get(id)!
        const config: TrainConfig = { ...options.train, proximalMu: strategy.proximalMu, seed: deriveSeed(seed, round, k) }
        const outcome = await trainer.fit(descriptor, global, clients[k]!, config, { signal: options.signal })
        let update = toClientUpdate(id, global, outcome)
        if (options.tamper != null) update = options.tamper(update, round)
        return { outcome, update }
      })
      const agg = aggregateRound(fits.map(f => f.update), {
        parameters: info.parameterCount,
        aggregator,
        dp: dp != null ? { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier, expectedClients: selected.length, rng: noiseRng } : undefined
      })
      weights = strategy.apply(round, global, agg.delta)
      accountant?.step(q, dp!.noiseMultiplier)
      const evaluate = options.evaluation != null && options.evaluation.length > 0 && (round % evaluateEvery === 0 || round === options.rounds)
      const next = weights
      const evaluation = evaluate
        ? combineEvaluations(await onTrainers(trainers, options.evaluation!, async (trainer, data) => await trainer.evaluate(descriptor, next, data, { signal: options.signal })))
        : null
      const record: RoundRecord = {
        round,
        startedAt,
        finishedAt: new Date().toISOString(),
        selected,
        contributed: agg.contributed,
        dropped: agg.rejected.map(r => r.clientId),
        trainLoss: meanFitLoss(fits.filter(f => agg.contributed.includes(f.update.clientId)).map(f => f.outcome)),
        evaluation,
        epsilon: accountant?.epsilon ?? null
      }
      history.push(record)
      options.onRound?.(record, weights)
    }
  } finally {
    if (owned) await Promise.all(trainers.map(async t => await t.close()))
  }
  return { weights, history, epsilon: accountant?.epsilon ?? null, stopped }
}
