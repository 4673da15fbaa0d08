import { generateKeyPairSync, createPrivateKey, createPublicKey, sign, verify, createHash, type KeyObject, type JsonWebKey } from 'node:crypto'
import { existsSync, statSync } from 'node:fs'
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import { readJsonFile, writeJsonAtomic } from './json-file.js'

/**
 * A node's long-lived Ed25519 identity. The same key later becomes the libp2p peer key and signs
 * receipts, log heads and votes. Stored as JSON with the raw 32-byte seed (base64url), mode 0600.
 */
const IdentityFileSchema = z.strictObject({
  type: z.literal('Ed25519'),
  /** Raw 32-byte private seed, base64url. */
  privateKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  /** Raw 32-byte public key, base64url. */
  publicKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  createdAt: z.string()
})

export interface NodeIdentity {
  readonly publicKey: Uint8Array
  /** Short stable id for display: first 16 hex chars of sha256(public key). */
  readonly fingerprint: string
  sign: (data: Uint8Array) => Uint8Array
  verify: (data: Uint8Array, signature: Uint8Array) => boolean
  /** Raw 32-byte seed, for handing to libp2p. Treat as secret. */
  exportSeed: () => Uint8Array
}

function fromKeyObjects (priv: KeyObject, pub: KeyObject): NodeIdentity {
  const jwkPriv = priv.export({ format: 'jwk' })
  const publicKey = new Uint8Array(Buffer.from(String(jwkPriv.x), 'base64url'))
  return {
    publicKey,
    fingerprint: createHash('sha256').update(publicKey).digest('hex').slice(0, 16),
    sign: data => new Uint8Array(sign(null, data, priv)),
    verify: (data, signature) => verify(null, data, pub, signature),
    exportSeed: () => new Uint8Array(Buffer.from(String(jwkPriv.d), 'base64url'))
  }
}

/** Creates a new identity file; refuses to overwrite an existing one. */
export function createIdentity (path: string): NodeIdentity {
  if (existsSync(path)) throw new PlexusError('PLX_ERR_IDENTITY_INVALID', [`${path} already exists`])
  // JWK straight from key generation: exporting a freshly generated KeyObject can deadlock Node 20
  // when a garbage collection runs during the export.
  // (@types/node 20 lacks the JWK overload that Node 20 supports.)
  const generate = generateKeyPairSync as unknown as (type: 'ed25519', options: object) => { privateKey: JsonWebKey }
  const { privateKey: jwk } = generate('ed25519', { privateKeyEncoding: { format: 'jwk' }, publicKeyEncoding: { format: 'jwk' } })
  writeJsonAtomic(path, { type: 'Ed25519', privateKey: jwk.d, publicKey: jwk.x, createdAt: new Date().toISOString() }, 0o600)
  const priv = createPrivateKey({ key: jwk, format: 'jwk' })
  return fromKeyObjects(priv, createPublicKey(priv))
}

/** Loads the identity, checking that the file is private to its owner and self-consistent. */
export function loadIdentity (path: string): NodeIdentity {
  let file
  try {
    file = readJsonFile(path, IdentityFileSchema, null as never)
  } catch (err) {
    throw new PlexusError('PLX_ERR_IDENTITY_INVALID', [(err as Error).message], { cause: err })
  }
  if (file == null) throw new PlexusError('PLX_ERR_IDENTITY_INVALID', [`${path} does not exist; run \`plexus init\``])
  if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0) {
    throw new PlexusError('PLX_ERR_IDENTITY_INVALID', [`${path} is readable by other users; run \`chmod 600 ${path}\``])
  }
  const priv = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: file.privateKey, x: file.publicKey }, format: 'jwk' })
  const pub = createPublicKey(priv)
  const id = fromKeyObjects(priv, pub)
  if (Buffer.from(id.publicKey).toString('base64url') !== file.publicKey) {
    throw new PlexusError('PLX_ERR_IDENTITY_INVALID', [`${path}: public key does not match private key`])
  }
  return id
}

export function loadOrCreateIdentity (path: string): { identity: NodeIdentity, created: boolean } {
  if (existsSync(path)) return { identity: loadIdentity(path), created: false }
  return { identity: createIdentity(path), created: true }
}
