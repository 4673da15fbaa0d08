/**
 * Secure aggregation after Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving
 * Machine Learning" (CCS 2017): the coordinator learns the sum of the clients' vectors and nothing
 * about any single one, even when clients drop out mid-round. Pure and transport-agnostic: the
 * networked coordinator and participants move these messages over `/plexus/fl/1.0.0`.
 *
 * ## Protocol (rounds 0–3)
 *
 * 0. **AdvertiseKeys** — each client u makes two X25519 key pairs: c_u (encrypting shares) and s_u
 *    (agreeing masks). The coordinator broadcasts the roster U1, sorted by client id; a client's
 *    index in it is its Shamir x coordinate − 1 and orders the pairwise masks.
 * 1. **ShareKeys** — u picks a self-mask seed b_u, splits b_u and s_u^SK t-of-h over GF(2²⁵⁶+297)
 *    among its holders (its neighbours and itself; h = |U1| in the complete graph), and encrypts
 *    each neighbour's two shares with AES-256-GCM under HKDF-SHA256(c-key agreement), the session
 *    and both ids authenticated. It also gives the coordinator SHA-256 commitments to b_u and to
 *    every share. The coordinator forwards the ciphertexts it cannot read; U2 = who sent them.
 * 2. **MaskedInput** — u quantises its vector x_u into integers mod 2³² and sends
 *    y_u = x_u + PRG(b_u) + Σ_{v<u} PRG(s_uv) − Σ_{v>u} PRG(s_uv), v over its neighbours in U2,
 *    s_uv = HKDF(s-key agreement), PRG = AES-256-CTR keystream as uint32 words. U3 = who sent.
 * 3. **Unmasking** — each survivor sends its share of b_v for every v ∈ U3 and of s_v^SK for every
 *    v ∈ U2 \ U3 it holds shares of, never both for one client and only once. The coordinator
 *    reconstructs the seeds and the dropped clients' mask keys, checks each against its commitment
 *    (b_u's digest; s_v^SK must give the advertised s_v^PK; a share that does not match its
 *    commitment names its holder, who is left out), removes the self-masks and the dropped
 *    clients' pairwise masks from Σ y_u, and is left with Σ_{u∈U3} x_u mod 2³², which it
 *    dequantises. Pairwise masks between survivors cancel in the sum.
 *
 * The round aborts cleanly (`PLX_ERR_SECAGG_ABORTED`) when fewer than t clients share keys, send
 * masked inputs or answer the unmask request, t = max(⌊n/2⌋+1, ⌈threshold·n⌉), n = |U1|
 * (threshold 2/3 by default: up to a third of the clients may drop out, at any steps).
 *
 * ## Threat model and what the coordinator learns
 *
 * Secure against an honest-but-curious coordinator colluding with fewer than t clients: it learns
 * Σ_{u∈U3} x_u, the sets U1 ⊇ U2 ⊇ U3, message sizes and timing, and nothing else about any input
 * (each x_u is hidden by PRG(b_u) until the pairwise masks have cancelled in the sum, and it never
 * gets both b_u and s_u^SK). `SecAggServer` only ever receives masked vectors, which it adds into a
 * single running sum as they arrive; no method takes an individual input.
 *
 * Partly secure against an *active* coordinator: this is the variant without Bonawitz's
 * consistency-check round. Honest clients answer one unmask request, reveal one kind of share per
 * client, and t is a strict majority of holders, so telling different clients different survivor
 * sets gains nothing. The coordinator relays the roster, so this module alone cannot stop it from
 * substituting keys of its own (a man in the middle): `attest.ts` binds each advertised key to the
 * client's node key (the client id is its libp2p peer id), and Plexus's federated rounds and secure
 * sums check every roster key against it before sharing anything. Clients can make the round fail (garbage masked inputs, inconsistent shares — the
 * latter is detected and the dealer named) but not learn others' inputs.
 *
 * ## Parameters ({@link SecAggConfig})
 *
 * - `session`: unique per aggregation (e.g. job/round); binds every key, ciphertext and mask.
 * - `length`, `extras`: vector length; the last `extras` coordinates are exact integers (e.g. the
 *   example count: Σ n_u next to Σ n_u·Δ_u gives a weighted mean).
 * - `clipRange` R, `bits` b, `maxClients` N: values are clipped to [−R, R] and quantised with step
 *   Δ = R/(2^(b−1)−1); b defaults to the largest with N·(2^(b−1)−1) ≤ 2³¹−1 (25 bits for N = 100),
 *   so no sum overflows. A sum of m inputs is exact in the integer domain and within m·Δ/2 of the
 *   sum of the clipped inputs.
 * - `threshold`, `minClients`: as above.
 * - `neighbours`: `'complete'` (default) or k. With k, the pairwise masks and shares follow a
 *   random graph of minimum degree k (the union of random Hamiltonian cycles seeded by a hash of
 *   the roster), after Bell et al., "Secure single-server aggregation with (poly)logarithmic
 *   overhead" (CCS 2020): each client does O(k) key agreements and mask expansions instead of
 *   O(n). Security then rests on the graph: the coordinator learns the sum of each connected
 *   component of the survivors' subgraph, so clients refuse to unmask (and the coordinator
 *   aborts) unless it is connected; a client's secrets are reconstructed from t = max(⌊h/2⌋+1,
 *   ⌈threshold·h⌉) of its h = deg+1 holders, so a collusion must hold t of one client's holders
 *   rather than t clients overall — for a random graph with a fraction γ < threshold of corrupt
 *   clients this fails with probability exponentially small in k, but k must be large (tens) at
 *   small n, and with dropout close to 1 − threshold some client will fall below its holder
 *   threshold by chance. Use it for large rounds with modest dropout; the complete graph is the
 *   protocol of Bonawitz et al. with the guarantees above.
 *
 * ## Messages and cost
 *
 * Messages are plain JSON objects (bytes as base64url), validated with zod and bounded in size;
 * `maxClientMessageBytes(config)` bounds every client message for the transport. Per-holder data
 * (ciphertexts, commitments, revealed shares) is packed in roster order rather than keyed by id.
 * Per client, the protocol costs 2·deg X25519 agreements, a Shamir split of two secrets, and
 * deg + 1 mask expansions of the vector (AES-256-CTR, added with WebAssembly SIMD, words.ts);
 * the coordinator expands one self-mask per survivor plus deg masks per client that dropped after
 * sharing keys. On the wire the masked vector is as large as a float32 vector; the rest is O(n·deg)
 * small items (~2.5 MB for 100 clients on the complete graph, next to 53 MB of vectors).
 * `runSecAggRound` runs a whole aggregation in-process (tests, benchmarks, simulation);
 * `npm run bench -- secagg` compares it with plain aggregation.
 *
 * @packageDocumentation
 */
export { resolveConfig, shareThreshold, defaultBits, MAX_CLIENTS, MAX_ID_LENGTH, MAX_LENGTH, type SecAggConfig, type ResolvedConfig } from './config.js'
export { quantize, dequantize } from './quantize.js'
export { SecAggClient } from './client.js'
export { attestKeys, isAttested, unattestedClient, AttestationsSchema, KEYS_DOMAIN } from './attest.js'
export { SecAggServer, type ReceiveResult, type Rejection, type SecAggResult, type ServerPhase } from './server.js'
export {
  maxClientMessageBytes, toBase64url, fromBase64url,
  type AdvertiseKeysMessage, type RosterMessage, type RosterEntry, type ShareKeysMessage,
  type EncryptedSharesMessage, type MaskedInputMessage, type UnmaskRequestMessage, type UnmaskSharesMessage, type ClientMessage
} from './messages.js'
export {
  runSecAggRound, simulationTime, totalBytes, cpuClock, SIMULATION_STEPS,
  type DropoutSchedule, type SimulationOptions, type SimulationReport, type SimulationStep, type StepCost
} from './simulate.js'
