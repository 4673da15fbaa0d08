/**
 * Runs one whole secure aggregation in-process, for tests, benchmarks and the simulation mode:
 * every message goes through JSON.stringify/JSON.parse as it would on the wire, its size is
 * counted, and the time each party spends is measured. Clients can be scheduled to drop out
 * before any step, and messages can be intercepted (altered) in either direction.
 *
 * @packageDocumentation
 */
import { performance } from 'node:perf_hooks'
import { isPlexusError, type PlexusError } from '../../errors.js'
import { SecAggClient } from './client.js'
import type { SecAggConfig } from './config.js'
import { SecAggServer, type SecAggResult } from './server.js'

export type SimulationStep = 'advertise' | 'share' | 'mask' | 'unmask'
export const SIMULATION_STEPS: readonly SimulationStep[] = ['advertise', 'share', 'mask', 'unmask']

/** Clients that stop answering before a step (they send nothing from then on). */
export type DropoutSchedule = Partial<Record<SimulationStep, readonly string[]>>

export interface SimulationOptions {
  config: SecAggConfig
  /** Each client's input vector, by client id. */
  inputs: ReadonlyMap<string, Float32Array>
  dropout?: DropoutSchedule
  /** Builds the coordinator (an instrumented subclass in tests). */
  server?: (config: SecAggConfig) => SecAggServer
  /**
   * Sees every message before it is serialised and returns what to send instead (the same object
   * to leave it alone). `up`: client → coordinator; `down`: coordinator → client.
   */
  intercept?: (direction: 'up' | 'down', step: SimulationStep, client: string, message: unknown) => unknown
  /**
   * Milliseconds for timing each party; default `performance.now` (wall clock). On a shared
   * machine {@link cpuClock} is steadier: other processes' load does not count.
   */
  clock?: () => number
}

/** Milliseconds of CPU this process has used (user + system), as a clock for {@link SimulationOptions}. */
export function cpuClock (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

/** Where the time of one step went: each client's share (in parallel in a deployment) and the coordinator's. */
export interface StepCost {
  step: SimulationStep
  /** Milliseconds each client spent (serialising and parsing included), by client id. */
  clientMs: Map<string, number>
  /** Milliseconds the coordinator spent receiving, closing the round and serialising what it sends. */
  serverMs: number
  /** Bytes of JSON the clients sent and received in this step. */
  bytesUp: number
  bytesDown: number
}

export interface SimulationReport {
  result: SecAggResult
  steps: StepCost[]
  /** Clients that failed a step (refused a message), with the error. */
  clientErrors: Array<{ client: string, step: SimulationStep, error: PlexusError }>
}

/**
 * Runs rounds 0–3 and `finalize()`.
 *
 * @throws PlexusError `PLX_ERR_SECAGG_ABORTED` when the coordinator aborts the round
 */
export function runSecAggRound (options: SimulationOptions): SimulationReport {
  const { config, inputs, dropout = {} } = options
  const intercept = options.intercept ?? ((_d, _s, _c, m) => m)
  const gone = new Set<string>()
  const clientErrors: SimulationReport['clientErrors'] = []
  const steps: StepCost[] = []
  const clients = new Map<string, SecAggClient>()
  const now = options.clock ?? (() => performance.now())

  let t0 = now()
  const server = options.server?.(config) ?? new SecAggServer(config)
  let serverSetupMs = now() - t0

  /** Runs one client's part of a step; a refusal makes it a dropout. */
  const act = (cost: StepCost, id: string, incoming: string | null, work: (message: unknown) => unknown): void => {
    if (gone.has(id)) return
    if (dropout[cost.step]?.includes(id) === true) { gone.add(id); return }
    const start = now()
    let outgoing: string | null = null
    try {
      const message = incoming == null ? null : JSON.parse(incoming) as unknown
      outgoing = JSON.stringify(intercept('up', cost.step, id, work(message)))
    } catch (err) {
      if (!isPlexusError(err)) throw err
      clientErrors.push({ client: id, step: cost.step, error: err })
      gone.add(id)
    }
    cost.clientMs.set(id, now() - start)
    if (outgoing == null) return
    cost.bytesUp += Buffer.byteLength(outgoing)
    t0 = now()
    server.receive(id, JSON.parse(outgoing))
    cost.serverMs += now() - t0
  }
  const newCost = (step: SimulationStep): StepCost => {
    const cost: StepCost = { step, clientMs: new Map(), serverMs: serverSetupMs, bytesUp: 0, bytesDown: 0 }
    serverSetupMs = 0
    steps.push(cost)
    return cost
  }
  /** JSON of broadcasts, serialised once for all their recipients (unless messages are intercepted). */
  const serialised = new Map<unknown, string>()
  /** Serialises a coordinator message for one client (timed as coordinator work) and counts it. */
  const send = (cost: StepCost, id: string, message: unknown): string => {
    t0 = now()
    let json = options.intercept == null ? serialised.get(message) : undefined
    if (json == null) {
      json = JSON.stringify(intercept('down', cost.step, id, message))
      if (options.intercept == null) serialised.set(message, json)
    }
    cost.serverMs += now() - t0
    cost.bytesDown += Buffer.byteLength(json)
    return json
  }
  const close = <T>(cost: StepCost, f: () => T): T => {
    t0 = now()
    try {
      return f()
    } finally {
      cost.serverMs += now() - t0
    }
  }

  // Coordinator messages are sent (and counted) to every recipient, whether it is still there or not.
  const advertise = newCost('advertise')
  for (const id of inputs.keys()) {
    act(advertise, id, null, () => {
      const client = new SecAggClient(config, id)
      clients.set(id, client)
      return client.advertiseKeys()
    })
  }

  const share = newCost('share')
  const roster = close(share, () => server.closeAdvertise())
  for (const { client: id } of roster.clients) {
    act(share, id, send(share, id, roster), m => clients.get(id)!.shareKeys(m))
  }

  const mask = newCost('mask')
  const mailboxes = close(mask, () => server.closeShareKeys())
  for (const [id, message] of mailboxes) {
    act(mask, id, send(mask, id, message), m => clients.get(id)!.maskedInput(inputs.get(id)!, m))
  }

  const unmask = newCost('unmask')
  const request = close(unmask, () => server.closeMaskedInput())
  for (const id of request.survivors) {
    act(unmask, id, send(unmask, id, request), m => clients.get(id)!.unmask(m))
  }
  const result = close(unmask, () => server.finalize())
  return { result, steps, clientErrors }
}

/** Total bytes each way over a simulation. */
export function totalBytes (report: SimulationReport): { up: number, down: number } {
  return report.steps.reduce((acc, s) => ({ up: acc.up + s.bytesUp, down: acc.down + s.bytesDown }), { up: 0, down: 0 })
}

/**
 * Time measures of a simulation, in milliseconds.
 * - `round`: for each step, the median client plus the coordinator, summed over the steps — how long
 *   the round takes when every client runs on its own machine (network time excluded). The median
 *   stands for a typical client: in one process, the slowest of many is mostly whoever was caught by
 *   a garbage collection or by another process.
 * - `roundSlowest`: the same with the slowest client of each step.
 * - `total`: everything every party did, one after the other (what a one-process simulation costs).
 * - `server`: the coordinator alone; `client`: the median client, summed over the steps.
 */
export function simulationTime (report: SimulationReport): { round: number, roundSlowest: number, total: number, server: number, client: number } {
  let round = 0
  let roundSlowest = 0
  let total = 0
  let server = 0
  let client = 0
  for (const s of report.steps) {
    const times = [...s.clientMs.values()].sort((a, b) => a - b)
    const median = times.length === 0 ? 0 : times.length % 2 === 1 ? times[times.length >> 1]! : (times[times.length / 2 - 1]! + times[times.length / 2]!) / 2
    const slowest = times.at(-1) ?? 0
    round += s.serverMs + median
    roundSlowest += s.serverMs + slowest
    total += s.serverMs + times.reduce((a, b) => a + b, 0)
    server += s.serverMs
    client += median
  }
  return { round, roundSlowest, total, server, client }
}
