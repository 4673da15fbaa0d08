/**
 * The contracts between the parts of federated learning. Models travel as a tfjs layers topology
 * plus one flat Float32Array of all weights (in `model.getWeights()` order, concatenated), so that
 * updates can be clipped, noised, quantised, masked and summed as plain vectors.
 *
 * - trainer.ts: trains/evaluates a model on local data in a worker thread (tfjs, wasm backend).
 * - strategies/: server optimisers (FedAvg, FedProx, FedAdam, FedYogi, FedAdagrad) behind `Strategy`.
 * - robust/: aggregation rules over individual updates (weighted mean, norm bounding, median,
 *   trimmed mean, Krum, Multi-Krum) behind `UpdateAggregator`.
 * - dp/: clipping, Gaussian noise and the RDP accountant.
 * - secagg/: secure aggregation (Bonawitz et al. 2017): the coordinator learns only the sum.
 * - coordinator.ts / participant.ts / service.ts: jobs over `/plexus/fl/1.0.0`.
 *
 * @packageDocumentation
 */

/** What a participant needs to rebuild the model: a tfjs layers topology and the loss to train with. */
export interface ModelDescriptor {
  /** `model.toJSON(null, false)` of a tfjs LayersModel (parsed JSON object). */
  topology: Record<string, unknown>
  loss: 'binaryCrossentropy' | 'sparseCategoricalCrossentropy'
}

/** A participant's local data, already numeric: rows × features, row-major. */
export interface LocalDataset {
  x: Float32Array
  /** Class index per row (0/1 for binary). */
  y: Int32Array
  rows: number
  features: number
}

export interface TrainConfig {
  epochs: number
  batchSize: number
  learningRate: number
  /** FedProx proximal term μ (0 = plain local SGD). */
  proximalMu: number
  /** Seeds shuffling (and initialisation where relevant): same seed, same result. */
  seed: number
}

export interface FitOutcome {
  /** Local weights after training, flat. The update is `weights − global`. */
  weights: Float32Array
  numExamples: number
  /** Mean training loss of the last local epoch. */
  loss: number
}

export interface EvaluateOutcome {
  numExamples: number
  loss: number
  accuracy: number
}

/** One client's contribution to a round, as the coordinator sees it without secure aggregation. */
export interface ClientUpdate {
  clientId: string
  numExamples: number
  /** `local weights − global weights`, flat. */
  update: Float32Array
}

/** Combines individual updates into one delta (the robust rules live here). */
export interface UpdateAggregator {
  readonly name: string
  /** Needs to see individual updates (so cannot work under secure aggregation). */
  readonly needsIndividualUpdates: boolean
  aggregate: (updates: ClientUpdate[]) => Float32Array
}

/** A server optimiser: turns the round's aggregated delta into the next global model. */
export interface Strategy {
  readonly name: string
  /** Proximal μ clients should use (FedProx); 0 otherwise. */
  readonly proximalMu: number
  /** Returns the next global weights (must not modify its inputs). */
  apply: (round: number, global: Float32Array, delta: Float32Array) => Float32Array
  /** Optimiser state, for resuming a coordinator after a restart. */
  state: () => Record<string, number[] | number>
  restore: (state: Record<string, number[] | number>) => void
}

/** Per-round record kept in a job's history. */
export interface RoundRecord {
  round: number
  startedAt: string
  finishedAt: string
  /** Clients asked, clients whose update counted. */
  selected: string[]
  contributed: string[]
  dropped: string[]
  trainLoss: number | null
  evaluation: { loss: number, accuracy: number, numExamples: number } | null
  /** Privacy spent so far (with DP on). */
  epsilon: number | null
  /** Set when the round aborted (secure aggregation below its threshold): why. The model did not change. */
  aborted?: string
}
