/**
 * Key attestation for secure aggregation among Plexus nodes. Bonawitz et al.'s protocol is secure
 * against an honest-but-curious server; an *active* server could hand a client a roster in which
 * another client's public keys are its own, and so learn that client's masks. Here every client id
 * is the client's libp2p peer id (an Ed25519 key), and each client signs its advertised keys with
 * its node key: a client checks, before it shares anything, that every key in the roster was
 * signed by the node it names. The coordinator/analyst relays the signatures; it cannot make them.
 *
 * (Sybil clients — many ids run by one party — are a separate matter: the roster is who the
 * coordinator invited, and each site's own disclosure control and the threshold still apply.)
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { signPayload } from '../../crypto/signing.js'
import { verifyByPeer, type PeerSigner } from '../../ledger/peer-keys.js'
import { MAX_ID_LENGTH } from './config.js'
import type { AdvertiseKeysMessage, RosterEntry } from './messages.js'

export const KEYS_DOMAIN = 'secagg-keys'

/** What a client signs: its keys for one session. */
function statement (session: string, entry: RosterEntry): object {
  return { session, client: entry.client, cPublicKey: entry.cPublicKey, sPublicKey: entry.sPublicKey }
}

/**
 * Signs this node's advertised keys.
 *
 * @throws TypeError when the advert is not this node's (its client id is not the signer's peer id)
 */
export function attestKeys (signer: PeerSigner, advert: AdvertiseKeysMessage): string {
  if (advert.client !== signer.peerId) throw new TypeError(`secagg client '${advert.client}' is not this node (${signer.peerId})`)
  return signPayload(signer, KEYS_DOMAIN, statement(advert.session, advert))
}

const Advert = z.object({ session: z.string().max(512), client: z.string().min(1).max(MAX_ID_LENGTH), cPublicKey: z.string().max(128), sPublicKey: z.string().max(128) })
const Signature = z.string().min(1).max(128)

/** True when `signature` is the advertising client's own signature of the keys in `advert`. Never throws. */
export function isAttested (advert: unknown, signature: unknown): boolean {
  const a = Advert.safeParse(advert)
  const s = Signature.safeParse(signature)
  return a.success && s.success && verifyByPeer(a.data.client, KEYS_DOMAIN, statement(a.data.session, a.data), s.data)
}

/** At most one signature per roster client, keyed by client id. */
export const AttestationsSchema = z.record(z.string().max(MAX_ID_LENGTH), Signature)

/**
 * The first roster client whose keys are not signed by that client, or null when all are.
 * `roster` is the secagg roster message (checked further by the secagg client itself).
 */
export function unattestedClient (roster: unknown, attestations: unknown): string | null {
  const r = z.object({ session: z.string().max(512), clients: z.array(z.unknown()).max(100_000) }).safeParse(roster)
  if (!r.success) return '(malformed roster)'
  const sigs = AttestationsSchema.safeParse(attestations)
  for (const entry of r.data.clients) {
    const e = Advert.omit({ session: true }).safeParse(entry)
    if (!e.success) return '(malformed roster entry)'
    const sig = sigs.success ? sigs.data[e.data.client] : undefined
    if (!isAttested({ ...e.data, session: r.data.session }, sig)) return e.data.client
  }
  return null
}
