/**
 * The keyring: a small JSON file beside a cabinet (`<dir>/<name>.keyring.json`, mode 0600, written
 * atomically) that holds the cabinet's data key wrapped under a passphrase-derived key. It holds
 * only the format version, the KDF name, parameters and salt, the wrapped key (nonce, ciphertext,
 * tag) and two dates: never the data key, the passphrase or anything from the documents.
 *
 * @packageDocumentation
 */

import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import { writeJsonAtomic } from '../node/json-file.js'
import { DATA_KEY_BYTES, DEFAULT_SCRYPT, GCM_NONCE_BYTES, GCM_TAG_BYTES, KDF_SALT_BYTES, KEYRING_AAD, MAX_PASSPHRASE_CHARS, MIN_PASSPHRASE_CHARS, type ScryptParams } from './constants.js'
import { KeyUnwrapError, deriveKek, generateDataKey, scryptParamsProblem, unwrapKey, wrapKey, zeroize } from './crypto.js'

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64')

const KeyringSchema = z.object({
  version: z.literal(1),
  kdf: z.object({
    name: z.literal('scrypt'),
    N: z.number().int(),
    r: z.number().int(),
    p: z.number().int(),
    salt: base64
  }),
  wrappedKey: z.object({
    cipher: z.literal('aes-256-gcm'),
    nonce: base64,
    ciphertext: base64,
    tag: base64
  }),
  createdAt: z.string(),
  changedAt: z.string()
})

/** The keyring file's content. */
export type KeyringFile = z.output<typeof KeyringSchema>

/** Options for writing a keyring. */
export interface KeyringWriteOptions {
  /** scrypt parameters for the new wrap; {@link DEFAULT_SCRYPT} when absent. Tests pass cheap ones. */
  kdf?: ScryptParams
  /** Clock, for tests. */
  now?: () => Date
}

/** Throws PLX_ERR_BAD_REQUEST (param `passphrase`) when a new passphrase is too short or too long. */
export function checkNewPassphrase (passphrase: string): void {
  const length = [...passphrase].length
  if (length < MIN_PASSPHRASE_CHARS || length > MAX_PASSPHRASE_CHARS) {
    throw new PlexusError('PLX_ERR_BAD_REQUEST', [`The passphrase must be ${MIN_PASSPHRASE_CHARS} to ${MAX_PASSPHRASE_CHARS} characters long`], { param: 'passphrase' })
  }
}

/**
 * Reads and validates a keyring. `label` (the cabinet name) is only used in error messages.
 * Throws PLX_ERR_CABINET_KEYRING when the file is missing, unreadable, malformed, or asks for scrypt
 * parameters outside the accepted bounds.
 */
export function readKeyring (path: string, label: string): KeyringFile {
  if (!existsSync(path)) throw new PlexusError('PLX_ERR_CABINET_KEYRING', [label, `${path} does not exist`])
  let parsed: KeyringFile
  try {
    parsed = KeyringSchema.parse(JSON.parse(readFileSync(path, 'utf8')))
  } catch (err) {
    throw new PlexusError('PLX_ERR_CABINET_KEYRING', [label, `${path} is not a valid keyring`], { cause: err })
  }
  const problem = scryptParamsProblem(parsed.kdf) ?? shapeProblem(parsed)
  if (problem != null) throw new PlexusError('PLX_ERR_CABINET_KEYRING', [label, problem])
  return parsed
}

function shapeProblem (keyring: KeyringFile): string | null {
  const bytes = (b64: string): number => Buffer.from(b64, 'base64').length
  if (bytes(keyring.kdf.salt) < KDF_SALT_BYTES) return 'the scrypt salt is too short'
  const { nonce, ciphertext, tag } = keyring.wrappedKey
  if (bytes(nonce) !== GCM_NONCE_BYTES || bytes(ciphertext) !== DATA_KEY_BYTES || bytes(tag) !== GCM_TAG_BYTES) return 'the wrapped key has the wrong length'
  return null
}

/**
 * Creates a keyring at `path` holding a new random data key wrapped under `passphrase`, and returns
 * the data key (the caller zeroes it when done). Overwrites nothing it was not asked to: the caller
 * checks that the cabinet does not exist.
 */
export async function createKeyring (path: string, passphrase: string, options: KeyringWriteOptions = {}): Promise<Buffer> {
  checkNewPassphrase(passphrase)
  const dataKey = generateDataKey()
  const now = (options.now ?? (() => new Date()))().toISOString()
  try {
    writeJsonAtomic(path, await wrapToFile(dataKey, passphrase, options.kdf ?? DEFAULT_SCRYPT, now, now))
    return dataKey
  } catch (err) {
    zeroize(dataKey)
    throw err
  }
}

/**
 * Unwraps and returns the data key of a keyring (the caller zeroes it when done). A wrong
 * passphrase fails AES-GCM authentication: PLX_ERR_CABINET_PASSPHRASE.
 */
export async function unlockKeyring (path: string, passphrase: string, label: string): Promise<Buffer> {
  const keyring = readKeyring(path, label)
  return await unwrapFromFile(keyring, passphrase, label)
}

/**
 * Re-wraps the same data key under a new passphrase (new salt, new nonce, optionally new scrypt
 * parameters) and replaces the keyring atomically. The cabinet file is not touched: its data stays
 * encrypted with the same data key. Afterwards the old passphrase no longer unlocks the cabinet.
 */
export async function changeKeyringPassphrase (path: string, oldPassphrase: string, newPassphrase: string, label: string, options: KeyringWriteOptions = {}): Promise<void> {
  checkNewPassphrase(newPassphrase)
  const keyring = readKeyring(path, label)
  const dataKey = await unwrapFromFile(keyring, oldPassphrase, label)
  try {
    const now = (options.now ?? (() => new Date()))().toISOString()
    writeJsonAtomic(path, await wrapToFile(dataKey, newPassphrase, options.kdf ?? DEFAULT_SCRYPT, keyring.createdAt, now))
  } finally {
    zeroize(dataKey)
  }
}

async function wrapToFile (dataKey: Buffer, passphrase: string, params: ScryptParams, createdAt: string, changedAt: string): Promise<KeyringFile> {
  const problem = scryptParamsProblem(params)
  if (problem != null) throw new PlexusError('PLX_ERR_BAD_REQUEST', [problem], { param: 'kdf' })
  const salt = randomBytes(KDF_SALT_BYTES)
  const kek = await deriveKek(passphrase, salt, params)
  try {
    const wrapped = wrapKey(dataKey, kek, KEYRING_AAD)
    return {
      version: 1,
      kdf: { name: 'scrypt', N: params.N, r: params.r, p: params.p, salt: salt.toString('base64') },
      wrappedKey: {
        cipher: 'aes-256-gcm',
        nonce: wrapped.nonce.toString('base64'),
        ciphertext: wrapped.ciphertext.toString('base64'),
        tag: wrapped.tag.toString('base64')
      },
      createdAt,
      changedAt
    }
  } finally {
    zeroize(kek)
  }
}

async function unwrapFromFile (keyring: KeyringFile, passphrase: string, label: string): Promise<Buffer> {
  const kek = await deriveKek(passphrase, Buffer.from(keyring.kdf.salt, 'base64'), keyring.kdf)
  try {
    return unwrapKey({
      nonce: Buffer.from(keyring.wrappedKey.nonce, 'base64'),
      ciphertext: Buffer.from(keyring.wrappedKey.ciphertext, 'base64'),
      tag: Buffer.from(keyring.wrappedKey.tag, 'base64')
    }, kek, KEYRING_AAD)
  } catch (err) {
    // GCM cannot tell a wrong passphrase from a tampered keyring; the passphrase is by far the likelier.
    if (err instanceof KeyUnwrapError) throw new PlexusError('PLX_ERR_CABINET_PASSPHRASE', [label], { cause: err })
    throw err
  } finally {
    zeroize(kek)
  }
}
