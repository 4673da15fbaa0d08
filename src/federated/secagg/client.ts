/**
 * One client's side of one secure aggregation: call `advertiseKeys`, `shareKeys`, `maskedInput`
 * and `unmask` in that order, each with the coordinator's previous broadcast. A client answers each
 * step at most once; any refusal leaves it unusable (it has dropped out of the round).
 *
 * @packageDocumentation
 */
import { randomBytes, type KeyObject } from 'node:crypto'
import { PlexusError } from '../../errors.js'
import { MAX_ID_LENGTH, resolveConfig, type ResolvedConfig, type SecAggConfig } from './config.js'
import {
  describeIssue, fromBase64url, messageSchemas, toBase64url, unpackBase64url, CIPHERTEXT_BYTES, COMMITMENT_PAIR_BYTES,
  type AdvertiseKeysMessage, type EncryptedSharesMessage, type MaskedInputMessage, type ShareKeysMessage, type UnmaskSharesMessage
} from './messages.js'
import {
  agree, commitSeed, commitShare, deriveKey, generateX25519, open, publicKeyFromRaw, seal,
  selfMaskKey, KEY_BYTES, SHARE_COMMITMENT_BYTES, type X25519KeyPair
} from './primitives.js'
import { quantize } from './quantize.js'
import { RosterView } from './roster.js'
import { decodeShare, encodeShare, splitSecret, SHARE_BYTES } from './shamir.js'
import { WordVector } from './words.js'

type ClientPhase = 'new' | 'advertised' | 'shared' | 'masked' | 'done' | 'failed'

/** A share pair (of b_v and of s_v^SK) this client holds for some client v. */
interface HeldShares {
  seed: Uint8Array
  key: Uint8Array
}

export class SecAggClient {
  readonly id: string
  readonly config: ResolvedConfig
  readonly #schemas: ReturnType<typeof messageSchemas>
  #phase: ClientPhase = 'new'
  #c: X25519KeyPair | null = null
  #s: X25519KeyPair | null = null
  #roster: RosterView | null = null
  /** The self-mask seed b_u. */
  #seed: Uint8Array | null = null
  /** Share keys (from the c-key agreement) with each neighbour. */
  readonly #shareKeys = new Map<string, Buffer>()
  /** Shares held for each client of this client's view of U2 (itself included). */
  readonly #held = new Map<string, HeldShares>()

  /**
   * @param config - the aggregation's parameters, identical at every party
   * @param id - this client's id as the coordinator knows it (e.g. its peer id)
   */
  constructor (config: SecAggConfig, id: string) {
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH) {
      throw new PlexusError('PLX_ERR_SECAGG_CONFIG', [`a client id is 1 to ${MAX_ID_LENGTH} characters`])
    }
    this.id = id
    this.config = resolveConfig(config)
    this.#schemas = messageSchemas(this.config)
  }

  /** Where this client is in the protocol. */
  get phase (): ClientPhase {
    return this.#phase
  }

  /** Round 0: two fresh X25519 key pairs, c (encrypting shares) and s (mask agreement). */
  advertiseKeys (): AdvertiseKeysMessage {
    this.#expect('new', 'advertiseKeys')
    this.#c = generateX25519()
    this.#s = generateX25519()
    this.#phase = 'advertised'
    return {
      type: 'secagg/advertise-keys',
      session: this.config.session,
      client: this.id,
      cPublicKey: toBase64url(this.#c.publicKey),
      sPublicKey: toBase64url(this.#s.publicKey)
    }
  }

  /**
   * Round 1: checks the roster, picks the self-mask seed b_u, splits b_u and s_u^SK into shares
   * for its neighbours and itself, and encrypts each neighbour's pair of shares for it.
   *
   * @throws PlexusError `PLX_ERR_SECAGG_MESSAGE` for a roster that is malformed, unsorted, too
   *   small or large, lacks this client or changed its keys, or repeats a key
   */
  shareKeys (rosterMessage: unknown): ShareKeysMessage {
    this.#expect('advertised', 'shareKeys')
    return this.#guard(() => {
      const parsed = this.#schemas.roster.safeParse(rosterMessage)
      if (!parsed.success) throw this.#refuse(`roster: ${describeIssue(parsed.error)}`)
      const entries = parsed.data.clients
      const n = entries.length
      if (n < this.config.minClients || n > this.config.maxClients) {
        throw this.#refuse(`roster has ${n} clients, outside ${this.config.minClients}..${this.config.maxClients}`)
      }
      for (let i = 1; i < n; i++) {
        if (!(entries[i - 1]!.client < entries[i]!.client)) throw this.#refuse('roster is not sorted by client id without repeats')
      }
      const keys = new Set(entries.flatMap(e => [e.cPublicKey, e.sPublicKey]))
      if (keys.size !== 2 * n) throw this.#refuse('roster repeats a public key')
      const me = entries.find(e => e.client === this.id)
      if (me == null) throw this.#refuse('roster does not include this client')
      if (me.cPublicKey !== toBase64url(this.#c!.publicKey) || me.sPublicKey !== toBase64url(this.#s!.publicKey)) {
        throw this.#refuse('roster carries other public keys for this client')
      }
      const roster = new RosterView(this.config, entries)
      this.#roster = roster

      const holders = roster.holders(this.id)
      const xs = holders.map(h => roster.indexOf(h) + 1)
      const t = roster.shareThreshold(this.id)
      const seed = new Uint8Array(randomBytes(32))
      this.#seed = seed
      const seedShares = splitSecret(seed, t, xs).map(encodeShare)
      const keyShares = splitSecret(this.#s!.privateRaw, t, xs).map(encodeShare)

      const session = this.config.session
      const commitments = Buffer.alloc(holders.length * COMMITMENT_PAIR_BYTES)
      const ciphertexts: Uint8Array[] = []
      holders.forEach((holder, i) => {
        commitments.set(commitShare(session, this.id, holder, 'b', seedShares[i]!), i * COMMITMENT_PAIR_BYTES)
        commitments.set(commitShare(session, this.id, holder, 's', keyShares[i]!), i * COMMITMENT_PAIR_BYTES + SHARE_COMMITMENT_BYTES)
        if (holder === this.id) {
          this.#held.set(this.id, { seed: seedShares[i]!, key: keyShares[i]! })
          return
        }
        const peer = roster.entries[roster.indexOf(holder)]!
        const key = deriveKey(this.#agree(this.#c!.privateKey, peer.cPublicKey, holder), session, 'share', this.id, holder)
        this.#shareKeys.set(holder, key)
        const plaintext = new Uint8Array(2 * SHARE_BYTES)
        plaintext.set(seedShares[i]!, 0)
        plaintext.set(keyShares[i]!, SHARE_BYTES)
        ciphertexts.push(seal(key, plaintext, session, this.id, holder))
      })
      this.#phase = 'shared'
      return {
        type: 'secagg/share-keys',
        session,
        client: this.id,
        seedDigest: toBase64url(commitSeed(session, this.id, seed)),
        commitments: toBase64url(commitments),
        ciphertexts: toBase64url(Buffer.concat(ciphertexts))
      }
    })
  }

  /**
   * Round 2: decrypts the shares addressed to this client (their senders are its view of U2) and
   * returns y_u = x_u + PRG(b_u) + Σ_{v<u} PRG(s_uv) − Σ_{v>u} PRG(s_uv) mod 2³², v over its
   * neighbours in U2. The quantised input x_u never leaves this method.
   *
   * @param vector - the client's input, `config.length` coordinates (extras last)
   * @param encryptedShares - the coordinator's `secagg/encrypted-shares` message for this client
   * @throws PlexusError `PLX_ERR_SECAGG_INPUT` for a wrong-length or non-finite vector (the client
   *   may try again), `PLX_ERR_SECAGG_SHARE` naming a sender whose ciphertext does not decrypt,
   *   `PLX_ERR_SECAGG_MESSAGE` for a malformed message, `PLX_ERR_SECAGG_ABORTED` when too few of
   *   its share holders are left
   */
  maskedInput (vector: Float32Array, encryptedShares: unknown): MaskedInputMessage {
    this.#expect('shared', 'maskedInput')
    const y = new WordVector(this.config.length)
    quantize(vector, this.config, y.words)
    return this.#guard(() => {
      const roster = this.#roster!
      const parsed = this.#schemas.encryptedShares.safeParse(encryptedShares)
      if (!parsed.success) throw this.#refuse(`encrypted shares: ${describeIssue(parsed.error)}`)
      const m: EncryptedSharesMessage = parsed.data
      if (m.client !== this.id) throw this.#refuse(`encrypted shares are addressed to '${m.client}'`)
      const session = this.config.session
      const sealed = unpackBase64url(m.ciphertexts, m.from.length, CIPHERTEXT_BYTES)
      if (sealed == null) throw this.#refuse(`encrypted shares: ${m.from.length} senders but not as many ciphertexts`)
      m.from.forEach((from, i) => {
        if (!roster.isNeighbour(from, this.id)) throw this.#refuse(`encrypted share from '${from}', who is not a neighbour`)
        if (this.#held.has(from)) throw this.#refuse(`two encrypted shares from '${from}'`)
        const plain = open(this.#shareKeys.get(from)!, sealed[i]!, session, from, this.id)
        if (plain == null) throw new PlexusError('PLX_ERR_SECAGG_SHARE', [from, 'its encrypted share does not decrypt (altered, or not made for this client)'])
        const seedShare = plain.subarray(0, SHARE_BYTES)
        const keyShare = plain.subarray(SHARE_BYTES)
        if (decodeShare(seedShare) == null || decodeShare(keyShare) == null) throw new PlexusError('PLX_ERR_SECAGG_SHARE', [from, 'its share is not a field element'])
        this.#held.set(from, { seed: seedShare, key: keyShare })
      })
      const t = roster.shareThreshold(this.id)
      if (this.#held.size < t) {
        throw new PlexusError('PLX_ERR_SECAGG_ABORTED', [`only ${this.#held.size - 1} of the neighbours of '${this.id}' shared keys; ${t - 1} needed`])
      }

      y.applyMask(selfMaskKey(this.#seed!, session, this.id), 1)
      for (const v of this.#held.keys()) {
        if (v === this.id) continue
        const peer = roster.entries[roster.indexOf(v)]!
        const key = deriveKey(this.#agree(this.#s!.privateKey, peer.sPublicKey, v), session, 'mask', this.id, v)
        y.applyMask(key, roster.maskSign(this.id, v))
      }
      this.#phase = 'masked'
      return { type: 'secagg/masked-input', session, client: this.id, vector: toBase64url(y.bytes) }
    })
  }

  /**
   * Round 3: for each survivor v it holds shares of (itself included), its share of b_v; for each
   * neighbour v that dropped after sharing keys, its share of s_v^SK. Never both for one client,
   * and only once: that is what keeps every individual input hidden.
   *
   * @param request - the coordinator's `secagg/unmask-request` (survivors U3, dropped U2 \ U3), or
   *   the survivors' ids, with the dropped ids as the second argument
   * @throws PlexusError `PLX_ERR_SECAGG_MESSAGE` for a request that is malformed, does not list this
   *   client as a survivor, lists a client in both sets or contradicts what this client saw in
   *   round 1; `PLX_ERR_SECAGG_ABORTED` for fewer survivors than the threshold, or survivors whose
   *   masking graph is not connected (the coordinator would learn partial sums)
   */
  unmask (request: unknown, dropped?: readonly string[]): UnmaskSharesMessage {
    this.#expect('masked', 'unmask')
    if (Array.isArray(request) && dropped != null) {
      request = { type: 'secagg/unmask-request', session: this.config.session, survivors: request, dropped }
    }
    return this.#guard(() => {
      const roster = this.#roster!
      const parsed = this.#schemas.unmaskRequest.safeParse(request)
      if (!parsed.success) throw this.#refuse(`unmask request: ${describeIssue(parsed.error)}`)
      const survivors = new Set(parsed.data.survivors)
      const dropped = new Set(parsed.data.dropped)
      if (survivors.size !== parsed.data.survivors.length || dropped.size !== parsed.data.dropped.length) throw this.#refuse('unmask request repeats a client')
      for (const id of [...survivors, ...dropped]) {
        if (!roster.has(id)) throw this.#refuse(`unmask request names '${id}', who is not in the roster`)
        if (survivors.has(id) && dropped.has(id)) throw this.#refuse(`unmask request lists '${id}' as both survivor and dropped`)
      }
      if (!survivors.has(this.id)) throw this.#refuse('unmask request does not list this client as a survivor')
      // What this client saw in round 1 must agree: its neighbours in U2 are exactly the ones listed.
      for (const v of roster.neighbours(this.id)) {
        const listed = survivors.has(v) || dropped.has(v)
        if (listed !== this.#held.has(v)) {
          throw this.#refuse(listed ? `'${v}' is listed but sent this client no shares` : `'${v}' sent this client shares but is not listed`)
        }
      }
      const needed = roster.survivorThreshold
      if (survivors.size < needed) throw new PlexusError('PLX_ERR_SECAGG_ABORTED', [`${survivors.size} survivors, ${needed} needed`])
      if (!roster.connected(survivors)) throw new PlexusError('PLX_ERR_SECAGG_ABORTED', ['the survivors\' masking graph is not connected'])

      // In roster order, as the coordinator expects them.
      const seedShares: Uint8Array[] = []
      const keyShares: Uint8Array[] = []
      for (const v of roster.holders(this.id)) {
        const held = this.#held.get(v)
        if (held == null) continue
        if (survivors.has(v)) seedShares.push(held.seed)
        else keyShares.push(held.key)
      }
      const message: UnmaskSharesMessage = {
        type: 'secagg/unmask-shares',
        session: this.config.session,
        client: this.id,
        seedShares: toBase64url(Buffer.concat(seedShares)),
        keyShares: toBase64url(Buffer.concat(keyShares))
      }
      this.#forget()
      this.#phase = 'done'
      return message
    })
  }

  #agree (privateKey: KeyObject, publicKey: string, peer: string): Buffer {
    try {
      return agree(privateKey, publicKeyFromRaw(fromBase64url(publicKey, KEY_BYTES)!))
    } catch (err) {
      throw new PlexusError('PLX_ERR_SECAGG_MESSAGE', [peer, 'its public key is unusable for key agreement'], { cause: err })
    }
  }

  #expect (phase: ClientPhase, step: string): void {
    if (this.#phase !== phase) throw new PlexusError('PLX_ERR_SECAGG_STATE', [`client '${this.id}' cannot run ${step} in phase '${this.#phase}'`])
  }

  #refuse (reason: string): PlexusError {
    return new PlexusError('PLX_ERR_SECAGG_MESSAGE', ['coordinator', reason])
  }

  /** Runs a step; any error leaves the client failed, with its secrets forgotten. */
  #guard<T> (step: () => T): T {
    try {
      return step()
    } catch (err) {
      this.#phase = 'failed'
      this.#forget()
      throw err
    }
  }

  #forget (): void {
    this.#seed?.fill(0)
    this.#seed = null
    for (const h of this.#held.values()) { h.seed.fill(0); h.key.fill(0) }
    this.#held.clear()
    for (const k of this.#shareKeys.values()) k.fill(0)
    this.#shareKeys.clear()
    this.#c = null
    this.#s?.privateRaw.fill(0)
    this.#s = null
  }
}
