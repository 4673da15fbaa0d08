/**
 * Points where an in-process test can watch or disturb secure aggregation rounds on real nodes:
 * make a participant stop answering at a given step (a dropout), see the vector a participant is
 * about to mask (its own), and see the sum in the integer domain that the coordinator learned.
 *
 * Nothing a user controls reaches them: no config key, CLI flag, HTTP route or protocol message
 * sets a hook. Only code that holds the node's `FederatedService` object can
 * (`service.testHooks.x = …`), and every hook is absent unless a test sets it.
 *
 * @packageDocumentation
 */
import type { ResolvedConfig } from './secagg/index.js'

export interface FederatedTestHooks {
  /**
   * Participant: awaited before it handles a secure aggregation step (`secagg-advertise`,
   * `secagg-share`, `secagg-mask`, `secagg-unmask`). A test that never settles it, or stops the
   * node meanwhile, makes this participant drop out at that step.
   */
  beforeSecureStep?: (step: { jobId: string, round: number, type: string }) => Promise<void> | void
  /** Participant: the vector it masks next (update and weight, before quantisation) and the round's config. */
  maskedVector?: (info: { jobId: string, round: number, vector: Float32Array, config: ResolvedConfig }) => void
  /** Coordinator: the exact integer sum a secure round produced, and whose inputs it holds. */
  secureSum?: (info: { jobId: string, round: number, quantisedSum: Int32Array, contributors: string[] }) => void
}
