/**
 * Verification of work: after a community inference whose receipt this node countersigned, it
 * re-runs — with probability `spotCheckFraction`, in the background — the same job (same model
 * file, input, seed and settings) on a randomly chosen third peer that advertises the same model
 * file, and compares the token ids it gets with the receipt's output hash. The re-run is an
 * ordinary community job (it yields its own receipt). Each check's outcome is a signed
 * `spot-check` record in this node's log; a mismatch costs the provider reputation, and
 * `maxMismatches` of them exclude it from routing.
 *
 * One re-run cannot say which of the two peers is wrong: the provider is the one charged, so a
 * dishonest verifier could frame an honest provider — each check names its verifier, so the
 * records show who said what.
 *
 * @packageDocumentation
 */
import { randomInt } from 'node:crypto'
import type { Logger } from '../logger.js'
import type { PlexusNetwork } from '../p2p/network.js'
import type { InferJob, InferOutcome } from '../p2p/infer-protocol.js'
import type { PeerEntry } from '../p2p/peer-table.js'
import type { InferenceReceiptBody } from './receipts.js'
import { isRecord, type LedgerEntry, type RecordBody, type SignedRecord } from './records.js'
import { tokensHash } from './inference.js'

/** A re-run waits this long for its first token (the verifier may have to load the model), then this long between tokens. */
const FIRST_TOKEN_MS = 60_000
const STALL_MS = 30_000
/** llama.cpp samples with a fresh random seed when given this one: such a job cannot be re-run. */
const RANDOM_SEED = 2 ** 32 - 1

export type SpotVerdict = 'match' | 'mismatch' | 'inconclusive'

export interface SpotCheckSettings {
  /** Share of countersigned receipts checked (0–1). */
  fraction: number
  /** Mismatches after which a provider is excluded from routing. */
  maxMismatches: number
}

export interface SpotCheckStats {
  /** Checks started, and those running now. */
  scheduled: number
  active: number
  matched: number
  mismatched: number
  /** Open-ended jobs (`maxTokensIsCap`) where one output is a prefix of the other: context sizes may differ. */
  inconclusive: number
  /** No third peer with the same model file could be asked. */
  noVerifier: number
  /** The verifier failed or the node stopped. */
  failed: number
}

/** What the spot check of one job records (the record's `data`). */
export interface SpotCheckData {
  receipt: string
  provider: string
  verifier: string
  match: boolean
  verdict: SpotVerdict
  modelSha256: string
  inputSha256: string
  /** The provider's claimed output, and the verifier's. */
  outputSha256: string
  rerunSha256: string
  tokens: { claimed: number, rerun: number }
  /** The receipt of the re-run (null when the verifier sent none). */
  rerunReceipt: string | null
}

export interface SpotCheckComponents {
  network: Pick<PlexusNetwork, 'run' | 'table' | 'peerId'>
  /** Signs and appends a record to this node's log. */
  note: (body: Omit<RecordBody, 'v' | 'author'>) => SignedRecord
  logger: Logger
  settings: () => SpotCheckSettings
}

export class SpotChecker {
  readonly stats: SpotCheckStats = { scheduled: 0, active: 0, matched: 0, mismatched: 0, inconclusive: 0, noVerifier: 0, failed: 0 }
  readonly #c: SpotCheckComponents
  readonly #running = new Set<Promise<unknown>>()
  readonly #abort = new AbortController()

  constructor (components: SpotCheckComponents) {
    this.#c = components
  }

  /**
   * Called after each community job on a peer: draws whether to check it and, if so, starts the
   * check in the background (the caller never waits). Returns whether a check started.
   */
  consider (provider: string, job: InferJob, outcome: InferOutcome): boolean {
    if (this.#abort.signal.aborted || outcome.receipt == null || job.sampling.seed == null || job.sampling.seed >= RANDOM_SEED) return false
    const { fraction } = this.#c.settings()
    if (fraction <= 0 || randomInt(1_000_000) >= fraction * 1_000_000) return false
    this.stats.scheduled++
    this.stats.active++
    const run = this.check(provider, job, outcome)
      .catch(err => {
        this.stats.failed++
        this.#c.logger.debug({ provider, err: (err as Error).message }, 'spot check not completed')
        return null
      })
      .finally(() => { this.stats.active--; this.#running.delete(run) })
    this.#running.add(run)
    return true
  }

  /** Third peers that advertise the model file and would take the job, excluding the provider. */
  verifiers (provider: string, sha256: string, job: InferJob): PeerEntry[] {
    const self = this.#c.network.peerId
    return this.#c.network.table.list().filter(e =>
      e.peerId !== provider && e.peerId !== self && e.excluded == null && e.advert.community.accepts &&
      job.maxTokens <= e.advert.community.maxTokens && e.advert.models.some(m => m.sha256 === sha256))
  }

  /** Re-runs the job on a random third peer now and records the outcome (null: no third peer). */
  async check (provider: string, job: InferJob, outcome: InferOutcome): Promise<SignedRecord | null> {
    const receipt = outcome.receipt
    if (receipt == null || receipt.body.kind !== 'inference') return null
    const body = receipt.body as InferenceReceiptBody
    const candidates = this.verifiers(provider, body.modelSha256, job)
    if (candidates.length === 0) {
      this.stats.noVerifier++
      this.#c.logger.debug({ provider, receipt: body.id }, 'spot check skipped: no third peer with the model file')
      return null
    }
    const verifier = candidates[randomInt(candidates.length)]!
    const name = verifier.advert.models.find(m => m.sha256 === body.modelSha256)!.name
    const rerun = await this.#c.network.run(verifier.peerId, { ...job, model: name, sha256: body.modelSha256 }, {
      signal: this.#abort.signal, stallMs: STALL_MS, firstTokenMs: FIRST_TOKEN_MS, onPiece: () => {}
    })
    const rerunSha256 = tokensHash(rerun.outputIds)
    const match = rerunSha256 === body.outputSha256
    const verdict: SpotVerdict = match ? 'match' : job.maxTokensIsCap === true && prefixOfEither(outcome.outputIds, rerun.outputIds) ? 'inconclusive' : 'mismatch'
    const data: SpotCheckData = {
      receipt: body.id,
      provider,
      verifier: verifier.peerId,
      match,
      verdict,
      modelSha256: body.modelSha256,
      inputSha256: body.inputSha256,
      outputSha256: body.outputSha256,
      rerunSha256,
      tokens: { claimed: body.completionTokens, rerun: rerun.outputIds.length },
      rerunReceipt: rerun.receipt?.body.id ?? null
    }
    const record = this.#c.note({ kind: 'spot-check', id: `chk:${body.id}`.slice(0, 128), time: Date.now(), data: { ...data } })
    this.#apply(data)
    this.#c.logger[verdict === 'mismatch' ? 'warn' : 'debug']({ provider, verifier: verifier.peerId, receipt: body.id, verdict }, 'spot check')
    return record
  }

  #apply (d: Pick<SpotCheckData, 'provider' | 'verdict' | 'receipt'>): void {
    if (d.verdict === 'inconclusive') { this.stats.inconclusive++; return }
    if (d.verdict === 'match') this.stats.matched++
    else this.stats.mismatched++
    this.#c.network.table.recordCheck(d.provider, d.verdict === 'match', this.#c.settings().maxMismatches, `receipt ${d.receipt}`)
  }

  /** Replays this node's own spot-check records (at start), so exclusions outlive a restart. */
  restore (entries: Iterable<LedgerEntry>, author: string): number {
    let n = 0
    for (const e of entries) {
      if (!isRecord(e) || e.record.kind !== 'spot-check' || e.record.author !== author) continue
      const d = e.record.data as Partial<SpotCheckData>
      if (typeof d.provider !== 'string' || typeof d.receipt !== 'string' || (d.verdict !== 'match' && d.verdict !== 'mismatch' && d.verdict !== 'inconclusive')) continue
      this.#apply({ provider: d.provider, verdict: d.verdict, receipt: d.receipt })
      n++
    }
    return n
  }

  /** Waits for the checks running now (tests). */
  async idle (): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running])
  }

  /** Cancels the checks in flight (node shutdown). */
  async stop (): Promise<void> {
    this.#abort.abort()
    await Promise.all([...this.#running])
  }
}

function prefixOfEither (a: readonly number[], b: readonly number[]): boolean {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false
  return true
}
