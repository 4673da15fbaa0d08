/**
 * Signatures by libp2p peer ids. A Plexus peer id is an Ed25519 libp2p peer id, so it embeds the
 * public key that verifies what the peer signs (as `src/p2p/adverts.ts` checks adverts). Decoding a
 * peer id and building a KeyObject cost about as much as a verification, so both are cached.
 *
 * @packageDocumentation
 */
import type { KeyObject } from 'node:crypto'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { ed25519PublicKey, verifyPayloadWithKey, type Signer } from '../crypto/signing.js'

/** Distinct peers whose keys stay cached; beyond it the cache starts again (peers are few). */
const MAX_CACHED_KEYS = 4096
const keys = new Map<string, KeyObject | null>()

/** The Ed25519 key of a peer id, or null when the string is not an Ed25519 peer id. */
export function keyOfPeer (peerId: string): KeyObject | null {
  const cached = keys.get(peerId)
  if (cached !== undefined) return cached
  let key: KeyObject | null = null
  try {
    const id = peerIdFromString(peerId)
    // Only the canonical spelling: another encoding of the same key would make a second identity.
    if (id.type === 'Ed25519' && id.toString() === peerId) key = ed25519PublicKey(id.publicKey.raw)
  } catch {
    key = null
  }
  if (keys.size >= MAX_CACHED_KEYS) keys.clear()
  keys.set(peerId, key)
  return key
}

export function isEd25519PeerId (peerId: string): boolean {
  return keyOfPeer(peerId) != null
}

/** The peer id of a raw 32-byte Ed25519 public key (a node's identity). */
export function peerIdOfKey (publicKey: Uint8Array): string {
  return peerIdFromPublicKey(publicKeyFromRaw(publicKey)).toString()
}

/** Does `signature` by `peerId` cover `payload` in `domain`? Never throws. */
export function verifyByPeer (peerId: string, domain: string, payload: unknown, signature: string): boolean {
  const key = keyOfPeer(peerId)
  return key != null && verifyPayloadWithKey(key, domain, payload, signature)
}

/** A node's signer together with its peer id: what signs receipts, heads and proofs. */
export interface PeerSigner extends Signer {
  readonly peerId: string
}

export function peerSigner (identity: Signer & { publicKey: Uint8Array }): PeerSigner {
  return { peerId: peerIdOfKey(identity.publicKey), sign: data => identity.sign(data) }
}
