/**
 * Signing domains and limits of the ledger. Every signature the ledger makes or checks covers
 * `plexus:<domain>:v1\n` + canonical JSON (src/crypto/signing.ts), so one kind can never be
 * replayed as another.
 */

/** The provider's signature over a receipt body. */
export const RECEIPT_DOMAIN = 'receipt'
/** The requester's countersignature over the body and the provider's signature. */
export const RECEIPT_COUNTERSIGN_DOMAIN = 'receipt-countersign'
/** A log's signed tree head. */
export const TREE_HEAD_DOMAIN = 'tree-head'
/** A log's signed answer to "prove that head A is a prefix of head B". */
export const CONSISTENCY_DOMAIN = 'consistency-proof'
/** The hash an uptime-score commitment commits to (scores.ts). */
export const SCORE_COMMIT_DOMAIN = 'score-commit'
/** What a scorer signs to derive its secret salt for an epoch (never published as a signature). */
export const SCORE_SALT_DOMAIN = 'score-salt'

/** A receipt is a few hundred bytes; anything far larger is not one. */
export const MAX_RECEIPT_BYTES = 4096
/** A signed head or a signed proof for a log of up to 2^64 leaves fits easily. */
export const MAX_HEAD_BYTES = 2048
/** Proof paths: at most 64 hashes for inclusion, 128 for consistency (2 per level). */
export const MAX_PROOF_HASHES = 128
/** Signed heads are refused when issued further in the future than this (clock skew allowance). */
export const MAX_CLOCK_SKEW_MS = 60_000
