/**
 * The text form of a libp2p peer id as Plexus schemas accept it: base58btc, the length of an
 * Ed25519 or RSA identity.
 *
 * @packageDocumentation
 */
import { z } from 'zod'

export const PeerIdSchema = z.string().regex(/^[1-9A-HJ-NP-Za-km-z]{46,60}$/, 'a base58 libp2p peer id')
