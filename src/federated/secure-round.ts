/**
 * One federated round under secure aggregation, over `/plexus/fl/1.0.0`: the coordinator drives
 * the four steps of Bonawitz et al. (advertise keys, share keys, masked input, unmask) as calls to
 * the round's clients and learns only the sums below; each participant trains between the second
 * and third step and masks its update before it leaves the node.
 *
 * ## Sample-weighted FedAvg under secure aggregation
 *
 * Client k with n_k examples sends the vector (s_k·u_k, w_k), masked, where u_k is its update,
 * w_k = min(n_k, W) its weight (an exact integer coordinate), W = `secureAggregation.maxWeight`
 * and s_k = w_k / W ≤ 1. The coordinator learns Σ s_k·u_k and Σ w_k only, and takes
 * Δ = W·Σ s_k·u_k / Σ w_k = Σ w_k·u_k / Σ w_k: FedAvg's weighted mean. Because s_k ≤ 1, the
 * per-coordinate clip range ±R of the quantisation still bounds what an honest update needs (and
 * caps what one client can add, whatever n_k it claims). Each client's rounding error is at most
 * Δq/2 per coordinate (Δq = R / (2^(bits−1) − 1)), so Δ is within W·m·Δq/(2·Σ w_k) of the
 * weighted mean of the clipped updates for m contributors (see {@link secureMeanFromSum}).
 *
 * ## With differential privacy
 *
 * DP-FedAvg bounds each client's contribution to the sum by the clip norm C and calibrates the
 * noise to that. A weight n_k would multiply that sensitivity, so with DP on every client weighs 1
 * (w_k = 1, s_k = 1), exactly as the trusted-coordinator path (`dpMean`) is unweighted: each client
 * clips u_k to C, adds its share N(0, σ²C²/t) of the noise (t: the fewest clients that can
 * complete the round, so the sum of the survivors always carries at least the full noise σC), and
 * masks that; the coordinator divides the noisy sum by the number of contributors (Σ w_k, itself
 * an exact coordinate). Clipping and noise apply to the update only, never to the weight. The
 * accountant charges every round, aborted ones included (conservative).
 *
 * ## Dropouts and aborts
 *
 * Clients that fail a step are left out; the round completes while at least the threshold of its
 * clients survive each step. Below it the round aborts (`PLX_ERR_SECAGG_ABORTED`): the coordinator
 * records the round as aborted, keeps the model as it was and goes on with the next round (see
 * coordinator.ts). A participant answers at most one unmask request per round and refuses to
 * start a round again once it has, so a coordinator cannot collect two sums of one round over
 * different sets of survivors (e.g. after claiming an abort).
 *
 * ## Signed keys
 *
 * Each participant signs its advertised keys with its node key (secagg/attest.ts); the coordinator
 * drops an advert without a valid signature and relays the signatures with the roster, and each
 * participant refuses a roster holding any key its named owner did not sign. So a coordinator
 * cannot slip its own keys in under another participant's id to learn that participant's masks.
 */
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import type { Logger } from '../logger.js'
import { SecAggClient, SecAggServer, MAX_CLIENTS, attestKeys, isAttested, unattestedClient, type SecAggConfig } from './secagg/index.js'
import type { PeerSigner } from '../ledger/peer-keys.js'
import { clipToNorm } from './robust/vectors.js'
import type { JobSpec } from './spec.js'
import type { Learning } from './learning.js'
import type { CallPeer } from './coordinator.js'
import type { FederatedTestHooks } from './test-hooks.js'

export interface SecureRoundInput {
  jobId: string
  round: number
  selected: string[]
  /** Model parameters; the masked vector carries one more coordinate (the weight). */
  parameters: number
  spec: Pick<JobSpec, 'secureAggregation'>
  deadlineMs: number
  call: CallPeer
  fitMessage: { weights: string, config: Record<string, unknown> }
  logger: Logger
}

export interface SecureRoundResult {
  /** Σ s_k·u_k and, last, Σ w_k, dequantised. */
  sum: Float32Array
  /** The same sum in the integer domain (exact). */
  quantisedSum: Int32Array
  contributed: string[]
  trainLoss: number | null
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

/** W: the weight of a client with W or more examples (1 for every client with DP on). */
export function secureWeightCap (spec: Pick<JobSpec, 'secureAggregation' | 'dp'>): number {
  return spec.dp.enabled ? 1 : spec.secureAggregation.maxWeight
}

/**
 * What a client masks: (s·u, w) with w = min(n, W), s = w / W — or, with DP on, (clip(u, C) +
 * its noise share, 1). `survivors` sizes the noise share. Robust rule `norm-bound` clips u to its
 * norm first (the coordinator cannot: it never sees u).
 */
export function secureClientVector (update: Float32Array, numExamples: number, spec: Pick<JobSpec, 'secureAggregation' | 'dp' | 'robust'>, survivors: number, learning: Pick<Learning, 'dpClientShare'>): Float32Array {
  if (!Number.isInteger(numExamples) || numExamples < 1) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`numExamples ${numExamples} is not a positive whole number`])
  const { dp } = spec
  const vector = new Float32Array(update.length + 1)
  let u = update
  if (spec.robust.rule === 'norm-bound') u = clipToNorm(u, spec.robust.maxNorm)
  if (dp.enabled) {
    vector.set(learning.dpClientShare(u, dp.clipNorm, dp.noiseMultiplier, survivors))
    vector[update.length] = 1
    return vector
  }
  const cap = secureWeightCap(spec)
  const w = Math.min(numExamples, cap)
  const scale = w / cap
  for (let i = 0; i < u.length; i++) vector[i] = u[i]! * scale
  vector[update.length] = w
  return vector
}

/**
 * The round's update from the secure sum: W·Σ s_k·u_k / Σ w_k (Σ w_k is the last coordinate).
 *
 * @throws PlexusError `PLX_ERR_FL_AGGREGATION` when the sum holds no weight
 */
export function secureMeanFromSum (sum: Float32Array, parameters: number, spec: Pick<JobSpec, 'secureAggregation' | 'dp'>): Float32Array {
  const weight = Math.round(sum[parameters] ?? 0)
  if (weight < 1) throw new PlexusError('PLX_ERR_FL_AGGREGATION', ['the secure sum holds no client weight'])
  const f = secureWeightCap(spec) / weight
  const delta = new Float32Array(parameters)
  for (let i = 0; i < parameters; i++) delta[i] = (sum[i] ?? 0) * f
  return delta
}

/**
 * Runs the four steps with the selected clients.
 *
 * @throws PlexusError `PLX_ERR_SECAGG_ABORTED` when too few clients survive a step
 */
export async function runSecureRound (i: SecureRoundInput): Promise<SecureRoundResult> {
  const maxClients = i.selected.length
  const config = roundConfig(i.jobId, i.round, i.spec, i.parameters, maxClients)
  const server = new SecAggServer(config)
  const base = { jobId: i.jobId, round: i.round }
  // Each step: ask every client still in, hand what comes back to the server (which refuses and
  // bars a client that sends garbage); a client that fails to answer is simply not in the next set.
  const step = async (peers: string[], message: (peer: string) => object, attested = false): Promise<Map<string, Record<string, unknown>>> => {
    const replies = new Map<string, Record<string, unknown>>()
    await Promise.all(peers.map(async peer => {
      try {
        const reply = await i.call(peer, message(peer), i.deadlineMs)
        if (attested && !isAttested(reply.message, reply.keySignature)) {
          i.logger.warn({ job: i.jobId, round: i.round, peer }, 'secure aggregation: keys not signed by their node; left out')
          return
        }
        const r = server.receive(peer, reply.message)
        if (r.accepted) replies.set(peer, reply)
        else i.logger.warn({ job: i.jobId, round: i.round, peer, reason: r.error.message }, 'secure aggregation: message refused')
      } catch (err) {
        i.logger.warn({ job: i.jobId, round: i.round, peer, reason: (err as Error).message }, 'secure aggregation: client dropped')
      }
    }))
    return replies
  }
  const adverts = await step(i.selected, () => ({ type: 'secagg-advertise', ...base, maxClients }), true)
  const roster = server.closeAdvertise()
  const u1 = roster.clients.map(e => e.client)
  const attestations = Object.fromEntries(u1.map(c => [c, adverts.get(c)?.keySignature]))
  await step(u1, () => ({ type: 'secagg-share', ...base, roster, attestations }))
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
  return { sum: result.sum, quantisedSum: result.quantisedSum, contributed: result.contributors, trainLoss: n > 0 ? loss / n : null }
}

const Step = z.object({ type: z.string(), jobId: z.string(), round: z.number().int().min(1) })

export interface SecureParticipantComponents {
  /** Trains on the local data for the round's fit request; returns the update. */
  fit: (message: Record<string, unknown>) => Promise<{ update: Float32Array, numExamples: number, loss: number }>
  spec: JobSpec
  learning: Learning
  parameters: () => Promise<number>
  /** This node's key; its peer id is its client id in the protocol. */
  signer: PeerSigner
  jobId: string
  hooks?: FederatedTestHooks
}

/** A participant's side of secure rounds for one job (one round at a time). */
export class SecureRoundParticipant {
  readonly #c: SecureParticipantComponents

  #round = 0
  #client: SecAggClient | null = null
  #rosterSize = 0
  /** Last round whose unmask request this participant answered. */
  #unmasked = 0

  constructor (components: SecureParticipantComponents) {
    this.#c = components
  }

  async handle (type: string, message: unknown): Promise<Record<string, unknown>> {
    const m = Step.safeParse(message)
    if (!m.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['malformed secure aggregation step'])
    const { round } = m.data
    const body = message as Record<string, unknown>
    await this.#c.hooks?.beforeSecureStep?.({ jobId: this.#c.jobId, round, type })
    if (type === 'secagg-advertise') {
      if (round <= this.#unmasked) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`round ${round} was already unmasked here (last: ${this.#unmasked}); a round is aggregated once`])
      const maxClients = z.number().int().min(2).max(MAX_CLIENTS).safeParse(body.maxClients)
      if (!maxClients.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['maxClients out of range'])
      this.#round = round
      this.#client = new SecAggClient(roundConfig(this.#c.jobId, round, this.#c.spec, await this.#c.parameters(), maxClients.data), this.#c.signer.peerId)
      const advert = this.#client.advertiseKeys()
      return { message: advert, keySignature: attestKeys(this.#c.signer, advert) }
    }
    const client = this.#client
    if (client == null || round !== this.#round) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`no secure aggregation in progress for round ${round}`])
    if (type === 'secagg-share') {
      const roster = body.roster as { clients?: unknown[] } | undefined
      this.#rosterSize = Array.isArray(roster?.clients) ? roster.clients.length : 0
      const forged = unattestedClient(body.roster, body.attestations)
      if (forged != null) {
        this.#client = null
        throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`the roster holds keys for ${forged} that ${forged} did not sign; refusing to share`])
      }
      return { message: client.shareKeys(body.roster) }
    }
    if (type === 'secagg-mask') {
      const fit = z.object({ round: z.literal(round) }).passthrough().safeParse(body.fit)
      if (!fit.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['fit request missing or for another round'])
      const r = await this.#c.fit(fit.data)
      // Shares of the DP noise are sized for the fewest clients that can complete the round (the
      // threshold), so dropouts never leave the sum with less than the full noise.
      const survivors = Math.max(1, Math.ceil(this.#c.spec.secureAggregation.threshold * this.#rosterSize))
      const vector = secureClientVector(r.update, r.numExamples, this.#c.spec, survivors, this.#c.learning)
      this.#c.hooks?.maskedVector?.({ jobId: this.#c.jobId, round, vector, config: client.config })
      return { message: client.maskedInput(vector, body.shares), loss: r.loss }
    }
    if (type === 'secagg-unmask') {
      if (round <= this.#unmasked) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`round ${round} was already unmasked here`])
      const out = client.unmask(body.request)
      this.#unmasked = round
      this.#client = null
      return { message: out }
    }
    throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`unknown step '${type}'`])
  }
}
