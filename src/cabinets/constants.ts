/**
 * Limits and defaults of the cabinet store and its retrieval, each with the reason it has its value.
 *
 * @packageDocumentation
 */

/** Suffix of the encrypted SQLite file: `<dir>/<name>.cabinet`. */
export const CABINET_FILE_SUFFIX = '.cabinet'
/** Suffix of the keyring beside it: `<dir>/<name>.keyring.json`. */
export const KEYRING_FILE_SUFFIX = '.keyring.json'

/**
 * Cabinet names become file names, so they are restricted to a portable, traversal-free alphabet
 * (the same one API key names use).
 */
export const CABINET_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** Shortest passphrase accepted for a new cabinet or a passphrase change (NIST SP 800-63B's floor). */
export const MIN_PASSPHRASE_CHARS = 8
/** Longest passphrase: scrypt handles any length, this only stops absurd inputs. */
export const MAX_PASSPHRASE_CHARS = 1024

/** scrypt cost parameters, stored in the keyring so they can be raised later without breaking old cabinets. */
export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number
  /** Block size. */
  r: number
  /** Parallelisation. */
  p: number
}

/**
 * N = 2^17, r = 8, p = 1: scrypt needs 128·N·r bytes = 128 MiB and about 0.3–0.5 s on a current
 * CPU. That is RFC 7914's "interactive" shape scaled up for a file that can be stolen and attacked
 * offline (OWASP's password storage sheet asks for at least N=2^17, r=8, p=1). Unlocking happens
 * once per session, so the delay is paid rarely.
 */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 17, r: 8, p: 1 })

/**
 * Bounds on the parameters read back from a keyring, so a tampered keyring cannot make us allocate
 * gigabytes (N·r·128 bytes) or spin for minutes. The low end admits the cheap parameters tests use.
 */
export const SCRYPT_LIMITS = Object.freeze({ minLog2N: 10, maxLog2N: 22, maxR: 32, maxP: 16, maxMemBytes: 1024 * 1024 * 1024 })

/** Data key: 32 random bytes, the key length of SQLCipher's AES-256 (and of AES-256-GCM that wraps it). */
export const DATA_KEY_BYTES = 32
/** scrypt salt: 16 random bytes (RFC 7914 asks for at least 16). */
export const KDF_SALT_BYTES = 16
/** AES-GCM nonce: 96 bits, the size NIST SP 800-38D recommends; random is safe since every wrap uses a fresh KEK. */
export const GCM_NONCE_BYTES = 12
/** AES-GCM tag: the full 128 bits. */
export const GCM_TAG_BYTES = 16
/** Associated data bound into every wrapped key, so a wrapped key cannot be replayed in another format. */
export const KEYRING_AAD = 'plexus:cabinet-keyring:v1'

/**
 * SQLite waits this long on a lock held by another connection before failing with SQLITE_BUSY
 * (better-sqlite3's default). Writers hold locks for one document's transaction, far less than this.
 */
export const BUSY_TIMEOUT_MS = 5000

/** Search results per request: default and upper bound (more is never useful as LLM context). */
export const DEFAULT_TOP_K = 10
export const MAX_TOP_K = 100
/** Longest query text; a RAG question is a sentence or a paragraph. */
export const MAX_QUERY_CHARS = 4096
/** Distinct query terms scored; beyond this a query is a document, not a question. */
export const MAX_QUERY_TERMS = 64
/** Characters of chunk text around the match returned as a snippet. */
export const SNIPPET_CHARS = 200

/**
 * BM25 defaults k1 = 1.2, b = 0.75: the values Robertson & Zaragoza ("The Probabilistic Relevance
 * Framework: BM25 and Beyond", 2009) report as robust across collections, and Lucene's and FTS5's
 * defaults, so scores are comparable with what people know. k1 bounds how much repeating a term
 * helps; b how strongly long chunks are penalised.
 */
export const DEFAULT_BM25 = Object.freeze({ k1: 1.2, b: 0.75 })
/** k1 above 3 makes term frequency nearly linear, which BM25 exists to avoid. */
export const MAX_BM25_K1 = 3

/**
 * Reciprocal rank fusion constant k = 60, from Cormack, Clarke & Büttcher, "Reciprocal Rank Fusion
 * outperforms Condorcet and individual Rank Learning Methods" (SIGIR 2009), who found it near-best
 * across TREC runs.
 */
export const RRF_K = 60
/** Hits taken from each list before fusion: deeper than any topK, so fusion can promote items ranked low in one list. */
export const FUSION_DEPTH = 100

/** Embedding dimensions accepted (sqlite-vec's vec0 allows up to 8192). */
export const MAX_EMBEDDING_DIMS = 8192
/** sqlite-vec refuses KNN queries with k above 4096. */
export const MAX_VECTOR_K = 4096

/** Longest `detail` of an audit entry, as JSON; audit rows record what happened, not payloads. */
export const MAX_AUDIT_DETAIL_CHARS = 4096
/** Audit entries returned per listing. */
export const MAX_AUDIT_LIST = 1000

/** Chunks per document; a 10 MB text file at ~1 KB per chunk stays well below. */
export const MAX_CHUNKS_PER_DOCUMENT = 100_000

/** SQLite page cache per unlocked cabinet, in KiB (64 MiB): decrypted pages are costly to re-read. */
export const PAGE_CACHE_KIB = 64 * 1024
