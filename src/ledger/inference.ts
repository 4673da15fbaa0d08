/**
 * Receipts for community inference: what the provider signs when it finishes a peer's job, and
 * what the requester checks before it countersigns — that the receipt names both of them, the
 * model file it asked for, the input it sent and exactly the tokens it received.
 *
 * Hashes: the input is the canonical JSON of the job as sent (model, sha256, prompt or messages,
 * sampling, limits, stop strings, resumed tokens); the output is the canonical JSON of the token
 * ids the provider produced, in order.
 *
 * @packageDocumentation
 */
import { canonicalJson } from '../crypto/signing.js'
import { PlexusError } from '../errors.js'
import type { InferenceReceiptBody, ProviderSignedReceipt, ReceiptBody, SignedReceipt } from './receipts.js'
import { sha256Hex } from './receipts.js'

/** The parts of a job that decide its output. */
export interface InferenceInput {
  model: string
  sha256?: string
  messages?: Array<{ role: string, content: string }>
  prompt?: string
  maxTokens: number
  maxTokensIsCap?: boolean
  sampling: { temperature?: number, topP?: number, topK?: number, minP?: number, seed?: number, presencePenalty?: number, frequencyPenalty?: number, repeatPenalty?: number }
  stop?: string[]
  resume?: number[]
}

/** What signs and records receipts on a node (its books). */
export interface ReceiptKeeper {
  readonly peerId: string
  sign: (body: ReceiptBody) => ProviderSignedReceipt
  countersign: (partial: ProviderSignedReceipt) => SignedReceipt
  record: (receipt: unknown) => unknown
}

export function inferenceInputHash (job: InferenceInput): string {
  const { model, sha256, messages, prompt, maxTokens, maxTokensIsCap, sampling, stop, resume } = job
  return sha256Hex(canonicalJson({ model, sha256, messages, prompt, maxTokens, maxTokensIsCap, sampling, stop, resume }))
}

export function tokensHash (ids: readonly number[]): string {
  return sha256Hex(canonicalJson(ids))
}

/** The engine's defaults, so that a receipt states the settings really used. */
const DEFAULT_TEMPERATURE = 0.8
const DEFAULT_TOP_P = 0.95

/** The body a provider signs for a finished job (null when its settings cannot be stated in a receipt). */
export function inferenceReceiptBody (o: {
  jobId: string, provider: string, requester: string, modelSha256: string, job: InferenceInput,
  outputIds: readonly number[], promptTokens: number, startedAt: number, endedAt: number
}): InferenceReceiptBody | null {
  const temperature = o.job.sampling.temperature ?? DEFAULT_TEMPERATURE
  if (temperature > 2) return null
  return {
    v: 1,
    kind: 'inference',
    id: `inf:${o.provider.slice(-12)}:${o.jobId}`,
    jobId: o.jobId,
    provider: o.provider,
    requester: o.requester,
    inputSha256: inferenceInputHash(o.job),
    outputSha256: tokensHash(o.outputIds),
    startedAt: o.startedAt,
    endedAt: Math.max(o.startedAt, o.endedAt),
    modelSha256: o.modelSha256,
    promptTokens: o.promptTokens,
    completionTokens: o.outputIds.length,
    params: { seed: o.job.sampling.seed ?? 0, temperature, topP: o.job.sampling.topP ?? DEFAULT_TOP_P, maxTokens: o.job.maxTokens }
  }
}

/**
 * The requester's check of a provider-signed receipt against what it sent and received; throws
 * `PLX_ERR_LEDGER_RECEIPT_INVALID` naming the first field that differs.
 */
export function checkInferenceReceipt (partial: ProviderSignedReceipt, expected: { provider: string, requester: string, job: InferenceInput, outputIds: readonly number[] }): void {
  const b = partial.body
  const differs = (what: string): never => { throw new PlexusError('PLX_ERR_LEDGER_RECEIPT_INVALID', [`the provider's receipt does not match the job: ${what}`]) }
  if (b.kind !== 'inference') differs('kind')
  const body = b as InferenceReceiptBody
  if (body.provider !== expected.provider) differs('provider')
  if (body.requester !== expected.requester) differs('requester')
  if (expected.job.sha256 != null && body.modelSha256 !== expected.job.sha256) differs('model file')
  if (body.inputSha256 !== inferenceInputHash(expected.job)) differs('input')
  if (body.outputSha256 !== tokensHash(expected.outputIds)) differs('output')
  if (body.completionTokens !== expected.outputIds.length) differs('completion tokens')
  if (body.params.seed !== (expected.job.sampling.seed ?? 0) || body.params.maxTokens !== expected.job.maxTokens) differs('generation settings')
}
