/**
 * One table of every error Plexus raises on purpose, in the manner of Fastify's `lib/errors.js`:
 * a stable code, a message template, an HTTP status and an OpenAI error `type`. Callers and tests
 * match on `code` (or `name`, which is always `PlexusError`), never on message text.
 *
 * Every code here must be documented in `docs/errors.md`; a unit test enforces it.
 *
 * @packageDocumentation
 */

/** OpenAI's error `type` strings, which clients such as the `openai` package switch on. */
export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error'

interface ErrorSpec {
  /** Message template; `%s` placeholders are filled in order. */
  message: string
  status: number
  type: OpenAIErrorType
  /** OpenAI-style machine code sent as `error.code` (defaults to the Plexus code). */
  openaiCode?: string
}

export const ERRORS = {
  // Configuration and data directory
  PLX_ERR_CONFIG_INVALID: { message: 'Invalid configuration: %s', status: 500, type: 'server_error' },
  PLX_ERR_DATA_DIR: { message: 'Data directory problem: %s', status: 500, type: 'server_error' },
  PLX_ERR_IDENTITY_INVALID: { message: 'Node identity file is unreadable or damaged: %s', status: 500, type: 'server_error' },
  PLX_ERR_INSECURE_BIND: {
    message: 'Refusing to listen on %s without an API key: create one with `plexus keys create` first, or bind to 127.0.0.1',
    status: 500,
    type: 'server_error'
  },
  PLX_ERR_NODE_NOT_RUNNING: { message: 'No running node found: %s', status: 503, type: 'server_error' },

  // Models
  PLX_ERR_MODEL_NOT_FOUND: { message: "The model '%s' does not exist", status: 404, type: 'not_found_error', openaiCode: 'model_not_found' },
  PLX_ERR_MODEL_EXISTS: { message: "A model named '%s' is already registered", status: 409, type: 'invalid_request_error' },
  PLX_ERR_MODEL_INVALID_FILE: { message: 'Not a usable GGUF model file: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_MODEL_LOAD: { message: "Model '%s' failed to load: %s", status: 500, type: 'server_error' },
  PLX_ERR_MODEL_MEMORY: { message: "Not enough of the memory budget to load '%s': %s", status: 503, type: 'server_error' },
  PLX_ERR_MODEL_NO_EMBEDDINGS: { message: "Model '%s' cannot produce embeddings: %s", status: 400, type: 'invalid_request_error' },
  PLX_ERR_PULL_FAILED: { message: 'Download failed: %s', status: 502, type: 'server_error' },
  PLX_ERR_PULL_HASH_MISMATCH: { message: 'Downloaded file has sha256 %s but %s was expected; the partial file was removed', status: 502, type: 'server_error' },
  PLX_ERR_MODEL_BUSY: { message: "Model '%s' is in use (%s); retry when its requests finish", status: 409, type: 'invalid_request_error' },
  PLX_ERR_PULL_IN_PROGRESS: { message: 'A pull of %s is already running on this node', status: 409, type: 'invalid_request_error' },
  PLX_ERR_ENGINE_BUILD: { message: 'Cannot build llama.cpp from source: %s', status: 500, type: 'server_error' },
  PLX_ERR_NATIVE_LOOP_BUILD: { message: 'Cannot build the native generation loop: %s', status: 500, type: 'server_error' },

  // Requests
  PLX_ERR_BAD_REQUEST: { message: '%s', status: 400, type: 'invalid_request_error', openaiCode: 'invalid_request' },
  PLX_ERR_INVALID_JSON: { message: 'Request body is not valid JSON: %s', status: 400, type: 'invalid_request_error', openaiCode: 'invalid_json' },
  PLX_ERR_BODY_TOO_LARGE: { message: 'Request body is larger than the limit of %s bytes', status: 413, type: 'invalid_request_error', openaiCode: 'request_too_large' },
  PLX_ERR_CONTEXT_LENGTH: {
    message: "This model's maximum context length is %s tokens, but the request needs %s tokens (%s in the prompt, %s for the completion). Shorten the prompt or lower max_tokens.",
    status: 400,
    type: 'invalid_request_error',
    openaiCode: 'context_length_exceeded'
  },
  PLX_ERR_ROUTE_NOT_FOUND: { message: 'No route %s %s', status: 404, type: 'not_found_error', openaiCode: 'unknown_url' },
  PLX_ERR_QUEUE_FULL: { message: 'The request queue is full (%s waiting); try again later', status: 503, type: 'server_error', openaiCode: 'queue_full' },
  PLX_ERR_SHUTTING_DOWN: { message: 'The node is shutting down', status: 503, type: 'server_error', openaiCode: 'shutting_down' },
  PLX_ERR_ABORTED: { message: 'The request was cancelled', status: 499, type: 'invalid_request_error', openaiCode: 'cancelled' },

  // Privacy
  PLX_ERR_PRIVACY_VIOLATION: { message: '%s is private to this node and cannot run at the %s level', status: 400, type: 'invalid_request_error', openaiCode: 'privacy_violation' },

  // Network and routing
  PLX_ERR_NO_LOCAL_CAPACITY: { message: "Model '%s' cannot run on this node: %s. The request is private, so it was not sent anywhere else", status: 503, type: 'server_error', openaiCode: 'no_local_capacity' },
  PLX_ERR_NO_ROUTE: { message: "No node can serve model '%s' at the %s level: %s", status: 503, type: 'server_error', openaiCode: 'no_route' },
  PLX_ERR_PEER_FAILED: { message: 'The network could not complete the request: %s', status: 502, type: 'server_error', openaiCode: 'peer_failed' },
  PLX_ERR_PEER_REJECTED: { message: 'The serving peer rejected the request: %s', status: 400, type: 'invalid_request_error', openaiCode: 'peer_rejected' },
  PLX_ERR_CLOUD_FAILED: { message: 'The cloud upstream failed: %s', status: 502, type: 'server_error', openaiCode: 'cloud_failed' },
  PLX_ERR_NETWORK_OFF: { message: 'The peer-to-peer network is off on this node (network.enabled is false)', status: 503, type: 'server_error', openaiCode: 'network_off' },
  PLX_ERR_NETWORK_START: { message: 'The peer-to-peer host could not start: %s', status: 500, type: 'server_error' },
  PLX_ERR_DEVNET_START: { message: 'The devnet could not start: %s', status: 500, type: 'server_error' },
  PLX_ERR_DEVNET_NOT_FOUND: { message: 'No devnet to use in %s: %s', status: 404, type: 'not_found_error' },
  PLX_ERR_FILE_EXISTS: { message: '%s already exists; %s', status: 409, type: 'invalid_request_error' },

  // Auth
  PLX_ERR_AUTH_MISSING: { message: 'Missing API key: send it as `Authorization: Bearer <key>`', status: 401, type: 'authentication_error', openaiCode: 'missing_api_key' },
  PLX_ERR_AUTH_INVALID: { message: 'Incorrect or revoked API key', status: 401, type: 'authentication_error', openaiCode: 'invalid_api_key' },
  PLX_ERR_RATE_LIMITED: { message: 'Rate limit of %s requests per minute reached for this key; retry in %s s', status: 429, type: 'rate_limit_error', openaiCode: 'rate_limit_exceeded' },
  PLX_ERR_KEY_NOT_FOUND: { message: "No API key '%s'", status: 404, type: 'not_found_error' },

  // Cabinets (encrypted document stores)
  PLX_ERR_CABINET_FILE_UNSUPPORTED: { message: "Cannot ingest '%s': %s", status: 415, type: 'invalid_request_error' },
  PLX_ERR_CABINET_FILE_CORRUPT: { message: "Cannot ingest '%s': %s", status: 422, type: 'invalid_request_error' },
  PLX_ERR_CABINET_FILE_TOO_LARGE: { message: "Cannot ingest '%s': %s", status: 413, type: 'invalid_request_error' },
  PLX_ERR_CABINET_FILE_ENCRYPTED: { message: "Cannot ingest '%s': %s", status: 422, type: 'invalid_request_error' },
  PLX_ERR_CABINET_NOT_FOUND: { message: "No cabinet '%s'", status: 404, type: 'not_found_error' },
  PLX_ERR_CABINET_EXISTS: { message: "A cabinet named '%s' already exists", status: 409, type: 'invalid_request_error' },
  PLX_ERR_CABINET_PASSPHRASE: { message: "Wrong passphrase for cabinet '%s'", status: 403, type: 'permission_error' },
  PLX_ERR_CABINET_LOCKED: { message: "Cabinet '%s' is locked; unlock it with its passphrase first", status: 423, type: 'invalid_request_error' },
  PLX_ERR_CABINET_KEYRING: { message: "The keyring of cabinet '%s' is missing or damaged: %s", status: 500, type: 'server_error' },
  PLX_ERR_CABINET_CORRUPT: { message: "Cabinet '%s' is damaged: %s", status: 500, type: 'server_error' },
  PLX_ERR_CABINET_VERSION: { message: "Cabinet '%s' has schema version %s, but this Plexus supports up to %s", status: 500, type: 'server_error' },
  PLX_ERR_CABINET_BUSY: { message: "Cabinet '%s' is locked by another process or connection; try again", status: 503, type: 'server_error' },
  PLX_ERR_CABINET_IO: { message: "Cabinet '%s' could not be read or written: %s", status: 500, type: 'server_error' },
  PLX_ERR_CABINET_EMBEDDING_MODEL: { message: "Cabinet '%s': %s", status: 409, type: 'invalid_request_error' },
  PLX_ERR_CABINET_VECTOR_DIMS: { message: 'Unusable vector: %s; the cabinet embedding model has %s dimensions', status: 400, type: 'invalid_request_error' },

  // Local datasets
  PLX_ERR_DATASET_NOT_FOUND: { message: "No dataset '%s' on this node", status: 404, type: 'not_found_error' },
  PLX_ERR_DATASET_EXISTS: { message: "A dataset named '%s' already exists", status: 409, type: 'invalid_request_error' },
  PLX_ERR_DATASET_INVALID: { message: 'Unusable dataset: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_DATASET_IO: { message: 'The dataset store failed: %s', status: 500, type: 'server_error' },

  // Federated learning jobs
  PLX_ERR_FL_SPEC_INVALID: { message: 'Invalid federated learning job: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_FL_JOB_NOT_FOUND: { message: "No federated learning job '%s'", status: 404, type: 'not_found_error' },
  PLX_ERR_FL_JOB_FAILED: { message: "Federated learning job '%s' failed: %s", status: 500, type: 'server_error' },
  PLX_ERR_FL_PROTOCOL: { message: 'Federated learning message refused: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_FL_TEMPLATE_NOT_FOUND: { message: "No federated learning job template '%s' (known: %s)", status: 404, type: 'not_found_error' },

  // Federated learning: models, local training, aggregation, privacy
  PLX_ERR_FL_MODEL_INVALID: { message: 'Unusable model: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_FL_DATA_INVALID: { message: 'Unusable training data: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_FL_CONFIG_INVALID: { message: 'Invalid federated learning setting: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_FL_UPDATE_INVALID: { message: "Unusable model update from '%s': %s", status: 400, type: 'invalid_request_error' },
  PLX_ERR_FL_AGGREGATION: { message: 'Cannot aggregate the round: %s', status: 503, type: 'server_error' },
  PLX_ERR_FL_TRAINING: { message: 'Local training failed: %s', status: 500, type: 'server_error' },

  // Secure aggregation (federated learning)
  PLX_ERR_SECAGG_CONFIG: { message: 'Invalid secure aggregation parameters: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_SECAGG_MESSAGE: { message: "Secure aggregation message from '%s' refused: %s", status: 400, type: 'invalid_request_error' },
  PLX_ERR_SECAGG_INPUT: { message: 'Secure aggregation input refused: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_SECAGG_SHARE: { message: "Bad secret share involving client '%s': %s", status: 400, type: 'invalid_request_error' },
  PLX_ERR_SECAGG_STATE: { message: 'Secure aggregation step out of order: %s', status: 409, type: 'invalid_request_error' },
  PLX_ERR_SECAGG_ABORTED: { message: 'Secure aggregation round aborted: %s', status: 503, type: 'server_error' },

  // Federated statistics: filters, disclosure control, GLM
  PLX_ERR_STATS_FILTER_INVALID: { message: 'Filter expression refused: %s', status: 400, type: 'invalid_request_error', openaiCode: 'invalid_filter' },
  PLX_ERR_STATS_DISCLOSURE: { message: 'Disclosure control refused the query: %s', status: 403, type: 'permission_error', openaiCode: 'disclosure_refused' },
  PLX_ERR_STATS_CONFIG_INVALID: { message: 'Invalid disclosure control setting: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_STATS_GLM_INVALID: { message: 'Unusable regression input: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_STATS_QUERY_INVALID: { message: 'Invalid statistics query: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_STATS_COLUMN_DENIED: { message: "Column '%s' of dataset '%s' is not among the columns the owner allows analysts to use", status: 403, type: 'permission_error' },
  PLX_ERR_STATS_FORBIDDEN: { message: 'Analyst %s is not on this node\'s statistics allow-list', status: 403, type: 'permission_error' },
  PLX_ERR_STATS_DENIED: { message: 'The node\'s owner denied this query (approval %s)', status: 403, type: 'permission_error' },
  PLX_ERR_STATS_APPROVAL_NOT_FOUND: { message: "No statistics approval '%s' on this node", status: 404, type: 'not_found_error' },
  PLX_ERR_STATS_QUEUED: { message: "The query waits for the site owner's approval (%s)", status: 409, type: 'invalid_request_error' },
  PLX_ERR_STATS_PROTOCOL: { message: 'Statistics protocol error: %s', status: 502, type: 'server_error' },
  PLX_ERR_STATS_FAILED: { message: 'The statistic could not be computed: %s', status: 422, type: 'invalid_request_error' },
  PLX_ERR_STATS_GLM_FAILED: { message: 'The regression could not be fitted: %s', status: 422, type: 'invalid_request_error' },
  PLX_ERR_STATS_SECURE_INPUT: { message: 'Secure sum input refused: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_STATS_SECURE_MESSAGE: { message: 'Secure sum message refused: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_STATS_SECURE_SUM: { message: 'Secure sum failed: %s', status: 503, type: 'server_error' },

  // Ledger: receipts, the Merkle log, signed tree heads, rewards
  PLX_ERR_LEDGER_RECEIPT_INVALID: { message: 'Receipt refused: %s', status: 400, type: 'invalid_request_error', openaiCode: 'invalid_receipt' },
  PLX_ERR_LEDGER_RECEIPT_DUPLICATE: { message: "Receipt '%s' is already in the log", status: 409, type: 'invalid_request_error' },
  PLX_ERR_LEDGER_RECEIPT_NOT_FOUND: { message: "No receipt '%s' in the log", status: 404, type: 'not_found_error' },
  PLX_ERR_LEDGER_HEAD_INVALID: { message: 'Signed tree head refused: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_LEDGER_PROOF_INVALID: { message: 'Proof refused: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_LEDGER_RANGE: { message: 'Out of range for a log of %s entries: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_LEDGER_STORE: { message: "The ledger store '%s' failed: %s", status: 500, type: 'server_error' },
  PLX_ERR_LEDGER_CORRUPT: { message: "The ledger store '%s' is damaged: %s", status: 500, type: 'server_error' },
  PLX_ERR_LEDGER_REWARDS_CONFIG: { message: 'Invalid reward setting: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_LEDGER_PROTOCOL: { message: 'Ledger message refused: %s', status: 400, type: 'invalid_request_error' },

  // Governance: proposals, votes, tallies
  PLX_ERR_GOV_CHANGE_INVALID: { message: 'Change refused: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_GOV_PROPOSAL_INVALID: { message: 'Proposal refused: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_GOV_VOTE_INVALID: { message: 'Vote refused: %s', status: 400, type: 'invalid_request_error' },
  PLX_ERR_GOV_NOT_FOUND: { message: "No proposal '%s' here", status: 404, type: 'not_found_error' },
  PLX_ERR_GOV_NOT_ELIGIBLE: { message: '%s may not vote on proposal %s (not in its electorate)', status: 403, type: 'permission_error' },
  PLX_ERR_GOV_CLOSED: { message: 'The vote on %s ended at %s', status: 409, type: 'invalid_request_error' },
  PLX_ERR_GOV_PROTOCOL: { message: 'Governance catch-up failed: %s', status: 502, type: 'server_error' },

  // Anything unexpected
  PLX_ERR_INTERNAL: { message: 'Internal error: %s', status: 500, type: 'server_error' }
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS

/** The one error class Plexus throws on purpose. `code` says which situation it is. */
export class PlexusError extends Error {
  override readonly name = 'PlexusError'
  readonly code: ErrorCode
  readonly statusCode: number
  readonly type: OpenAIErrorType
  readonly openaiCode: string
  /** The request parameter at fault, when there is one (OpenAI's `error.param`). */
  readonly param: string | null
  /** For rate limits and overload: when the client may retry (sent as `Retry-After`). */
  readonly retryAfterSeconds: number | null

  constructor (code: ErrorCode, args: ReadonlyArray<string | number> = [], options: { cause?: unknown, param?: string, retryAfterSeconds?: number } = {}) {
    const spec: ErrorSpec = ERRORS[code]
    let i = 0
    super(spec.message.replace(/%s/g, () => String(args[i++] ?? '')), { cause: options.cause })
    this.code = code
    this.statusCode = spec.status
    this.type = spec.type
    this.openaiCode = spec.openaiCode ?? code
    this.param = options.param ?? null
    this.retryAfterSeconds = options.retryAfterSeconds ?? null
  }
}

/**
 * A PlexusError rebuilt from its wire form — the code (Plexus or OpenAI-style) and the sentence a
 * node's API or a peer sent — so callers see the same code and message as where it was raised.
 * Null for a code this build does not know.
 */
export function plexusErrorFromWire (code: string, message: string, options: { cause?: unknown } = {}): PlexusError | null {
  const known = (Object.keys(ERRORS) as ErrorCode[]).find(k => k === code || (ERRORS[k] as { openaiCode?: string }).openaiCode === code)
  if (known == null) return null
  const e = new PlexusError(known, [], options)
  e.message = message
  return e
}

/** Shorthand: `throw plexusError('PLX_ERR_MODEL_NOT_FOUND', name)`. */
export function plexusError (code: ErrorCode, ...args: Array<string | number>): PlexusError {
  return new PlexusError(code, args)
}

/** True when `err` is a PlexusError with the given code (works across module copies). */
export function isPlexusError (err: unknown, code?: ErrorCode): err is PlexusError {
  return err != null && typeof err === 'object' && (err as { name?: unknown }).name === 'PlexusError' &&
    (code == null || (err as { code?: unknown }).code === code)
}

/** A one-sentence description of any thrown value, for logs and the CLI. */
export function describeError (err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}
