/**
 * One federated round under secure aggregation, over `/plexus/fl/1.0.0`: the coordinator drives
 * the four steps of Bonawitz et al. (advertise keys, share keys, masked input, unmask) as calls to
 * the round's clients and learns only Σ(updateᵢ, 1); each participant trains between the second
 * and third step and masks its update before it leaves the node.
 */
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import type { Logger } from '../logger.js'
import { SecAggClient, SecAggServer, MAX_CLIENTS, type SecAggConfig } from './secagg/index.js'
import type { JobSpec } from './spec.js'
import type { Learning } from './learning.js'
import type { CallPeer } from './coordinator.js'

export interface SecureRoundInput {
  jobId: string
  round: number
  selected: string[]
  /** Model parameters; the masked vector carries one more coordinate (the contributor count). */
  parameters: number
  threshold: number
  clipRange: number
  deadlineMs: number
  call: CallPeer
  fitMessage: { weights: string, config: Record<string, unknown> }
  logger: Logger
}

/** The configuration both sides derive for a round (the coordinator cannot weaken it). */
export function roundConfig (jobId: string, round: number, spec: Pick<JobSpec, 'secureAggregation'>, parameters: number, maxClients: number): SecAggConfig {
  return {
    session: `${jobId}/${round}`,
    length: parameters + 1,
    extras: 1,
    clipRange: spec.secureAggregation.clipRange,
    threshold: spec.secureAggregation.threshold,
    maxClients,
    minClients: Math.max(2, Math.min(3, maxClients))
  }
}

export async function runSecureRound (i: SecureRoundInput): Promise<{ sum: Float32Array, contributed: string[], trainLoss: number | null }> {
  const maxClients = i.selected.length
  const config = roundConfig(i.jobId, i.round, { secureAggregation: { enabled: true, threshold: i.threshold, clipRange: i.clipRange } }, i.parameters, maxClients)
  const server = new SecAggServer(config)
  const base = { jobId: i.jobId, round: i.round }
  // Each step: ask every client still in, hand what comes back to the server (which refuses and
  // bars a client that sends garbage); a client that fails to answer is simply not in the next set.
  const step = async (peers: string[], message: (peer: string) => object): Promise<Map<string, Record<string, unknown>>> => {
    const replies = new Map<string, Record<string, unknown>>()
    await Promise.all(peers.map(async peer => {
      try {
        const reply = await i.call(peer, message(peer), i.deadlineMs)
        const r = server.receive(peer, reply.message)
        if (r.accepted) replies.set(peer, reply)
        else i.logger.warn({ job: i.jobId, round: i.round, peer, reason: r.error.message }, 'secure aggregation: message refused')
      } catch (err) {
        i.logger.warn({ job: i.jobId, round: i.round, peer, reason: (err as Error).message }, 'secure aggregation: client dropped')
      }
    }))
    return replies
  }
  await step(i.selected, () => ({ type: 'secagg-advertise', ...base, maxClients }))
  const roster = server.closeAdvertise()
  const u1 = roster.clients.map(e => e.client)
  await step(u1, () => ({ type: 'secagg-share', ...base, roster }))
  const shares = server.closeShareKeys()
  const masked = await step([...shares.keys()], peer => ({ type: 'secagg-mask', ...base, shares: shares.get(peer), fit: { round: i.round, ...i.fitMessage } }))
  const request = server.closeMaskedInput()
  await step([...masked.keys()], () => ({ type: 'secagg-unmask', ...base, request }))
  const result = server.finalize()
  let loss = 0
  let n = 0
  for (const peer of result.contributors) {
    const l = masked.get(peer)?.loss
    if (typeof l === 'number' && Number.isFinite(l)) { loss += l; n++ }
  }
  return { sum: result.sum, contributed: result.contributors, trainLoss: n > 0 ? loss / n : null }
}

const Step = z.object({ type: z.string(), jobId: z.string(), round: z.number().int().min(1) })

export interface SecureParticipantComponents {
  /** Trains on the local data for the round's fit request; returns the update. */
  fit: (message: Record<string, unknown>) => Promise<{ update: Float32Array, numExamples: number, loss: number }>
  spec: JobSpec
  learning: Learning
  parameters: () => Promise<number>
  /** This node's peer id (its client id in the protocol). */
  self: string
  jobId: string
}

/** A participant's side of secure rounds for one job (one round at a time). */
export class SecureRoundParticipant {
  readonly #c: SecureParticipantComponents

  #round = 0
  #client: SecAggClient | null = null
  #rosterSize = 0

  constructor (components: SecureParticipantComponents) {
    this.#c = components
  }

  async handle (type: string, message: unknown): Promise<Record<string, unknown>> {
    const m = Step.safeParse(message)
    if (!m.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['malformed secure aggregation step'])
    const { round } = m.data
    const body = message as Record<string, unknown>
    if (type === 'secagg-advertise') {
      const maxClients = z.number().int().min(2).max(MAX_CLIENTS).safeParse(body.maxClients)
      if (!maxClients.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['maxClients out of range'])
      this.#round = round
      this.#client = new SecAggClient(roundConfig(this.#c.jobId, round, this.#c.spec, await this.#c.parameters(), maxClients.data), this.#c.self)
      return { message: this.#client.advertiseKeys() }
    }
    const client = this.#client
    if (client == null || round !== this.#round) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`no secure aggregation in progress for round ${round}`])
    if (type === 'secagg-share') {
      const roster = body.roster as { clients?: unknown[] } | undefined
      this.#rosterSize = Array.isArray(roster?.clients) ? roster.clients.length : 0
      return { message: client.shareKeys(body.roster) }
    }
    if (type === 'secagg-mask') {
      const fit = z.object({ round: z.literal(round) }).passthrough().safeParse(body.fit)
      if (!fit.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['fit request missing or for another round'])
      const r = await this.#c.fit(fit.data)
      const { dp } = this.#c.spec
      // With DP on, the update is clipped and carries its share of the noise before it is masked.
      // Shares are sized for the fewest clients that can complete the round (the threshold), so
      // dropouts never leave the sum with less than the full noise.
      const survivors = Math.max(1, Math.ceil(this.#c.spec.secureAggregation.threshold * this.#rosterSize))
      const update = dp.enabled ? this.#c.learning.dpClientShare(r.update, dp.clipNorm, dp.noiseMultiplier, survivors) : r.update
      const vector = new Float32Array(update.length + 1)
      vector.set(update)
      vector[update.length] = 1
      return { message: client.maskedInput(vector, body.shares), loss: r.loss }
    }
    if (type === 'secagg-unmask') {
      const out = client.unmask(body.request)
      this.#client = null
      return { message: out }
    }
    throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`unknown step '${type}'`])
  }
}
