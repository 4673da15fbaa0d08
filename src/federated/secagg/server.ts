/**
 * The coordinator's side of one secure aggregation. It only ever receives public keys, ciphertexts
 * it cannot open, commitments, masked vectors and the shares that unmask the *sum*: each masked
 * vector is added into one running sum as it arrives and is not kept, and no method takes or
 * returns an individual input. See index.ts for the protocol and what the coordinator learns.
 *
 * Feed it every client message with {@link SecAggServer.receive} (it never throws for a client's
 * garbage: the message is refused, the client left out) and close each round when its messages are
 * in or its deadline passed.
 *
 * @packageDocumentation
 */
import type { KeyObject } from 'node:crypto'
import type { z } from 'zod'
import { PlexusError, isPlexusError } from '../../errors.js'
import { resolveConfig, type ResolvedConfig, type SecAggConfig } from './config.js'
import {
  describeIssue, fromBase64url, messageSchemas, toBase64url, unpackBase64url, CIPHERTEXT_BYTES, COMMITMENT_PAIR_BYTES,
  type EncryptedSharesMessage, type RosterEntry, type RosterMessage, type UnmaskRequestMessage
} from './messages.js'
import {
  agree, commitSeed, commitShare, deriveKey, generateX25519, privateKeyFromRaw, publicKeyFromRaw, publicKeyOf,
  sameBytes, selfMaskKey, KEY_BYTES, SHARE_COMMITMENT_BYTES
} from './primitives.js'
import { dequantize } from './quantize.js'
import { RosterView } from './roster.js'
import { combineShares, decodeShare, SHARE_BYTES, type Share } from './shamir.js'
import { WordVector } from './words.js'

export type ServerPhase = 'advertise' | 'share' | 'mask' | 'unmask' | 'done' | 'aborted'

export type ReceiveResult = { accepted: true } | { accepted: false, error: PlexusError }

/** A client left out of the round because of what it sent, and why. */
export interface Rejection {
  client: string
  phase: ServerPhase
  error: PlexusError
}

export interface SecAggResult {
  /** Σ x_u over the contributors, dequantised (extras: exact integer sums). */
  sum: Float32Array
  /** Σ of the quantised inputs as signed integers: exact. */
  quantisedSum: Int32Array
  /** U3: the clients whose inputs are in the sum, in roster order. */
  contributors: string[]
  /** Clients of the roster (U1) whose inputs are not in the sum. */
  dropped: string[]
  /** Clients whose messages were refused. */
  rejected: Rejection[]
}

/** What the coordinator keeps of a client's round-1 message. */
interface Dealt {
  /** Commitment to b_u, base64url as received. */
  seedDigest: string
  /** Commitments to each holder's two shares (16 + 16 bytes), in the order of the holders. */
  commitments: Uint8Array[]
  /** Ciphertexts for each neighbour (94 bytes), in the order of the neighbours. */
  ciphertexts: Uint8Array[]
}

/**
 * Shares one survivor revealed in round 3, by owner (33 bytes each, decoded into field elements
 * only when used).
 */
interface Revealed {
  seed: Map<string, Uint8Array>
  key: Map<string, Uint8Array>
}

export class SecAggServer {
  readonly config: ResolvedConfig
  readonly #schemas: ReturnType<typeof messageSchemas>
  #phase: ServerPhase = 'advertise'
  readonly #rejected: Rejection[] = []
  /** A throwaway key to check that advertised public keys are usable. */
  readonly #probe = generateX25519().privateKey
  readonly #adverts = new Map<string, RosterEntry>()
  readonly #advertisedKeys = new Set<string>()
  #roster: RosterView | null = null
  readonly #dealt = new Map<string, Dealt>()
  #u2 = new Set<string>()
  /** Σ y_u over U3 so far, mod 2³². The only place masked vectors go. */
  #sum: WordVector | null = null
  readonly #u3 = new Set<string>()
  #dropped: string[] = []
  readonly #revealed = new Map<string, Revealed>()
  /** Clients refused in the current round before any message of theirs was accepted in it. */
  readonly #barred = new Set<string>()

  constructor (config: SecAggConfig) {
    this.config = resolveConfig(config)
    this.#schemas = messageSchemas(this.config)
  }

  get phase (): ServerPhase {
    return this.#phase
  }

  /** Clients refused so far, with the reason (the first 4·maxClients + 100 refusals). */
  get rejected (): readonly Rejection[] {
    return this.#rejected
  }

  /**
   * Takes one client message for the current round. Never throws for what a client sent: a
   * malformed, oversized, duplicated, out-of-phase or inconsistent message is refused, the error
   * (naming the client) returned and recorded, and the client left out from then on.
   *
   * @param from - the authenticated sender (e.g. the peer id the message came from); it must be
   *   the message's `client`
   * @param message - the parsed JSON, as received
   */
  receive (from: string, message: unknown): ReceiveResult {
    try {
      switch (this.#phase) {
        case 'advertise': this.#receiveAdvertisement(from, message); break
        case 'share': this.#receiveShareKeys(from, message); break
        case 'mask': this.#receiveMaskedInput(from, message); break
        case 'unmask': this.#receiveUnmaskShares(from, message); break
        default: throw this.#refuse(from, `the round is ${this.#phase}`)
      }
      return { accepted: true }
    } catch (err) {
      const client = String(from).slice(0, 200)
      const error = isPlexusError(err) ? err : new PlexusError('PLX_ERR_SECAGG_MESSAGE', [client, (err as Error).message], { cause: err })
      // Bounded, so that a client repeating garbage cannot grow it without end.
      if (this.#rejected.length < 4 * this.config.maxClients + 100) this.#rejected.push({ client, phase: this.#phase, error })
      if (!this.#acceptedThisRound(client)) this.#barred.add(client)
      return { accepted: false, error }
    }
  }

  /**
   * Ends round 0: U1 is everyone whose keys arrived. Returns the roster to send to each of them.
   *
   * @throws PlexusError `PLX_ERR_SECAGG_ABORTED` below `minClients`
   */
  closeAdvertise (): RosterMessage {
    this.#expect('advertise', 'closeAdvertise')
    const entries = [...this.#adverts.values()].sort((a, b) => a.client < b.client ? -1 : a.client > b.client ? 1 : 0)
    if (entries.length < this.config.minClients) this.#abort(`${entries.length} clients advertised keys, ${this.config.minClients} needed`)
    this.#roster = new RosterView(this.config, entries)
    this.#barred.clear()
    this.#phase = 'share'
    return { type: 'secagg/roster', session: this.config.session, clients: entries }
  }

  /**
   * Ends round 1: U2 is everyone whose shares arrived, less clients too few of whose share holders
   * are in U2 to ever reconstruct their secrets. Returns, for each client of U2, the ciphertexts
   * addressed to it by other clients of U2.
   *
   * @throws PlexusError `PLX_ERR_SECAGG_ABORTED` when U2 is below the threshold
   */
  closeShareKeys (): Map<string, EncryptedSharesMessage> {
    this.#expect('share', 'closeShareKeys')
    const roster = this.#roster!
    const u2 = new Set(this.#dealt.keys())
    // Drop clients whose secrets could not be reconstructed, until none is left to drop.
    for (let changed = true; changed;) {
      changed = false
      for (const u of u2) {
        const holders = 1 + roster.neighbours(u).filter(v => u2.has(v)).length
        if (holders < roster.shareThreshold(u)) { u2.delete(u); changed = true }
      }
    }
    if (u2.size < roster.survivorThreshold) this.#abort(`${u2.size} clients shared keys, ${roster.survivorThreshold} needed`)
    this.#u2 = u2
    const out = new Map<string, EncryptedSharesMessage>()
    for (const u of roster.ids) {
      if (!u2.has(u)) continue
      const from = roster.neighbours(u).filter(v => u2.has(v))
      const sealed = from.map(v => this.#dealt.get(v)!.ciphertexts[roster.neighbourPosition(v, u)]!)
      out.set(u, { type: 'secagg/encrypted-shares', session: this.config.session, client: u, from, ciphertexts: toBase64url(Buffer.concat(sealed)) })
    }
    for (const dealt of this.#dealt.values()) dealt.ciphertexts = []
    this.#sum = new WordVector(this.config.length, true)
    this.#barred.clear()
    this.#phase = 'mask'
    return out
  }

  /**
   * Ends round 2: U3 is everyone whose masked input arrived. Returns the unmask request to send to
   * each of them.
   *
   * @throws PlexusError `PLX_ERR_SECAGG_ABORTED` when U3 is below the threshold, its masking graph
   *   is not connected, or some secret that must be reconstructed has too few holders in U3
   */
  closeMaskedInput (): UnmaskRequestMessage {
    this.#expect('mask', 'closeMaskedInput')
    const roster = this.#roster!
    const survivors = roster.ids.filter(id => this.#u3.has(id))
    const dropped = roster.ids.filter(id => this.#u2.has(id) && !this.#u3.has(id))
    if (survivors.length < roster.survivorThreshold) this.#abort(`${survivors.length} clients sent masked inputs, ${roster.survivorThreshold} needed`)
    if (!roster.connected(survivors)) this.#abort('the survivors\' masking graph is not connected')
    for (const u of [...survivors, ...dropped]) {
      const holders = (this.#u3.has(u) ? 1 : 0) + roster.neighbours(u).filter(v => this.#u3.has(v)).length
      if (holders < roster.shareThreshold(u)) this.#abort(`only ${holders} holders of the shares of '${u}' are left, ${roster.shareThreshold(u)} needed`)
    }
    this.#dropped = dropped
    this.#barred.clear()
    this.#phase = 'unmask'
    return { type: 'secagg/unmask-request', session: this.config.session, survivors, dropped }
  }

  /**
   * Ends round 3: reconstructs the self-mask seed of every survivor and the mask key of every
   * client that dropped after sharing keys, checks each against its commitment (a holder whose
   * share does not match its commitment is named and left out), removes those masks from the sum
   * and dequantises it.
   *
   * @throws PlexusError `PLX_ERR_SECAGG_ABORTED` when some secret cannot be reconstructed (too few
   *   honest holders answered, or its dealer handed out inconsistent shares)
   */
  finalize (): SecAggResult {
    this.#expect('unmask', 'finalize')
    const roster = this.#roster!
    const sum = this.#sum!
    const session = this.config.session
    const survivors = roster.ids.filter(id => this.#u3.has(id))
    if (this.#revealed.size < roster.survivorThreshold) this.#abort(`${this.#revealed.size} survivors sent their shares, ${roster.survivorThreshold} needed`)

    for (const u of survivors) {
      const dealt = this.#dealt.get(u)!
      const seed = this.#reconstruct(u, 'b', s => toBase64url(commitSeed(session, u, s)) === dealt.seedDigest)
      sum.applyMask(selfMaskKey(seed, session, u), -1)
    }
    const publicKeys = new Map<string, KeyObject>()
    const sPublic = (id: string): KeyObject => {
      let k = publicKeys.get(id)
      if (k == null) {
        k = publicKeyFromRaw(fromBase64url(roster.entries[roster.indexOf(id)]!.sPublicKey, KEY_BYTES)!)
        publicKeys.set(id, k)
      }
      return k
    }
    for (const v of this.#dropped) {
      const advertised = fromBase64url(roster.entries[roster.indexOf(v)]!.sPublicKey, KEY_BYTES)!
      const raw = this.#reconstruct(v, 's', s => {
        try {
          return sameBytes(publicKeyOf(privateKeyFromRaw(s, advertised)), advertised)
        } catch {
          return false
        }
      })
      const privateKey = privateKeyFromRaw(raw, advertised)
      for (const w of roster.neighbours(v)) {
        if (!this.#u3.has(w)) continue
        // w's masked input carries sign(w, v)·PRG(s_wv); take it out.
        const key = deriveKey(agree(privateKey, sPublic(w)), session, 'mask', v, w)
        sum.applyMask(key, roster.maskSign(w, v) === 1 ? -1 : 1)
      }
    }
    const quantisedSum = new Int32Array(sum.words.slice().buffer)
    this.#phase = 'done'
    this.#sum = null
    return {
      sum: dequantize(quantisedSum, this.config),
      quantisedSum,
      contributors: survivors,
      dropped: roster.ids.filter(id => !this.#u3.has(id)),
      rejected: [...this.#rejected]
    }
  }

  // --- round handlers -------------------------------------------------------------------------

  #receiveAdvertisement (from: string, message: unknown): void {
    const m = this.#parse(from, this.#schemas.advertiseKeys, message)
    if (this.#adverts.has(from)) throw this.#refuse(from, 'keys already advertised')
    if (this.#adverts.size >= this.config.maxClients) throw this.#refuse(from, `the round is full (${this.config.maxClients} clients)`)
    if (m.cPublicKey === m.sPublicKey || this.#advertisedKeys.has(m.cPublicKey) || this.#advertisedKeys.has(m.sPublicKey)) {
      throw this.#refuse(from, 'a public key is repeated')
    }
    for (const key of [m.cPublicKey, m.sPublicKey]) {
      const raw = fromBase64url(key, KEY_BYTES)
      try {
        agree(this.#probe, publicKeyFromRaw(raw!))
      } catch {
        throw this.#refuse(from, 'a public key is unusable for key agreement (small order)')
      }
    }
    this.#adverts.set(from, { client: m.client, cPublicKey: m.cPublicKey, sPublicKey: m.sPublicKey })
    this.#advertisedKeys.add(m.cPublicKey).add(m.sPublicKey)
  }

  #receiveShareKeys (from: string, message: unknown): void {
    const m = this.#parse(from, this.#schemas.shareKeys, message)
    const roster = this.#roster!
    if (!roster.has(from)) throw this.#refuse(from, 'not in the roster')
    if (this.#dealt.has(from)) throw this.#refuse(from, 'shares already sent')
    const holders = roster.holders(from).length
    // zod checked the alphabet and a bound; the exact sizes depend on the roster.
    const commitments = unpackBase64url(m.commitments, holders, COMMITMENT_PAIR_BYTES)
    if (commitments == null) throw this.#refuse(from, `commitments are not ${holders} × ${COMMITMENT_PAIR_BYTES} bytes`)
    const ciphertexts = unpackBase64url(m.ciphertexts, holders - 1, CIPHERTEXT_BYTES)
    if (ciphertexts == null) throw this.#refuse(from, `ciphertexts are not ${holders - 1} × ${CIPHERTEXT_BYTES} bytes`)
    this.#dealt.set(from, { seedDigest: m.seedDigest, commitments, ciphertexts })
  }

  #receiveMaskedInput (from: string, message: unknown): void {
    const m = this.#parse(from, this.#schemas.maskedInput, message)
    if (!this.#u2.has(from)) throw this.#refuse(from, 'not in U2 (it did not share keys in time)')
    if (this.#u3.has(from)) throw this.#refuse(from, 'masked input already sent')
    if (!this.#sum!.addEncoded(m.vector)) throw this.#refuse(from, `the vector is not ${this.config.length} uint32 values in base64url`)
    this.#u3.add(from)
  }

  #receiveUnmaskShares (from: string, message: unknown): void {
    const m = this.#parse(from, this.#schemas.unmaskShares, message)
    const roster = this.#roster!
    if (!this.#u3.has(from)) throw this.#refuse(from, 'not a survivor')
    if (this.#revealed.has(from)) throw this.#refuse(from, 'shares already sent')
    // The clients whose shares it holds, in roster order: seed shares of survivors, key shares of the dropped.
    const holdsFor = roster.holders(from)
    const seedOf = holdsFor.filter(v => this.#u3.has(v))
    const keyOf = holdsFor.filter(v => v !== from && this.#u2.has(v) && !this.#u3.has(v))
    const seed = unpackBase64url(m.seedShares, seedOf.length, SHARE_BYTES)
    if (seed == null) throw this.#refuse(from, `seed shares are not ${seedOf.length} × ${SHARE_BYTES} bytes`)
    const key = unpackBase64url(m.keyShares, keyOf.length, SHARE_BYTES)
    if (key == null) throw this.#refuse(from, `key shares are not ${keyOf.length} × ${SHARE_BYTES} bytes`)
    this.#revealed.set(from, {
      seed: new Map(seedOf.map((v, i) => [v, seed[i]!])),
      key: new Map(keyOf.map((v, i) => [v, key[i]!]))
    })
  }

  // --- reconstruction -------------------------------------------------------------------------

  /**
   * Reconstructs `owner`'s seed (`b`) or mask key (`s`) from the first t revealed shares, in roster
   * order so that the Lagrange coefficients are shared between owners. If the result fails
   * `check`, every revealed share is checked against the dealer's commitment; holders caught lying
   * are left out (all their shares) and named, and the reconstruction is tried again.
   */
  #reconstruct (owner: string, kind: 'b' | 's', check: (secret: Uint8Array) => boolean): Uint8Array {
    const roster = this.#roster!
    const field = kind === 'b' ? 'seed' : 'key'
    const t = roster.shareThreshold(owner)
    const holders = (): string[] => roster.holders(owner).filter(h => this.#revealed.get(h)?.[field].has(owner) === true)
    /** A revealed share as a field element; null when it is none (then its holder lied). */
    const value = (h: string): bigint | null => decodeShare(this.#revealed.get(h)![field].get(owner)!)
    const attempt = (): Uint8Array | null => {
      const use = holders().slice(0, t)
      if (use.length < t) this.#abort(`only ${use.length} shares of the ${kind === 'b' ? 'seed' : 'mask key'} of '${owner}' arrived, ${t} needed`)
      const shares: Share[] = []
      for (const h of use) {
        const y = value(h)
        if (y == null) return null
        shares.push({ x: roster.indexOf(h) + 1, y })
      }
      try {
        const secret = combineShares(shares, owner)
        return check(secret) ? secret : null
      } catch {
        return null
      }
    }
    const first = attempt()
    if (first != null) return first
    const commitments = this.#dealt.get(owner)!.commitments
    let liars = 0
    for (const h of holders()) {
      const share = this.#revealed.get(h)![field].get(owner)!
      const pair = commitments[roster.holderPosition(owner, h)]!
      const expected = kind === 'b' ? pair.subarray(0, SHARE_COMMITMENT_BYTES) : pair.subarray(SHARE_COMMITMENT_BYTES)
      if (value(h) == null || !sameBytes(commitShare(this.config.session, owner, h, kind, share), expected)) {
        this.#revealed.delete(h)
        this.#rejected.push({ client: h, phase: 'unmask', error: new PlexusError('PLX_ERR_SECAGG_SHARE', [h, `its share of the secrets of '${owner}' does not match the dealer's commitment`]) })
        liars++
      }
    }
    const second = liars > 0 ? attempt() : null
    if (second != null) return second
    this.#abort(`the shares of '${owner}' do not reconstruct the secret it committed to (it dealt inconsistent shares)`)
  }

  // --- helpers --------------------------------------------------------------------------------

  #parse<T extends { client: string }> (from: string, schema: z.ZodType<T>, message: unknown): T {
    if (this.#barred.has(from)) throw this.#refuse(from, `an earlier message of this round was refused`)
    const parsed = schema.safeParse(message)
    if (!parsed.success) throw this.#refuse(from, describeIssue(parsed.error))
    if (parsed.data.client !== from) throw this.#refuse(from, `it claims to come from '${parsed.data.client}'`)
    return parsed.data
  }

  #acceptedThisRound (client: string): boolean {
    switch (this.#phase) {
      case 'advertise': return this.#adverts.has(client)
      case 'share': return this.#dealt.has(client)
      case 'mask': return this.#u3.has(client)
      case 'unmask': return this.#revealed.has(client)
      default: return true
    }
  }

  #refuse (from: string, reason: string): PlexusError {
    return new PlexusError('PLX_ERR_SECAGG_MESSAGE', [String(from).slice(0, 200), reason])
  }

  #expect (phase: ServerPhase, step: string): void {
    if (this.#phase !== phase) throw new PlexusError('PLX_ERR_SECAGG_STATE', [`the coordinator cannot ${step} in phase '${this.#phase}'`])
  }

  #abort (reason: string): never {
    this.#phase = 'aborted'
    this.#sum = null
    throw new PlexusError('PLX_ERR_SECAGG_ABORTED', [reason])
  }
}
