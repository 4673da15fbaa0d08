/**
 * Exact secure sums of float64 vectors for federated statistics: an analyst asks several sites for
 * a vector of sufficient statistics each (counts, Σx, Σx², cross-products, histogram counts,
 * XᵀWX, …) and learns only their total, through the secure aggregation of `federated/secagg`
 * (Bonawitz et al., CCS 2017). `runSecureSum` is the analyst's side, `SecureSumSite` a site's.
 *
 * ## Exactness: fixed point in 16-bit limbs
 *
 * Secure aggregation sums 32-bit integers and quantises floats coarsely; statistics need the sum
 * to ~1e-12 relative. So each value v becomes the integer V = round(v·2^F) (half away from zero),
 * written as L signed limbs of 16 bits: for V ≥ 0 the base-2¹⁶ digits of V, for V < 0 the negated
 * digits of −V. Every limb travels as one of secagg's `extras` coordinates, which are summed as
 * exact integers: a limb is at most 2¹⁶ − 1 in magnitude and secagg allows ⌊(2³¹−1)/maxClients⌋,
 * so up to 32,768 sites (more than secagg's `MAX_CLIENTS`) cannot overflow; a configuration that
 * could is refused. The analyst recombines Σ_k (Σ_sites limb_k)·2^(16k) as a BigInt — exactly
 * Σ_sites V — and returns it times 2^−F, rounded once to float64 (and the BigInt itself, `exact`).
 *
 * Defaults: F = 64 fraction bits, L = 12 limbs (192 bits), so |v| < 2^(16L−F) = 2¹²⁸ ≈ 3.4e38
 * and the resolution is 2^−64 ≈ 5.4e−20. Every float64 of magnitude at least 2^(52−F) = 2^−12 is
 * a multiple of 2^−F, so it is encoded with no rounding at all: for such inputs the result is the
 * exact real sum, rounded once (better than adding the floats). Smaller values are rounded to
 * 2^−F, an error of at most 2^−(F+1) each. Both are parameters (`encoding`); each value costs L
 * coordinates of 4 bytes on the wire. Non-finite values and values out of range are refused at the
 * site with `PLX_ERR_STATS_SECURE_INPUT` (naming the coordinate, never the value).
 *
 * ## Messages
 *
 * Analyst → site, all `{ type: 'stats.secure', step, session, … }`, validated with zod:
 * `open` (the parameters, the site's id in this session and the opaque `query`), `share` (the
 * roster), `mask` (the encrypted shares for the site), `unmask` (the unmask request) and `abort`
 * (forget the session). Replies carry the site's secagg message as `secagg`, or, to `open` only,
 * `{ step: 'refused', error: { code, message } }`. The secagg messages are checked by
 * `SecAggClient` / `SecAggServer` themselves (bounded schemas).
 *
 * ## Behaviour
 *
 * - A site computes its vector (`compute(query, analyst)`) when a session opens, before it sends
 *   any key, and keeps it only until it has masked it. It answers only the analyst that opened the
 *   session (sessions are keyed by the analyst's peer id), at most `maxSessions` sessions at once,
 *   each for at most `sessionTtlMs`; it never sends its unmasked vector.
 * - **Refusals fail the query.** If any site's `compute` throws (a disclosure refusal, a bad
 *   filter, a non-finite statistic), the analyst throws that site's error with the site's code
 *   (`PLX_ERR_STATS_DISCLOSURE`, …) and the message prefixed with the site's id, after telling the
 *   other sites to forget the session; no partial sum is ever returned for a refusal. Codes kept
 *   are `PLX_ERR_STATS_*`, `PLX_ERR_DATASET_*`, `PLX_ERR_PRIVACY_*` and `PLX_ERR_INTERNAL` (a
 *   site's other errors, or a non-Plexus one, are not explained: `PLX_ERR_INTERNAL` without the
 *   detail, or `PLX_ERR_STATS_SECURE_SUM` naming the code), so that a site cannot make the
 *   analyst's API answer, say, 401. The refusal may come as a `refused` reply (what
 *   `SecureSumSite` sends) or, over a transport that keeps error codes, as the call's error: at
 *   `open`, a rejected call with such a code and a 4xx status (not a `PLX_ERR_STATS_SECURE_*` one)
 *   is a refusal too; any other failed call is a dropout.
 * - **Dropouts are tolerated up to secagg's threshold.** A site that does not answer a step (down,
 *   too slow, or refusing a malformed message) drops out. With threshold 2/3 (the default) up to a
 *   third of the sites that opened may drop at any later step; a site that drops after sending its
 *   masked input is still in the sum. Below the threshold the query fails with
 *   `PLX_ERR_STATS_SECURE_SUM`. `contributed` names the sites whose vectors are in the sum; a caller
 *   that needs every site compares it with `sites`. At least 3 sites must take part.
 *
 * ## What this does not protect against
 *
 * Secure against an honest-but-curious analyst colluding with fewer than t sites (see
 * `federated/secagg/index.ts`). An analyst relaying keys cannot substitute its own: every site signs
 * its advertised keys with its node key (its id in the session is its peer id) and checks every
 * other site's signature before sharing (`federated/secagg/attest.ts`). Not secure against sybil sites (an analyst that runs 2 of 3
 * "sites" learns the third one's vector), nor against differencing across queries with different
 * site lists. So each site must still apply its own disclosure control to its vector as if it were
 * released alone; secure aggregation hides per-site values from an analyst who plays by the rules.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { PlexusError, isPlexusError, plexusErrorFromWire } from '../errors.js'
import { silentLogger, type Logger } from '../logger.js'
import { SecAggClient, SecAggServer, MAX_CLIENTS, MAX_ID_LENGTH, maxClientMessageBytes, resolveConfig, attestKeys, isAttested, unattestedClient, AttestationsSchema, type SecAggConfig } from '../federated/secagg/index.js'
import type { PeerSigner } from '../ledger/peer-keys.js'

/** The `type` of every secure sum message. */
export const SECURE_SUM_TYPE = 'stats.secure'
/** Bits per limb: small enough that MAX_CLIENTS limbs sum within int32 (see the header). */
export const LIMB_BITS = 16
const LIMB = 2 ** LIMB_BITS
export const DEFAULT_FRACTION_BITS = 64
export const DEFAULT_LIMBS = 12
/** 32 limbs = 512 bits: v·2^F stays far inside float64's range for every allowed F. */
export const MAX_LIMBS = 32
/** Fewest sites: secure aggregation needs at least 3 for a sum to hide anyone. */
export const MIN_SITES = 3
/** Most values per site: statistics vectors are small (a 500×500 XᵀWX is 250,000). */
export const MAX_VALUES = 262_144
/** Most secagg coordinates (values × limbs): 16 MiB per masked vector. */
export const MAX_COORDINATES = 4 * 1024 * 1024
/** Longest session name (the secagg session adds a prefix; its limit is 200). */
export const MAX_SESSION_LENGTH = 128
/** Largest query, as JSON. The site's `compute` validates its content. */
export const MAX_QUERY_BYTES = 64 * 1024
/** Longest refusal message passed on to the analyst. */
const MAX_ERROR_MESSAGE = 2000
export const DEFAULT_SESSION_TTL_MS = 10 * 60_000
export const DEFAULT_MAX_SESSIONS = 16
const DEFAULT_THRESHOLD = 2 / 3
/** Deadline for the best-effort `abort` sent to sites when a query fails. */
const ABORT_TIMEOUT_MS = 5_000

/** Sends one message to a peer and returns its reply (as the FL `CallPeer` does). */
export type SecureSumCall = (peer: string, message: object, timeoutMs: number, signal?: AbortSignal) => Promise<Record<string, unknown>>

/** How values become integers: V = round(v·2^fractionBits), in `limbs` limbs of 16 bits. */
export interface FixedPointEncoding {
  fractionBits: number
  limbs: number
}

// --- fixed-point encoding (pure) ----------------------------------------------------------------

/**
 * Checks an encoding: 1 to {@link MAX_LIMBS} limbs and 0 ≤ fractionBits < 16·limbs.
 *
 * @throws PlexusError `PLX_ERR_STATS_SECURE_INPUT`
 */
export function fixedPointEncoding (e: Partial<FixedPointEncoding> = {}): FixedPointEncoding {
  const limbs = e.limbs ?? DEFAULT_LIMBS
  const fractionBits = e.fractionBits ?? DEFAULT_FRACTION_BITS
  if (!Number.isInteger(limbs) || limbs < 1 || limbs > MAX_LIMBS) throw inputError(`limbs must be an integer in 1..${MAX_LIMBS}`)
  if (!Number.isInteger(fractionBits) || fractionBits < 0 || fractionBits >= LIMB_BITS * limbs) {
    throw inputError(`fractionBits must be an integer in 0..${LIMB_BITS * limbs - 1} for ${limbs} limbs`)
  }
  return { fractionBits, limbs }
}

/** Largest magnitude (exclusive) a value may have under an encoding: 2^(16·limbs − fractionBits). */
export function maxMagnitude (e: FixedPointEncoding): number {
  return 2 ** (LIMB_BITS * e.limbs - e.fractionBits)
}

/**
 * Writes the limbs of every value into `out` from `offset` (value i's limb k at offset + i·L + k),
 * as float32 integers of magnitude below 2¹⁶. All float arithmetic here is exact: |v|·2^F is a
 * power-of-two scaling, and the digits of an integer-valued float are extracted by power-of-two
 * scaling, floor and a remainder by 2¹⁶.
 *
 * @throws PlexusError `PLX_ERR_STATS_SECURE_INPUT` for a non-finite value or one of magnitude at
 *   least {@link maxMagnitude} (the message names the index, not the value)
 */
export function encodeFixedPoint (values: Float64Array, e: FixedPointEncoding, out: Float32Array, offset = 0): void {
  const L = e.limbs
  if (offset + values.length * L > out.length) throw inputError('the output is too short for the encoded values')
  const scale = 2 ** e.fractionBits
  const limit = 2 ** (LIMB_BITS * L)
  const inv = Array.from({ length: L }, (_, k) => 2 ** (-LIMB_BITS * k))
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    if (!Number.isFinite(v)) throw inputError(`value ${i} is not a finite number`)
    const x = Math.round(Math.abs(v) * scale)
    if (x >= limit) throw inputError(`value ${i} is outside ±2^${LIMB_BITS * L - e.fractionBits}, the range of the fixed-point encoding`)
    const sign = v < 0 ? -1 : 1
    const at = offset + i * L
    for (let k = 0; k < L; k++) out[at + k] = sign * (Math.floor(x * inv[k]!) % LIMB)
  }
}

/**
 * Recombines summed limbs: value i is Σ_k limbSums[offset + i·L + k]·2^(16k) exactly (`exact`, the
 * sum of the V's) and that times 2^−F rounded once to float64 (`sum`).
 */
export function decodeFixedPoint (limbSums: ArrayLike<number>, count: number, e: FixedPointEncoding, offset = 0): { sum: Float64Array, exact: bigint[] } {
  const L = e.limbs
  const shift = BigInt(LIMB_BITS)
  const unscale = 2 ** -e.fractionBits
  const sum = new Float64Array(count)
  const exact = new Array<bigint>(count)
  for (let i = 0; i < count; i++) {
    const at = offset + i * L
    let s = 0n
    for (let k = L - 1; k >= 0; k--) s = (s << shift) + BigInt(limbSums[at + k]!)
    exact[i] = s
    // Number(bigint) rounds to nearest; scaling by a power of two is exact (outside subnormals).
    sum[i] = Number(s) * unscale
  }
  return { sum, exact }
}

/**
 * The secagg configuration both sides derive: coordinate 0 is a constant 0 (secagg quantises at
 * least one coordinate), coordinate 1 counts contributors (each site puts 1: a check), and the
 * limbs follow, all as exact `extras`.
 *
 * @throws PlexusError `PLX_ERR_STATS_SECURE_INPUT` for parameters out of range
 */
export function secureSumConfig (session: string, length: number, sites: number, threshold: number, e: FixedPointEncoding): SecAggConfig {
  if (typeof session !== 'string' || session.length < 1 || session.length > MAX_SESSION_LENGTH) throw inputError(`a session name is 1 to ${MAX_SESSION_LENGTH} characters`)
  if (!Number.isInteger(length) || length < 1 || length > MAX_VALUES) throw inputError(`length must be an integer in 1..${MAX_VALUES}`)
  if (length * e.limbs > MAX_COORDINATES) throw inputError(`${length} values × ${e.limbs} limbs exceed ${MAX_COORDINATES} coordinates`)
  if (!Number.isInteger(sites) || sites < MIN_SITES || sites > MAX_CLIENTS) throw inputError(`a secure sum needs ${MIN_SITES} to ${MAX_CLIENTS} sites, got ${sites}`)
  // Secagg's bound on each extra coordinate; a limb sum over `sites` must stay within it.
  if (Math.floor((2 ** 31 - 1) / sites) < LIMB - 1) throw inputError(`${sites} sites could overflow the sum of ${LIMB_BITS}-bit limbs`)
  const config: SecAggConfig = {
    session: `${SECURE_SUM_TYPE}/${session}`,
    length: 2 + length * e.limbs,
    extras: 1 + length * e.limbs,
    clipRange: 1,
    maxClients: sites,
    minClients: MIN_SITES,
    threshold
  }
  try {
    resolveConfig(config)
  } catch (err) {
    throw inputError((err as Error).message, err)
  }
  return config
}

/**
 * The most bytes (as JSON) any message of a secure sum can take, either way: the site's masked
 * vector (4 bytes per coordinate, base64url: about 16·L bytes per value) or the analyst's roster
 * and forwarded shares (O(sites)), with the query. For a transport with a frame limit (e.g. 4 MiB),
 * pick `length` so that this fits: about 65,000 values with the default 12 limbs.
 */
export function maxSecureSumMessageBytes (length: number, sites: number, encoding: Partial<FixedPointEncoding> = {}): number {
  const config = resolveConfig(secureSumConfig('x', length, sites, DEFAULT_THRESHOLD, fixedPointEncoding(encoding)))
  // An id may be escaped in JSON up to 6 bytes a character; per site: its id twice, two keys, a ciphertext, punctuation.
  const analyst = 2048 + MAX_QUERY_BYTES + sites * (2 * 6 * MAX_ID_LENGTH + 2 * 44 + 126 + 128)
  return Math.max(512 + maxClientMessageBytes(config), analyst)
}

// --- messages -----------------------------------------------------------------------------------

const Session = z.string().min(1).max(MAX_SESSION_LENGTH)
const Type = z.literal(SECURE_SUM_TYPE)

const OpenMessage = z.strictObject({
  type: Type,
  step: z.literal('open'),
  session: Session,
  /** The site's id in this session: its peer id (it signs its keys with that key). */
  site: z.string().min(1).max(MAX_ID_LENGTH),
  sites: z.number().int().min(MIN_SITES).max(MAX_CLIENTS),
  length: z.number().int().min(1).max(MAX_VALUES),
  threshold: z.number().gt(0.5).max(1),
  fractionBits: z.number().int().min(0),
  limbs: z.number().int().min(1).max(MAX_LIMBS),
  query: z.unknown()
})
const StepMessage = z.strictObject({
  type: Type,
  step: z.enum(['share', 'mask', 'unmask']),
  session: Session,
  secagg: z.unknown(),
  /** With `share`: each roster site's signature of its keys. */
  attestations: AttestationsSchema.optional()
})
const AbortMessage = z.strictObject({ type: Type, step: z.literal('abort'), session: Session })
const SiteMessage = z.discriminatedUnion('step', [OpenMessage, StepMessage, AbortMessage])

/** A site's reply (not strict: transports may add fields such as `ok`). */
const Reply = z.union([
  z.object({ type: Type, step: z.enum(['open', 'share', 'mask', 'unmask']), session: Session, secagg: z.unknown(), keySignature: z.string().max(128).optional() }),
  z.object({
    type: Type,
    step: z.literal('refused'),
    session: Session,
    error: z.object({ code: z.string().max(64), message: z.string().max(4 * MAX_ERROR_MESSAGE) })
  })
])

type Step = 'open' | 'share' | 'mask' | 'unmask'

// --- analyst ------------------------------------------------------------------------------------

export interface SecureSumInput {
  /** Names this query; unique per analyst while it runs (e.g. a random id). */
  session: string
  /** The sites' peer ids, each at most once; at least {@link MIN_SITES}. */
  sites: string[]
  /** Float64 values per site. */
  length: number
  /** Opaque to this module: passed to each site's `compute` (at most {@link MAX_QUERY_BYTES} as JSON). */
  query: unknown
  call: SecureSumCall
  /** Timeout of each call to a site (each of the four steps), in ms. */
  deadlineMs: number
  /** Fraction of the sites that opened which must stay to the end, in (0.5, 1]. Default 2/3. */
  threshold?: number
  encoding?: Partial<FixedPointEncoding>
  signal?: AbortSignal
  logger?: Logger
}

export interface SecureSumResult {
  /** Σ over `contributed` of each site's values (fixed point, rounded once to float64). */
  sum: Float64Array
  /** The exact sums of the fixed-point integers V = round(v·2^F): `sum[i]` is `exact[i]`·2^−F. */
  exact: bigint[]
  /** Sites whose vectors are in the sum, in roster (sorted) order. */
  contributed: string[]
  /** Sites asked but not in the sum (did not answer, dropped out, or were refused). */
  dropped: string[]
  encoding: FixedPointEncoding
}

/**
 * Drives one secure sum with every site: the four secagg steps, one call per site per step.
 *
 * @throws the first refusing site's own PlexusError (its code, message prefixed with the site's
 *   id); PlexusError `PLX_ERR_STATS_SECURE_INPUT` for bad parameters; `PLX_ERR_STATS_SECURE_SUM`
 *   when too few sites are left at some step or the sums do not add up; `PLX_ERR_ABORTED` when
 *   `signal` aborts
 */
export async function runSecureSum (i: SecureSumInput): Promise<SecureSumResult> {
  const encoding = fixedPointEncoding(i.encoding)
  const threshold = i.threshold ?? DEFAULT_THRESHOLD
  const sites = i.sites
  if (!Array.isArray(sites) || new Set(sites).size !== sites.length) throw inputError('the sites must be distinct')
  if (sites.some(s => typeof s !== 'string' || s.length < 1 || s.length > MAX_ID_LENGTH)) throw inputError(`a site id is 1 to ${MAX_ID_LENGTH} characters`)
  const config = secureSumConfig(i.session, i.length, sites.length, threshold, encoding)
  if (!(i.deadlineMs > 0) || !Number.isFinite(i.deadlineMs)) throw inputError('deadlineMs must be a positive number of milliseconds')
  if (jsonBytes(i.query) > MAX_QUERY_BYTES) throw inputError(`the query is larger than ${MAX_QUERY_BYTES} bytes as JSON`)
  const logger = i.logger ?? silentLogger()
  const session = i.session
  const server = new SecAggServer(config)
  const base = { type: SECURE_SUM_TYPE, session }
  const opened = new Set<string>()
  const keySignatures = new Map<string, string>()
  const refusals = new Map<string, PlexusError>()

  // One step: ask every site still in; hand each reply's secagg message to the server, which
  // refuses garbage (and bars the site). A site that fails to answer is not in the next step.
  const ask = async (step: Step, peers: readonly string[], build: (peer: string) => object): Promise<string[]> => {
    const answered: string[] = []
    await Promise.all(peers.map(async peer => {
      try {
        throwIfAborted(i.signal)
        let raw: Record<string, unknown>
        try {
          raw = await i.call(peer, build(peer), i.deadlineMs, i.signal)
        } catch (err) {
          // A transport that keeps the site's code may carry a refusal as an error (a site that
          // turns the analyst away before the query reaches `compute`): that is a refusal too.
          if (step === 'open' && isRefusal(err)) {
            refusals.set(peer, siteRefusal(peer, { code: err.code, message: err.message }))
            return
          }
          throw err
        }
        const parsed = Reply.safeParse(raw)
        if (!parsed.success || parsed.data.session !== session) throw messageError(`malformed reply from site '${peer}' to ${step}`)
        const reply = parsed.data
        if (reply.step === 'refused') {
          if (step !== 'open') throw messageError(`site '${peer}' refused at ${step}, which only open may do`)
          refusals.set(peer, siteRefusal(peer, reply.error))
          return
        }
        if (reply.step !== step) throw messageError(`site '${peer}' answered ${reply.step} to ${step}`)
        if (step === 'open') {
          opened.add(peer)
          if (!isAttested(reply.secagg, reply.keySignature)) throw messageError(`site '${peer}' sent keys not signed by its node key`)
          keySignatures.set(peer, reply.keySignature!)
        }
        const r = server.receive(peer, reply.secagg)
        if (!r.accepted) throw r.error
        answered.push(peer)
      } catch (err) {
        logger.warn({ session, peer, step, reason: (err as Error).message }, 'secure sum: site dropped out')
      }
    }))
    throwIfAborted(i.signal)
    return answered
  }

  try {
    await ask('open', sites, peer => ({
      ...base, step: 'open', site: peer, sites: sites.length, length: i.length, threshold, ...encoding, query: i.query
    }))
    const refused = sites.find(s => refusals.has(s))
    if (refused != null) throw refusals.get(refused)!
    const roster = server.closeAdvertise()
    const attestations = Object.fromEntries(roster.clients.map(e => [e.client, keySignatures.get(e.client)]))
    await ask('share', roster.clients.map(e => e.client), () => ({ ...base, step: 'share', secagg: roster, attestations }))
    const shares = server.closeShareKeys()
    const masked = await ask('mask', [...shares.keys()], peer => ({ ...base, step: 'mask', secagg: shares.get(peer) }))
    const request = server.closeMaskedInput()
    await ask('unmask', masked, () => ({ ...base, step: 'unmask', secagg: request }))
    const result = server.finalize()
    const q = result.quantisedSum
    const m = result.contributors.length
    // Each contributor put 0 and 1 in the first two coordinates and limbs below 2¹⁶: a sum that
    // breaks this means some masked input was not made by the protocol.
    let consistent = q[0] === 0 && q[1] === m
    for (let k = 2; k < q.length && consistent; k++) consistent = Math.abs(q[k]!) <= m * (LIMB - 1)
    if (!consistent) throw new PlexusError('PLX_ERR_STATS_SECURE_SUM', ['the masked inputs do not add up to a sum of encoded vectors (a site sent a malformed one)'])
    const { sum, exact } = decodeFixedPoint(q, i.length, encoding, 2)
    return { sum, exact, contributed: result.contributors, dropped: sites.filter(s => !result.contributors.includes(s)), encoding }
  } catch (err) {
    // Best effort: let the sites that opened forget the session now rather than at its expiry.
    await Promise.allSettled([...opened].map(async peer => await i.call(peer, { ...base, step: 'abort' }, Math.min(i.deadlineMs, ABORT_TIMEOUT_MS))))
    if (isPlexusError(err) && (err.code.startsWith('PLX_ERR_SECAGG_'))) {
      throw new PlexusError('PLX_ERR_STATS_SECURE_SUM', [err.message], { cause: err })
    }
    throw err
  }
}

/** Codes a site's refusal keeps at the analyst; others become `PLX_ERR_STATS_SECURE_SUM` (see the header). */
const REFUSAL_CODE = /^PLX_ERR_((STATS|DATASET|PRIVACY)_[A-Z_]+|INTERNAL)$/

/**
 * An error from a call to `open` that is the site saying no rather than failing: a kept code
 * with a 4xx status, other than this module's own message errors (which mean a protocol problem).
 */
function isRefusal (err: unknown): err is PlexusError {
  return isPlexusError(err) && REFUSAL_CODE.test(err.code) && err.statusCode >= 400 && err.statusCode < 500 &&
    !err.code.startsWith('PLX_ERR_STATS_SECURE_')
}

/** A site's refusal as the analyst sees it: the site's code, its message prefixed with its id. */
function siteRefusal (peer: string, e: { code: string, message: string }): PlexusError {
  const message = e.message.slice(0, MAX_ERROR_MESSAGE)
  const err = REFUSAL_CODE.test(e.code) ? plexusErrorFromWire(e.code, `Site '${peer}': ${message}`) : null
  return err ?? new PlexusError('PLX_ERR_STATS_SECURE_SUM', [`site '${peer}' refused: ${e.code.slice(0, 64)}: ${message}`])
}

// --- site ---------------------------------------------------------------------------------------

export interface SecureSumSiteInit {
  /**
   * Computes this site's vector for a query (`length` values), applying the site's disclosure
   * control. Throw a PlexusError to refuse: the analyst's whole query fails with it.
   */
  compute: (query: unknown, analyst: string) => Promise<Float64Array>
  /** The node's key: its peer id is this site's id in every session; it signs the site's keys. */
  signer: PeerSigner
  logger?: Logger
  /** Most sessions open at once (across analysts). Default 16. */
  maxSessions?: number
  /** A session is forgotten this long after it opened, in ms. Default 10 minutes. */
  sessionTtlMs?: number
  /** The clock, in ms (tests). Default `Date.now`. */
  now?: () => number
}

interface SiteSession {
  expires: number
  /** Null while `compute` runs. */
  client: SecAggClient | null
  /** The encoded vector, until it is masked. */
  vector: Float32Array | null
}

/** One node's side of secure sums: answers the messages of {@link runSecureSum}. */
export class SecureSumSite {
  readonly #compute: SecureSumSiteInit['compute']
  readonly #signer: PeerSigner
  readonly #logger: Logger
  readonly #maxSessions: number
  readonly #ttl: number
  readonly #now: () => number
  /** Keyed by analyst and session: a session exists only for the analyst that opened it. */
  readonly #sessions = new Map<string, SiteSession>()

  constructor (o: SecureSumSiteInit) {
    const maxSessions = o.maxSessions ?? DEFAULT_MAX_SESSIONS
    const ttl = o.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS
    if (!Number.isInteger(maxSessions) || maxSessions < 1) throw new PlexusError('PLX_ERR_STATS_CONFIG_INVALID', ['maxSessions must be a positive integer'])
    if (!(ttl > 0) || !Number.isFinite(ttl)) throw new PlexusError('PLX_ERR_STATS_CONFIG_INVALID', ['sessionTtlMs must be a positive number'])
    this.#compute = o.compute
    this.#signer = o.signer
    this.#logger = o.logger ?? silentLogger()
    this.#maxSessions = maxSessions
    this.#ttl = ttl
    this.#now = o.now ?? Date.now
  }

  /** Sessions open now (expired ones are dropped first). */
  get openSessions (): number {
    this.#sweep()
    return this.#sessions.size
  }

  /** True for a message meant for {@link handle} (its `type` is {@link SECURE_SUM_TYPE}). */
  isSecureSumMessage (message: unknown): boolean {
    return typeof message === 'object' && message != null && (message as { type?: unknown }).type === SECURE_SUM_TYPE
  }

  /**
   * Answers one message from `analyst` (the authenticated peer id it came from).
   *
   * @returns the reply; to `open`, a `refused` reply when `compute` throws
   * @throws PlexusError `PLX_ERR_STATS_SECURE_MESSAGE` for a malformed, out-of-order or unknown
   *   session message, `PLX_ERR_SECAGG_*` when the secagg step refuses (the session is then gone)
   */
  async handle (analyst: string, message: unknown): Promise<Record<string, unknown>> {
    this.#sweep()
    const parsed = SiteMessage.safeParse(message)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw messageError(`${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`.slice(0, 300))
    }
    const m = parsed.data
    const key = `${analyst}\n${m.session}`
    if (m.step === 'abort') {
      this.#drop(key)
      return { type: SECURE_SUM_TYPE, step: 'abort', session: m.session }
    }
    if (m.step === 'open') return await this.#open(analyst, key, m)
    const s = this.#sessions.get(key)
    if (s == null) throw messageError(`no open session '${m.session}' (expired, finished, or not opened by this analyst)`)
    if (s.client == null) throw messageError(`session '${m.session}' is still computing; ${m.step} is out of order`)
    const client = s.client
    try {
      let secagg: object
      if (m.step === 'share') {
        const forged = unattestedClient(m.secagg, m.attestations)
        if (forged != null) throw messageError(`the roster holds keys for '${forged}' that it did not sign; refusing to share`)
        secagg = client.shareKeys(m.secagg)
      }
      else if (m.step === 'mask') {
        if (s.vector == null) throw messageError('the input was already masked')
        const vector = s.vector
        s.vector = null
        try {
          secagg = client.maskedInput(vector, m.secagg)
        } finally {
          vector.fill(0)
        }
      } else {
        secagg = client.unmask(m.secagg)
        this.#sessions.delete(key)
      }
      return { type: SECURE_SUM_TYPE, step: m.step, session: m.session, secagg }
    } catch (err) {
      this.#drop(key)
      throw err
    }
  }

  async #open (analyst: string, key: string, m: z.infer<typeof OpenMessage>): Promise<Record<string, unknown>> {
    if (m.site !== this.#signer.peerId) throw messageError(`this site is ${this.#signer.peerId}, not '${m.site}'`)
    if (this.#sessions.has(key)) throw messageError(`session '${m.session}' is already open`)
    if (this.#sessions.size >= this.#maxSessions) throw messageError(`this site has ${this.#maxSessions} secure sessions open; try later`)
    let encoding: FixedPointEncoding
    let config: SecAggConfig
    try {
      encoding = fixedPointEncoding({ fractionBits: m.fractionBits, limbs: m.limbs })
      config = secureSumConfig(m.session, m.length, m.sites, m.threshold, encoding)
    } catch (err) {
      throw messageError((err as Error).message, err)
    }
    if (jsonBytes(m.query) > MAX_QUERY_BYTES) throw messageError(`the query is larger than ${MAX_QUERY_BYTES} bytes as JSON`)
    // Reserve the slot before computing, so that a repeated open is refused meanwhile.
    const s: SiteSession = { expires: this.#now() + this.#ttl, client: null, vector: null }
    this.#sessions.set(key, s)
    try {
      const values = await this.#compute(m.query, analyst)
      if (!(values instanceof Float64Array) || values.length !== m.length) {
        throw inputError(`the site computed ${values instanceof Float64Array ? values.length : 'no'} values, ${m.length} expected`)
      }
      const vector = new Float32Array(config.length)
      vector[1] = 1
      encodeFixedPoint(values, encoding, vector, 2)
      if (this.#sessions.get(key) !== s) {
        // Expired or aborted while computing.
        vector.fill(0)
        throw messageError(`session '${m.session}' ended while the site computed`)
      }
      s.client = new SecAggClient(config, this.#signer.peerId)
      s.vector = vector
      const advert = s.client.advertiseKeys()
      return { type: SECURE_SUM_TYPE, step: 'open', session: m.session, secagg: advert, keySignature: attestKeys(this.#signer, advert) }
    } catch (err) {
      if (this.#sessions.get(key) === s) this.#sessions.delete(key)
      if (isPlexusError(err, 'PLX_ERR_STATS_SECURE_MESSAGE')) throw err
      // Any failure to compute is a refusal the analyst must see (never a silent dropout).
      const error = isPlexusError(err)
        ? { code: err.code, message: err.message.slice(0, MAX_ERROR_MESSAGE) }
        : { code: 'PLX_ERR_INTERNAL', message: 'Internal error: the site could not compute the statistics' }
      if (!isPlexusError(err)) this.#logger.error({ err, session: m.session, analyst }, 'secure sum: compute failed')
      return { type: SECURE_SUM_TYPE, step: 'refused', session: m.session, error }
    }
  }

  #drop (key: string): void {
    this.#sessions.get(key)?.vector?.fill(0)
    this.#sessions.delete(key)
  }

  #sweep (): void {
    const now = this.#now()
    for (const [key, s] of this.#sessions) if (s.expires <= now) this.#drop(key)
  }
}

// --- helpers ------------------------------------------------------------------------------------

function inputError (reason: string, cause?: unknown): PlexusError {
  return new PlexusError('PLX_ERR_STATS_SECURE_INPUT', [reason], { cause })
}

function messageError (reason: string, cause?: unknown): PlexusError {
  return new PlexusError('PLX_ERR_STATS_SECURE_MESSAGE', [reason], { cause })
}

function jsonBytes (value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? 'null')
}

function throwIfAborted (signal?: AbortSignal): void {
  if (signal?.aborted === true) throw new PlexusError('PLX_ERR_ABORTED')
}
