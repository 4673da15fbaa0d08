/**
 * Verifiable books: signed receipts, a tamper-evident RFC 9162 Merkle log in SQLite with signed
 * tree heads and proofs, a book of heads seen from peers with equivocation evidence, and
 * deterministic reward settlement.
 *
 * @example
 * ```ts
 * const log = LedgerLog.open({ file: join(dataDir, 'ledger.db'), signer: peerSigner(identity) })
 * log.append(countersignReceipt(requester, signReceipt(provider, body)))
 * const head = log.signHead()                       // gossip this
 * const proof = log.inclusionProof(body.id)          // verifyInclusion(..., head.head.root)
 * const book = new HeadBook(log.db)                  // heads seen from peers
 * book.observe(headFromPeer)                         // 'trusted' | 'pending' | 'equivocation'
 * const table = settleEpoch(params, epoch, tallyReceipts(params, receipts).get(epoch)!.points)
 * ```
 *
 * @packageDocumentation
 */
export * from './constants.js'
export { MerkleTree, MemoryHashStore, EMPTY_ROOT, leafHash, nodeHash, verifyInclusion, verifyConsistency, toHex, fromHex, type HashStore } from './merkle.js'
export { peerSigner, peerIdOfKey, verifyByPeer, isEd25519PeerId, type PeerSigner } from './peer-keys.js'
export {
  ReceiptBodySchema, SignedReceiptSchema, signReceipt, countersignReceipt, verifyReceipt, receiptBytes, sha256Hex,
  type ReceiptBody, type ReceiptKind, type SignedReceipt, type ProviderSignedReceipt, type InferenceReceiptBody
} from './receipts.js'
export {
  SignedTreeHeadSchema, SignedConsistencyProofSchema, signTreeHead, signConsistency, verifyTreeHead, verifyConsistencySignature,
  consistencyHolds, type TreeHead, type SignedTreeHead, type SignedConsistencyProof, type HeadRef
} from './tree-head.js'
export { LedgerLog, MAX_RECEIPT_RANGE, type LedgerLogInit, type AppendResult, type InclusionProof, type VerifyReport, type VerifyProblem } from './log.js'
export { openLedgerDb } from './store.js'
export { HeadBook, EquivocationSchema, verifyEquivocation, type Equivocation, type ObserveResult, type SeenHead, type HeadStatus } from './heads.js'
export {
  DEFAULT_WEIGHTS, DEFAULT_SCORE_WINDOW_SECONDS, EMISSION_SECONDS, MICRO_PER_TOKEN, MONTH_SECONDS, MAX_TOKENS_PER_NODE, addUptime, balances,
  emissionEpochs, epochBounds, epochOf, nodeCap, pointsFromReceipts, rewardRoot, scoreWindows, settleEpoch, settlementTime, tallyReceipts,
  type RewardParams, type RewardTable, type RewardRow, type RewardWeights, type EpochPoints
} from './rewards.js'
export {
  MAX_SCORED_PEERS, SCORE_OUTCOMES, scoreCommitment, scoreCommitRecord, scoreRevealRecord, scoreRecordIds, scoreSalt, tallyScores,
  type ScoreOutcome, type ScoreTally, type UptimeScores
} from './scores.js'
export { UptimeScorer, type UptimeComponents } from './uptime.js'
export {
  LEDGER_PROTOCOL, LedgerService, LedgerRequestSchema, MAX_LEDGER_FRAME_BYTES, MAX_RECEIPTS_PER_REQUEST, answer, ledgerTopic, serveStream,
  type LedgerRequest, type LedgerResponse, type LedgerServiceComponents, type LedgerServiceInit, type LedgerNetStats, type LedgerLibp2p
} from './protocol.js'
